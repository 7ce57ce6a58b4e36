import { createHmac, timingSafeEqual } from 'node:crypto';
import { SignatureError } from '#shared/errors.ts';

/** How far a chat timestamp may be from our clock, either way. */
export const CHAT_SIGNATURE_WINDOW_SECONDS = 300;

/**
 * `v1=<hex HMAC-SHA256(secret, timestamp + "." + rawBody)>`: the scheme of inbound chat webhooks and of
 * our own chat deliveries.
 *
 * @example
 * ```ts
 * const header = chatSignature(secret, '1700000000', Buffer.from(body));
 * ```
 */
export function chatSignature(secret: string, timestamp: string, rawBody: Buffer): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex');
  return `v1=${mac}`;
}

/**
 * Verifies a chat webhook's timestamp (unix seconds, within the window) and signature, timing-safe.
 * `X-Chat-Signature` may carry several comma-separated `v1=` values (secret rotation). Any failure is a
 * {@link SignatureError} (403) that does not say which part failed.
 */
export function verifyChatSignature(input: {
  secret: string;
  timestamp: string | undefined;
  signature: string | undefined;
  rawBody: Buffer;
  nowSeconds: number;
}): void {
  const { timestamp, signature } = input;
  if (!timestamp || !signature || !/^\d{1,12}$/.test(timestamp)) throw new SignatureError();
  if (Math.abs(input.nowSeconds - Number(timestamp)) > CHAT_SIGNATURE_WINDOW_SECONDS) throw new SignatureError();
  const expected = Buffer.from(chatSignature(input.secret, timestamp, input.rawBody).slice(3), 'hex');
  const valid = signature
    .split(',')
    .map((part) => part.trim())
    .filter((part) => /^v1=[0-9a-fA-F]{64}$/.test(part))
    .some((part) => timingSafeEqual(Buffer.from(part.slice(3), 'hex'), expected));
  if (!valid) throw new SignatureError();
}
