import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { basicAuth, signChat, signTwilio } from '#test/helpers/index.ts';
import { signSendgridEvent } from '#test/helpers/sendgrid.ts';
import { buildMultipart, sampleEmail, SENDGRID_CONTENT_TYPE } from './email/sendgrid-multipart.ts';

const eventKeys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

// A store that does not answer: DynamoDB "down" is a closed port, reached through the real SDK client.
const env: Record<string, string> = {
  SENDGRID_EVENT_PUBLIC_KEY: eventKeys.publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  TABLE_NAME: 'unreachable',
  DYNAMODB_ENDPOINT: 'http://127.0.0.1:9',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
  PUBLIC_BASE_URL: 'https://support.example.com',
  TWILIO_AUTH_TOKEN: 'store-failure-token',
  CHAT_WEBHOOK_SECRET: 'store-failure-secret',
  SENDGRID_INBOUND_SECRET: 'store-failure-inbound',
  ATTACHMENTS_DIR: mkdtempSync(join(tmpdir(), 'omni-store-failure-')),
  INBOUND_WORK_QUEUE_URL: 'http://127.0.0.1:9/000000000000/inbound-work',
};
const saved = new Map<string, string | undefined>();
const context = { getRemainingTimeInMillis: () => 10_000, functionName: 'test', awsRequestId: 'req' } as unknown as Context;

function event(path: string, body: string, headers: Record<string, string>): APIGatewayProxyEventV2 {
  return {
    version: '2.0',
    routeKey: `POST ${path}`,
    rawPath: path,
    rawQueryString: '',
    headers,
    body,
    isBase64Encoded: false,
    requestContext: { http: { method: 'POST', path } } as APIGatewayProxyEventV2['requestContext'],
  };
}

describe('a store failure answers 5xx so the provider retries, without details', () => {
  beforeAll(() => {
    for (const [k, v] of Object.entries(env)) {
      saved.set(k, process.env[k]);
      process.env[k] = v;
    }
  });
  afterAll(() => {
    for (const [k, v] of saved) if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  });

  it('Twilio SMS → 500 with a generic error body', async () => {
    const { handler } = await import('#functions/http/twilio-sms.ts');
    const params = { MessageSid: `SM${'a'.repeat(32)}`, From: '+16285550123', To: '+16285550000', Body: 'hello', NumMedia: '0' };
    const signature = signTwilio(`${env.PUBLIC_BASE_URL}/webhooks/twilio/sms`, params, env.TWILIO_AUTH_TOKEN!);
    const res = (await handler(
      event('/webhooks/twilio/sms', new URLSearchParams(params).toString(), { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }),
      context,
    )) as APIGatewayProxyStructuredResultV2;
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(res.body!)).toEqual({ error: { code: 'internal_error', message: 'Internal error; please retry' } });
    expect(res.body).not.toContain('127.0.0.1');
  });

  it('chat → 500', async () => {
    const { handler } = await import('#functions/http/chat-inbound.ts');
    const body = JSON.stringify({ messageId: 'm1', userId: 'u1', text: 'hi', sentAt: new Date().toISOString() });
    const ts = String(Math.floor(Date.now() / 1000));
    const res = (await handler(
      event('/webhooks/chat', body, { 'content-type': 'application/json', 'x-chat-timestamp': ts, 'x-chat-signature': signChat(env.CHAT_WEBHOOK_SECRET!, ts, body) }),
      context,
    )) as APIGatewayProxyStructuredResultV2;
    expect(res.statusCode).toBe(500);
  });

  it('Twilio voice transcription → 500', async () => {
    const { handler } = await import('#functions/http/twilio-voice-transcription.ts');
    const params = {
      CallSid: `CA${'b'.repeat(32)}`,
      RecordingSid: `RE${'c'.repeat(32)}`,
      TranscriptionSid: `TR${'d'.repeat(32)}`,
      TranscriptionText: 'Please call me back about my card.',
      TranscriptionStatus: 'completed',
      From: '+16285550123',
      To: '+16285550000',
    };
    const path = '/webhooks/twilio/voice/transcription';
    const signature = signTwilio(`${env.PUBLIC_BASE_URL}${path}`, params, env.TWILIO_AUTH_TOKEN!);
    const res = (await handler(event(path, new URLSearchParams(params).toString(), { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }), context)) as APIGatewayProxyStructuredResultV2;
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(res.body!)).toEqual({ error: { code: 'internal_error', message: 'Internal error; please retry' } });
  });

  it('Twilio status callback → 500', async () => {
    const { handler } = await import('#functions/http/twilio-status.ts');
    const path = '/webhooks/twilio/status';
    const query = `conversationId=conv_${'e'.repeat(32)}&messageId=msg_${'f'.repeat(32)}`;
    const params = { MessageSid: `SM${'e'.repeat(32)}`, MessageStatus: 'delivered', AccountSid: `AC${'1'.repeat(32)}` };
    const signature = signTwilio(`${env.PUBLIC_BASE_URL}${path}?${query}`, params, env.TWILIO_AUTH_TOKEN!);
    const res = (await handler(
      {
        ...event(path, new URLSearchParams(params).toString(), { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature }),
        rawQueryString: query,
        queryStringParameters: Object.fromEntries(new URLSearchParams(query)),
      },
      context,
    )) as APIGatewayProxyStructuredResultV2;
    expect(res.statusCode).toBe(500);
    expect(JSON.parse(res.body!)).toEqual({ error: { code: 'internal_error', message: 'Internal error; please retry' } });
  });

  it('SendGrid Event Webhook → 500', async () => {
    const { handler } = await import('#functions/http/sendgrid-events.ts');
    const body = JSON.stringify([{ event: 'delivered', email: 'someone@example.com', timestamp: 1, sg_event_id: 'e1', messageId: `msg_${'f'.repeat(32)}`, conversationId: `conv_${'e'.repeat(32)}` }]);
    const ts = String(Math.floor(Date.now() / 1000));
    const pem = eventKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const res = (await handler(
      event('/webhooks/sendgrid/events', body, {
        'content-type': 'application/json',
        'x-twilio-email-event-webhook-signature': signSendgridEvent(pem, ts, body),
        'x-twilio-email-event-webhook-timestamp': ts,
      }),
      context,
    )) as APIGatewayProxyStructuredResultV2;
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('127.0.0.1');
  });

  it('SendGrid Inbound Parse → 500', async () => {
    const { handler } = await import('#functions/http/sendgrid-inbound.ts');
    const { body } = buildMultipart({ fields: sampleEmail() });
    const res = (await handler(
      { ...event('/webhooks/sendgrid/inbound', body.toString('base64'), { 'content-type': SENDGRID_CONTENT_TYPE, authorization: basicAuth('inbound', env.SENDGRID_INBOUND_SECRET!) }), isBase64Encoded: true },
      context,
    )) as APIGatewayProxyStructuredResultV2;
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('127.0.0.1');
  });
});
