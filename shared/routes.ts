/**
 * The one list of HTTP routes and queue consumers. The CDK stack and the local gateway both read it, so
 * the deployed API and `npm start` cannot drift apart.
 *
 * @example
 * ```ts
 * import { httpRoutes } from '#shared/routes.ts';
 * for (const r of httpRoutes) console.log(r.method, r.path, r.entry);
 * ```
 */
export type HttpRoute = {
  /** Logical name, used for the Lambda function id and the OpenAPI operationId. */
  readonly name: string;
  readonly method: 'GET' | 'POST';
  /** API Gateway route path, with `{param}` placeholders. */
  readonly path: string;
  /** Handler module, relative to the project root; it exports `handler`. */
  readonly entry: string;
  /** `webhook`: provider-authenticated; `staff`: JWT; `dev`: local stack only, never deployed. */
  readonly auth: 'webhook' | 'staff' | 'dev';
};

export const httpRoutes: readonly HttpRoute[] = [
  { name: 'TwilioSmsWebhook', method: 'POST', path: '/webhooks/twilio/sms', entry: 'functions/http/twilio-sms.ts', auth: 'webhook' },
  { name: 'TwilioVoiceWebhook', method: 'POST', path: '/webhooks/twilio/voice', entry: 'functions/http/twilio-voice.ts', auth: 'webhook' },
  {
    name: 'TwilioTranscriptionWebhook',
    method: 'POST',
    path: '/webhooks/twilio/voice/transcription',
    entry: 'functions/http/twilio-voice-transcription.ts',
    auth: 'webhook',
  },
  { name: 'SendgridInboundWebhook', method: 'POST', path: '/webhooks/sendgrid/inbound', entry: 'functions/http/sendgrid-inbound.ts', auth: 'webhook' },
  { name: 'ChatWebhook', method: 'POST', path: '/webhooks/chat', entry: 'functions/http/chat-inbound.ts', auth: 'webhook' },
  { name: 'GetCustomer', method: 'GET', path: '/customers', entry: 'functions/http/get-customer.ts', auth: 'staff' },
  { name: 'GetConversation', method: 'GET', path: '/conversations/{conversationId}', entry: 'functions/http/get-conversation.ts', auth: 'staff' },
  {
    name: 'ListMessages',
    method: 'GET',
    path: '/conversations/{conversationId}/messages',
    entry: 'functions/http/list-messages.ts',
    auth: 'staff',
  },
];

export type QueueConsumer = {
  readonly name: string;
  /** Queue logical name; the local stack names the SQS queue after it. */
  readonly queue: string;
  readonly entry: string;
  readonly batchSize: number;
};

export const queueConsumers: readonly QueueConsumer[] = [
  { name: 'InboundWorkConsumer', queue: 'inbound-work', entry: 'functions/sqs/inbound-work.ts', batchSize: 10 },
];
