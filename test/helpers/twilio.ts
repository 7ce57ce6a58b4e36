import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks.js';

/**
 * `X-Twilio-Signature` for a form webhook, computed by the `twilio` package itself (the same code
 * Twilio's validator uses): HMAC-SHA1 over the full URL then each sorted param name and value.
 *
 * @example
 * ```ts
 * const sig = signTwilio(`${env.PUBLIC_BASE_URL}/webhooks/twilio/sms`, { MessageSid: 'SM1' }, env.TWILIO_AUTH_TOKEN);
 * ```
 */
export function signTwilio(url: string, params: Record<string, string | string[]>, authToken: string): string {
  return getExpectedTwilioSignature(authToken, url, params);
}

/**
 * The params Twilio signs for a raw form body: each decoded name and value, a repeated name as the list
 * of its values (own properties only, so a field named `__proto__` or `constructor` is signed as sent).
 *
 * @example
 * ```ts
 * formParams('A=1&B=2&A=3'); // { A: ['1', '3'], B: '2' }
 * ```
 */
export function formParams(body: string | Uint8Array): Record<string, string | string[]> {
  const values = new Map<string, string[]>();
  const text = typeof body === 'string' ? body : Buffer.from(body).toString('utf8');
  for (const [key, value] of new URLSearchParams(text)) values.set(key, [...(values.get(key) ?? []), value]);
  return Object.fromEntries([...values].map(([key, list]) => [key, list.length === 1 ? list[0]! : list]));
}

/**
 * POSTs a raw form body (random or mutated bytes in property tests) to a Twilio webhook, signed over
 * exactly what it carries (so it passes the signature check and reaches the parser) unless `signature`
 * is given (`''` sends none).
 *
 * @example
 * ```ts
 * const res = await postTwilioBody(`${baseUrl()}/webhooks/twilio/voice`, 'CallSid=CA1&CallSid=CA2', { authToken });
 * ```
 */
export async function postTwilioBody(
  url: string,
  body: string | Uint8Array,
  options: { authToken: string; signature?: string; signedUrl?: string },
): Promise<Response> {
  const signature = options.signature ?? signTwilio(options.signedUrl ?? url, formParams(body), options.authToken);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (signature !== '') headers['x-twilio-signature'] = signature;
  return fetch(url, { method: 'POST', headers, body });
}

/**
 * POSTs a Twilio-style form webhook, signed over `signedUrl` (default `baseUrl + path`, which is
 * `PUBLIC_BASE_URL + path` in the test stack) unless `signature` is given (forgery tests; `''` sends none).
 *
 * @example
 * ```ts
 * const res = await postTwilioForm(env.PUBLIC_BASE_URL, '/webhooks/twilio/sms', params, { authToken: env.TWILIO_AUTH_TOKEN });
 * ```
 */
export async function postTwilioForm(
  baseUrl: string,
  path: string,
  params: Record<string, string>,
  options: { authToken: string; signature?: string; signedUrl?: string },
): Promise<Response> {
  const url = `${baseUrl}${path}`;
  const signature = options.signature ?? signTwilio(options.signedUrl ?? url, params, options.authToken);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (signature !== '') headers['x-twilio-signature'] = signature;
  return fetch(url, { method: 'POST', headers, body: new URLSearchParams(params).toString() });
}
