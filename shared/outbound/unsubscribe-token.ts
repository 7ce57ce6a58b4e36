import { createHmac, timingSafeEqual } from 'node:crypto';
import { getSecretSetting, requireEnv } from '#shared/config.ts';
import { SignatureError } from '#shared/errors.ts';

/**
 * Email one-click unsubscribe links (RFC 8058). RFC 8058 §3.1: the POST carries no context (no cookie,
 * no auth), so the URL alone must say who unsubscribes, and must not be forgeable. The token is
 * `base64url(customerId) "." base64url(HMAC-SHA256(UNSUBSCRIBE_SIGNING_SECRET, "unsubscribe:email:" + customerId))`.
 *
 * It does not expire: an unsubscribe link has to keep working for as long as the mail that carries it
 * may be read. Rotating the secret invalidates every link already sent.
 */

const PURPOSE = 'unsubscribe:email:';
const MAC_BYTES = 32;
/** Far above any real token (`cus_` + 32 hex is 48 characters encoded + 44): a bound before any work. */
const MAX_TOKEN_CHARS = 256;
const TOKEN_SHAPE = /^([A-Za-z0-9_-]{1,150})\.([A-Za-z0-9_-]{43})$/;

async function mac(customerId: string): Promise<Buffer> {
  const secret = await getSecretSetting('UNSUBSCRIBE_SIGNING_SECRET');
  return createHmac('sha256', secret).update(`${PURPOSE}${customerId}`, 'utf8').digest();
}

/**
 * The token naming `customerId` in an unsubscribe URL.
 *
 * @example
 * ```ts
 * const token = await unsubscribeToken('cus_0123…'); // 'Y3VzXzAxMjM….q1w2e3…'
 * ```
 */
export async function unsubscribeToken(customerId: string): Promise<string> {
  return `${Buffer.from(customerId, 'utf8').toString('base64url')}.${(await mac(customerId)).toString('base64url')}`;
}

/**
 * The one-click unsubscribe URL for a customer's emails: `${PUBLIC_BASE_URL}/unsubscribe/<token>`. Put it
 * in `List-Unsubscribe: <url>` together with `List-Unsubscribe-Post: List-Unsubscribe=One-Click`.
 *
 * @example
 * ```ts
 * headers['List-Unsubscribe'] = `<${await unsubscribeUrl(customerId)}>`;
 * headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
 * ```
 */
export async function unsubscribeUrl(customerId: string): Promise<string> {
  const base = requireEnv('PUBLIC_BASE_URL').replace(/\/+$/, '');
  return `${base}/unsubscribe/${await unsubscribeToken(customerId)}`;
}

/**
 * The customer an unsubscribe token names, or {@link SignatureError} (403) when the token is malformed,
 * tampered with, or was signed with another key. The MAC is compared in constant time.
 *
 * @example
 * ```ts
 * const { customerId } = await verifyUnsubscribeToken(event.pathParameters?.token ?? '');
 * ```
 */
export async function verifyUnsubscribeToken(token: string): Promise<{ customerId: string }> {
  const match = token.length <= MAX_TOKEN_CHARS ? TOKEN_SHAPE.exec(token) : null;
  if (!match) throw new SignatureError('Invalid unsubscribe link');
  const idBytes = Buffer.from(match[1]!, 'base64url');
  const customerId = idBytes.toString('utf8');
  // Only the canonical encoding of a non-empty, valid UTF-8 id is accepted: one id, one token.
  if (customerId === '' || Buffer.from(customerId, 'utf8').toString('base64url') !== match[1]) throw new SignatureError('Invalid unsubscribe link');
  const given = Buffer.from(match[2]!, 'base64url');
  const expected = await mac(customerId);
  // A 43-character base64url string has 2 spare bits: only the canonical spelling of the MAC counts.
  const canonical = given.length === MAC_BYTES && given.toString('base64url') === match[2];
  if (!canonical || !timingSafeEqual(given, expected)) throw new SignatureError('Invalid unsubscribe link');
  return { customerId };
}
