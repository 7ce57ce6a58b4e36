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
export function signTwilio(url: string, params: Record<string, string>, authToken: string): string {
  return getExpectedTwilioSignature(authToken, url, params);
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
