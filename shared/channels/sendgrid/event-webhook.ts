import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import * as z from 'zod/mini';
import { getSecretSetting } from '#shared/config.ts';
import { ConfigError, SignatureError, ValidationError } from '#shared/errors.ts';
import { header, rawBody } from '#shared/http/request.ts';

/**
 * One SendGrid event as the product reads it. Custom args set at send time (`messageId`,
 * `conversationId`) come back as top-level fields of every event of that message. A field that is not
 * what this product writes (another system sending through the same account sets its own custom args)
 * reads as absent, so the event does not name one of our messages; it is not dropped: an opt-out in
 * it still counts, found by its `email`.
 */
const absentUnless = <T extends z.ZodMiniType>(schema: T) => z.catch(z.optional(schema), undefined);
export const sendgridEventSchema = z.object({
  event: z.string().check(z.minLength(1), z.maxLength(64)),
  messageId: absentUnless(z.string().check(z.regex(/^msg_[0-9a-f]{32}$/))),
  conversationId: absentUnless(z.string().check(z.regex(/^conv_[0-9a-f]{32}$/))),
  sg_message_id: absentUnless(z.string().check(z.maxLength(256))),
  sg_event_id: absentUnless(z.string().check(z.maxLength(256))),
  email: absentUnless(z.string().check(z.maxLength(320))),
  timestamp: absentUnless(z.number()),
});
export type SendgridEvent = z.output<typeof sendgridEventSchema>;

let cachedKey: { source: string; key: KeyObject } | undefined;

/**
 * The verification key: what SendGrid shows under Mail Settings → Signed Event Webhook, base64 of the
 * DER SubjectPublicKeyInfo of a P-256 key (a PEM is accepted too). Parsed once per key value, so a
 * rotated secret is picked up when the secret cache refreshes.
 */
async function verificationKey(): Promise<KeyObject> {
  const source = (await getSecretSetting('SENDGRID_EVENT_PUBLIC_KEY')).trim();
  if (cachedKey?.source === source) return cachedKey.key;
  let key: KeyObject;
  try {
    key = source.startsWith('-----BEGIN') ? createPublicKey(source) : createPublicKey({ key: Buffer.from(source, 'base64'), format: 'der', type: 'spki' });
  } catch (cause) {
    // Our setting, not the caller's fault (the stack's placeholder before the real key is stored): a 5xx,
    // so SendGrid retries once it is fixed, and an error in the log that says which setting.
    throw new ConfigError('SENDGRID_EVENT_PUBLIC_KEY is not a public key (base64 DER or PEM)', { cause });
  }
  cachedKey = { source, key };
  return key;
}

/**
 * How old a signed Event Webhook request may be. SendGrid retries a post that failed for up to 24 hours
 * and does not document whether a retry is signed again, so the window covers that with room to spare;
 * older requests, and any from more than {@link SENDGRID_EVENT_MAX_SKEW_SECONDS} ahead, are replays or
 * forgeries to refuse. (Replaying within the window changes nothing: statuses only move forward, and an
 * opt-out is the stricter choice.)
 */
export const SENDGRID_EVENT_MAX_AGE_SECONDS = 3 * 24 * 3600;
export const SENDGRID_EVENT_MAX_SKEW_SECONDS = 300;

function isFreshTimestamp(timestamp: string, nowSeconds: number): boolean {
  if (!/^\d{1,12}$/.test(timestamp)) return false;
  const age = nowSeconds - Number(timestamp);
  return age <= SENDGRID_EVENT_MAX_AGE_SECONDS && age >= -SENDGRID_EVENT_MAX_SKEW_SECONDS;
}

/**
 * Verifies a SendGrid Event Webhook request and returns its events. SendGrid signs `timestamp + raw body`
 * with ECDSA P-256 / SHA-256 and sends the DER signature base64-encoded in
 * `X-Twilio-Email-Event-Webhook-Signature`, the timestamp in `X-Twilio-Email-Event-Webhook-Timestamp`.
 * Order: missing or wrong signature, or a timestamp (unix seconds) older than three days or from the
 * future → 403 ({@link SignatureError}), before the body is parsed; then a
 * body that is not a JSON array → 400. Entries are returned unvalidated: see {@link sendgridEventSchema}.
 *
 * @example
 * ```ts
 * const events = await verifiedSendgridEvents(event);
 * ```
 */
export async function verifiedSendgridEvents(event: APIGatewayProxyEventV2, nowSeconds = Math.floor(Date.now() / 1000)): Promise<unknown[]> {
  const signature = header(event, 'x-twilio-email-event-webhook-signature');
  const timestamp = header(event, 'x-twilio-email-event-webhook-timestamp');
  if (!signature || !timestamp) throw new SignatureError('Missing SendGrid event webhook signature');
  const raw = rawBody(event);
  const key = await verificationKey();
  let valid = false;
  try {
    valid = verify('sha256', Buffer.concat([Buffer.from(timestamp, 'utf8'), raw]), key, Buffer.from(signature, 'base64'));
  } catch {
    // A signature that is not DER at all: as wrong as a wrong one.
    valid = false;
  }
  if (!valid) throw new SignatureError();
  if (!isFreshTimestamp(timestamp, nowSeconds)) throw new SignatureError('SendGrid event webhook timestamp is out of range');
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (cause) {
    throw new ValidationError('Body is not valid JSON', { cause });
  }
  if (!Array.isArray(parsed)) throw new ValidationError('Body must be a JSON array of events');
  return parsed;
}
