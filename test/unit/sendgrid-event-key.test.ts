import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { verifiedSendgridEvents } from '#shared/channels/sendgrid/event-webhook.ts';
import { ConfigError, SignatureError } from '#shared/errors.ts';
import { signSendgridEvent } from '#test/helpers/sendgrid.ts';

const saved = process.env.SENDGRID_EVENT_PUBLIC_KEY;
afterAll(() => {
  if (saved === undefined) delete process.env.SENDGRID_EVENT_PUBLIC_KEY;
  else process.env.SENDGRID_EVENT_PUBLIC_KEY = saved;
});

const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const publicDerBase64 = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

function signedEvent(body: string, pem = privatePem): APIGatewayProxyEventV2 {
  const timestamp = String(Math.floor(Date.now() / 1000));
  return {
    version: '2.0',
    routeKey: 'POST /webhooks/sendgrid/events',
    rawPath: '/webhooks/sendgrid/events',
    rawQueryString: '',
    headers: {
      'content-type': 'application/json',
      'x-twilio-email-event-webhook-signature': signSendgridEvent(pem, timestamp, body),
      'x-twilio-email-event-webhook-timestamp': timestamp,
    },
    requestContext: {} as APIGatewayProxyEventV2['requestContext'],
    body,
    isBase64Encoded: false,
  };
}

describe('the SendGrid Event Webhook verification key (SENDGRID_EVENT_PUBLIC_KEY)', () => {
  const body = JSON.stringify([{ event: 'delivered', email: 'someone@example.com', timestamp: 1 }]);

  it('is a settings fault (ConfigError: a 5xx the handler logs, SendGrid retries) while it holds the stack’s random placeholder, not a key', async () => {
    process.env.SENDGRID_EVENT_PUBLIC_KEY = randomBytes(36).toString('base64');
    await expect(verifiedSendgridEvents(signedEvent(body))).rejects.toBeInstanceOf(ConfigError);
    await expect(verifiedSendgridEvents(signedEvent(body))).rejects.toThrow(/SENDGRID_EVENT_PUBLIC_KEY/);
  });

  it('verifies signed events once the real key is stored, and refuses a forged signature (403)', async () => {
    process.env.SENDGRID_EVENT_PUBLIC_KEY = publicDerBase64;
    await expect(verifiedSendgridEvents(signedEvent(body))).resolves.toHaveLength(1);
    const forger = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await expect(verifiedSendgridEvents(signedEvent(body, forger))).rejects.toBeInstanceOf(SignatureError);
  });
});
