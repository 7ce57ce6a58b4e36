import { createHmac } from 'node:crypto';

/**
 * The `X-Chat-Signature` header value: `v1=<hex HMAC-SHA256(secret, timestamp + "." + rawBody)>`.
 *
 * @example
 * ```ts
 * const sig = signChat(env.CHAT_WEBHOOK_SECRET, 1_700_000_000, '{"messageId":"m1"}');
 * ```
 */
export function signChat(secret: string, timestamp: number | string, rawBody: string | Buffer): string {
  const hmac = createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody);
  return `v1=${hmac.digest('hex')}`;
}

/**
 * POSTs a signed chat webhook. `body` is sent as is when a string (malformed-body tests), else as JSON.
 * `timestamp` defaults to now (unix seconds); `signature` overrides the computed one (`''` sends none).
 *
 * @example
 * ```ts
 * const res = await postChat(env.PUBLIC_BASE_URL, { messageId: 'm1', userId: 'u1', text: 'hi', sentAt }, { secret: env.CHAT_WEBHOOK_SECRET });
 * ```
 */
export async function postChat(
  baseUrl: string,
  body: unknown,
  options: { secret: string; timestamp?: number | string; signature?: string; path?: string; headers?: Record<string, string> },
): Promise<Response> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
  const signature = options.signature ?? signChat(options.secret, timestamp, raw);
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-chat-timestamp': timestamp, ...options.headers };
  if (signature !== '') headers['x-chat-signature'] = signature;
  return fetch(`${baseUrl}${options.path ?? '/webhooks/chat'}`, { method: 'POST', headers, body: raw });
}
