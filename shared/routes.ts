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
  /**
   * `webhook`: authenticated by the provider's own mechanism (or, for one-click unsubscribe, by a signed
   * token in the path); `staff`: JWT; `dev`: local stack only, never deployed.
   */
  readonly auth: 'webhook' | 'staff' | 'dev';
  /** Staff roles allowed (admin always passes). Documentation and the CDK authorizer read it. */
  readonly roles?: readonly ('agent' | 'editor' | 'approver' | 'admin')[];
  /** The handler's budget, in the cloud (Lambda timeout) and locally (the gateway's 503): {@link routeTimeoutSeconds}. */
  readonly timeoutSeconds?: number;
};

/**
 * Provider webhooks must answer fast (Twilio waits 15 s at most) and defer slow work to SQS; staff reads
 * and writes are single-item work. API Gateway HTTP APIs stop waiting at 30 s, so no route may take longer.
 */
export const DEFAULT_ROUTE_TIMEOUT_SECONDS = 10;
/** API Gateway HTTP APIs answer 503 after 30 s; a Lambda timeout just under it lets the Lambda's own end show. */
export const MAX_ROUTE_TIMEOUT_SECONDS = 29;

/** A route's handler budget: its `timeoutSeconds`, else {@link DEFAULT_ROUTE_TIMEOUT_SECONDS}. */
export function routeTimeoutSeconds(route: Pick<HttpRoute, 'timeoutSeconds'>): number {
  return route.timeoutSeconds ?? DEFAULT_ROUTE_TIMEOUT_SECONDS;
}

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
  // A link that joins two customers merges them inside the request, moving the absorbed thread: a long
  // one needs more than the webhooks' 10 s (the delayed sweep finishes what a timeout leaves).
  { name: 'ChatWebhook', method: 'POST', path: '/webhooks/chat', entry: 'functions/http/chat-inbound.ts', auth: 'webhook', timeoutSeconds: MAX_ROUTE_TIMEOUT_SECONDS },
  { name: 'GetCustomer', method: 'GET', path: '/customers', entry: 'functions/http/get-customer.ts', auth: 'staff', roles: ['agent'] },
  { name: 'GetConversation', method: 'GET', path: '/conversations/{conversationId}', entry: 'functions/http/get-conversation.ts', auth: 'staff', roles: ['agent'] },
  {
    name: 'ListMessages',
    method: 'GET',
    path: '/conversations/{conversationId}/messages',
    entry: 'functions/http/list-messages.ts',
    auth: 'staff',
    roles: ['agent'],
  },
  // Outbound: templates, four-eyes approval, sending, consent, broadcasts (issue 3).
  { name: 'TwilioStatusWebhook', method: 'POST', path: '/webhooks/twilio/status', entry: 'functions/http/twilio-status.ts', auth: 'webhook' },
  { name: 'SendgridEventsWebhook', method: 'POST', path: '/webhooks/sendgrid/events', entry: 'functions/http/sendgrid-events.ts', auth: 'webhook' },
  { name: 'EmailUnsubscribe', method: 'POST', path: '/unsubscribe/{token}', entry: 'functions/http/email-unsubscribe.ts', auth: 'webhook' },
  // The same link opened in a browser: a page whose one button makes the POST above (a GET never unsubscribes).
  { name: 'EmailUnsubscribePage', method: 'GET', path: '/unsubscribe/{token}', entry: 'functions/http/email-unsubscribe-page.ts', auth: 'webhook' },
  { name: 'CreateTemplate', method: 'POST', path: '/templates', entry: 'functions/http/create-template.ts', auth: 'staff', roles: ['editor'] },
  { name: 'GetTemplate', method: 'GET', path: '/templates/{templateId}', entry: 'functions/http/get-template.ts', auth: 'staff', roles: ['editor', 'approver', 'agent'] },
  {
    name: 'CreateTemplateVersion',
    method: 'POST',
    path: '/templates/{templateId}/versions',
    entry: 'functions/http/create-template-version.ts',
    auth: 'staff',
    roles: ['editor'],
  },
  {
    name: 'SubmitTemplateVersion',
    method: 'POST',
    path: '/templates/{templateId}/versions/{version}/submit',
    entry: 'functions/http/submit-template-version.ts',
    auth: 'staff',
    roles: ['editor'],
  },
  {
    name: 'ApproveTemplateVersion',
    method: 'POST',
    path: '/templates/{templateId}/versions/{version}/approve',
    entry: 'functions/http/approve-template-version.ts',
    auth: 'staff',
    roles: ['approver'],
  },
  {
    name: 'RejectTemplateVersion',
    method: 'POST',
    path: '/templates/{templateId}/versions/{version}/reject',
    entry: 'functions/http/reject-template-version.ts',
    auth: 'staff',
    roles: ['approver'],
  },
  {
    name: 'RevokeTemplateVersion',
    method: 'POST',
    path: '/templates/{templateId}/versions/{version}/revoke',
    entry: 'functions/http/revoke-template-version.ts',
    auth: 'staff',
    roles: ['approver'],
  },
  {
    name: 'PreviewTemplateVersion',
    method: 'POST',
    path: '/templates/{templateId}/versions/{version}/preview',
    entry: 'functions/http/preview-template-version.ts',
    auth: 'staff',
    roles: ['editor', 'approver', 'agent'],
  },
  {
    name: 'GetTemplateAudit',
    method: 'GET',
    path: '/templates/{templateId}/audit',
    entry: 'functions/http/get-template-audit.ts',
    auth: 'staff',
    roles: ['editor', 'approver'],
  },
  { name: 'ListApprovals', method: 'GET', path: '/approvals', entry: 'functions/http/list-approvals.ts', auth: 'staff', roles: ['approver'] },
  {
    name: 'SendMessage',
    method: 'POST',
    path: '/conversations/{conversationId}/messages',
    entry: 'functions/http/send-message.ts',
    auth: 'staff',
    roles: ['agent'],
  },
  {
    name: 'GetCustomerConsent',
    method: 'GET',
    path: '/customers/{customerId}/consent',
    entry: 'functions/http/get-customer-consent.ts',
    auth: 'staff',
    roles: ['agent'],
  },
  // Queues one send per customer inside the request: API Gateway's limit is its budget.
  { name: 'CreateBroadcast', method: 'POST', path: '/broadcasts', entry: 'functions/http/create-broadcast.ts', auth: 'staff', roles: ['agent'], timeoutSeconds: MAX_ROUTE_TIMEOUT_SECONDS },
  { name: 'DevOutbox', method: 'GET', path: '/dev/outbox', entry: 'functions/http/dev-outbox.ts', auth: 'dev' },
];

export type QueueConsumer = {
  readonly name: string;
  /** Queue logical name; the local stack names the SQS queue after it. */
  readonly queue: string;
  readonly entry: string;
  readonly batchSize: number;
  /**
   * FIFO queue (physical name `<queue>.fifo`, DLQ `<queue>-dlq.fifo`): messages of one group are
   * delivered in order, one batch at a time. Handlers read its URL from `<QUEUE>_QUEUE_URL`.
   */
  readonly fifo?: boolean;
  /** Receives before a job moves to the DLQ (default 5). */
  readonly maxReceiveCount?: number;
  /** The consumer's Lambda timeout: {@link consumerTimeoutSeconds}. The queue's visibility timeout is six times it. */
  readonly timeoutSeconds?: number;
};

export const DEFAULT_CONSUMER_TIMEOUT_SECONDS = 60;

/** A consumer's budget per batch: its `timeoutSeconds`, else {@link DEFAULT_CONSUMER_TIMEOUT_SECONDS}. */
export function consumerTimeoutSeconds(consumer: Pick<QueueConsumer, 'timeoutSeconds'>): number {
  return consumer.timeoutSeconds ?? DEFAULT_CONSUMER_TIMEOUT_SECONDS;
}

export const queueConsumers: readonly QueueConsumer[] = [
  { name: 'InboundWorkConsumer', queue: 'inbound-work', entry: 'functions/sqs/inbound-work.ts', batchSize: 10 },
  // Grouped by template: keeps the pending-approval list that GET /approvals reads. A failed record
  // hands back the rest of its template's group untried, each hand-back counting a receive, so the DLQ
  // threshold is set for hours of a store outage (50 × the 6-minute visibility), not 30 minutes.
  { name: 'TemplateApprovalsConsumer', queue: 'template-approvals', entry: 'functions/sqs/template-approvals.ts', batchSize: 10, fifo: true, maxReceiveCount: 50 },
  // Grouped by conversation: a customer's messages leave in the order they were queued. A job is received
  // again each time an earlier message of its conversation is retried (it waits, untried), so the DLQ
  // threshold is far above the 5 tries a message gets (MAX_SEND_ATTEMPTS, counted on the message).
  { name: 'OutboundSender', queue: 'outbound', entry: 'functions/sqs/send-outbound.ts', batchSize: 10, fifo: true, maxReceiveCount: 50 },
];
