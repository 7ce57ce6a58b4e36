import { sign } from 'node:crypto';

/**
 * `X-Twilio-Email-Event-Webhook-Signature` for a SendGrid Event Webhook payload: base64 DER ECDSA
 * (P-256, SHA-256) over `timestamp + payload`, as SendGrid signs them.
 *
 * @example
 * ```ts
 * const sig = signSendgridEvent(inject('sendgridEventPrivateKeyPem'), ts, JSON.stringify(events));
 * ```
 */
export function signSendgridEvent(privateKeyPem: string, timestamp: number | string, payload: string | Buffer): string {
  return sign('sha256', Buffer.concat([Buffer.from(String(timestamp)), Buffer.from(payload)]), privateKeyPem).toString('base64');
}

/**
 * An HTTP Basic `Authorization` header value (Inbound Parse uses user `inbound`).
 *
 * @example
 * ```ts
 * basicAuth('inbound', env.SENDGRID_INBOUND_SECRET); // 'Basic aW5ib3VuZDo…'
 * ```
 */
export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
