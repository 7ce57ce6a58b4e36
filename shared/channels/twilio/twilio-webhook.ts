import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { validateRequest } from 'twilio/lib/webhooks/webhooks.js';
import { getSecretSetting, requireEnv } from '#shared/config.ts';
import { SignatureError, ValidationError } from '#shared/errors.ts';
import { header, parseForm, rawBody, requireContentType } from '#shared/http/request.ts';
import type * as z from 'zod/mini';

/**
 * The URL Twilio signed: `PUBLIC_BASE_URL` + path + query. Behind API Gateway the request's own host is
 * the gateway's, not the one Twilio was configured with, so the configured base is the truth.
 */
export function signedUrl(event: Pick<APIGatewayProxyEventV2, 'rawPath' | 'rawQueryString'>): string {
  const base = requireEnv('PUBLIC_BASE_URL').replace(/\/+$/, '');
  return `${base}${event.rawPath}${event.rawQueryString ? `?${event.rawQueryString}` : ''}`;
}

/**
 * Verifies a Twilio webhook with the `twilio` package's own validator and parses its form body against
 * `schema`. Order: no signature → 403; undecodable body → 400; wrong signature → 403; then the schema
 * (400), so only authentic requests learn what the schema wants.
 *
 * @example
 * ```ts
 * const params = await verifiedTwilioForm(event, smsWebhookSchema);
 * ```
 */
export async function verifiedTwilioForm<S extends z.ZodMiniType>(event: APIGatewayProxyEventV2, schema: S): Promise<z.output<S>> {
  const signature = header(event, 'x-twilio-signature');
  if (!signature) throw new SignatureError('Missing X-Twilio-Signature');
  requireContentType(event, 'application/x-www-form-urlencoded');
  const params = parseForm(rawBody(event));
  const authToken = await getSecretSetting('TWILIO_AUTH_TOKEN');
  if (!validateRequest(authToken, signature, signedUrl(event), params)) throw new SignatureError();
  const parsed = schema.safeParse(params);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.')))].join(', ');
    throw new ValidationError(`Invalid Twilio webhook fields: ${fields}`);
  }
  return parsed.data;
}
