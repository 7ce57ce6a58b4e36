import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { MAX_BODY_BYTES } from '#shared/config.ts';
import { PayloadTooLargeError, UnsupportedMediaTypeError, ValidationError } from '#shared/errors.ts';

/**
 * The request body as bytes, whether API Gateway base64-encoded it or not. Refuses bodies over
 * `MAX_BODY_BYTES` with a {@link PayloadTooLargeError} before decoding them.
 *
 * @example
 * ```ts
 * const raw = rawBody(event);
 * ```
 */
export function rawBody(event: Pick<APIGatewayProxyEventV2, 'body' | 'isBase64Encoded'>, limit = MAX_BODY_BYTES): Buffer {
  const body = event.body ?? '';
  const approxBytes = event.isBase64Encoded ? Math.floor((body.length * 3) / 4) : Buffer.byteLength(body);
  if (approxBytes > limit) throw new PayloadTooLargeError(`Body larger than ${limit} bytes`);
  return event.isBase64Encoded ? Buffer.from(body, 'base64') : Buffer.from(body, 'utf8');
}

/**
 * A request header, case-insensitively (API Gateway v2 already lower-cases names).
 *
 * @example
 * ```ts
 * const sig = header(event, 'x-twilio-signature');
 * ```
 */
export function header(event: Pick<APIGatewayProxyEventV2, 'headers'>, name: string): string | undefined {
  const headers = event.headers ?? {};
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

/**
 * Requires the body's media type to be `expected` (parameters such as `charset` ignored).
 *
 * @example
 * ```ts
 * requireContentType(event, 'application/x-www-form-urlencoded');
 * ```
 */
export function requireContentType(event: Pick<APIGatewayProxyEventV2, 'headers'>, expected: string): string {
  const value = header(event, 'content-type') ?? '';
  const mediaType = value.split(';')[0]?.trim().toLowerCase() ?? '';
  if (mediaType !== expected) throw new UnsupportedMediaTypeError(`Content-Type must be ${expected}`);
  return value;
}

/**
 * Parses an `application/x-www-form-urlencoded` body into a record; a repeated key becomes an array (as
 * Twilio's own validator signs it). Refuses bodies that are not valid UTF-8 or carry broken escapes.
 *
 * @example
 * ```ts
 * const params = parseForm(rawBody(event));
 * ```
 */
export function parseForm(raw: Buffer): Record<string, string | string[]> {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(raw);
  } catch (cause) {
    throw new ValidationError('Form body is not valid UTF-8', { cause });
  }
  if (/%(?![0-9a-fA-F]{2})/.test(text)) throw new ValidationError('Form body has a malformed percent-escape');
  // No prototype: a field named `toString` or `__proto__` is just a field.
  const params: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
  for (const [key, value] of new URLSearchParams(text)) {
    const prev = params[key];
    params[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return params;
}

/**
 * A JSON body. An empty body is `undefined` when `optional`, a 400 otherwise.
 *
 * @example
 * ```ts
 * const json = parseJsonBody(rawBody(event, MAX_TEMPLATE_BODY_BYTES)); // read first: too large is a 413
 * ```
 */
export function parseJsonBody(raw: Buffer, options: { optional?: boolean } = {}): unknown {
  if (raw.length === 0 || raw.toString('utf8').trim() === '') {
    if (options.optional) return undefined;
    throw new ValidationError('A JSON body is required');
  }
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch (cause) {
    throw new ValidationError('Body is not valid JSON', { cause });
  }
}
