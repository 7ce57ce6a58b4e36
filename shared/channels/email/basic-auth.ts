import { createHash, timingSafeEqual } from 'node:crypto';
import { getSecretSetting } from '#shared/config.ts';
import { ForbiddenError, UnauthenticatedError } from '#shared/errors.ts';

/** The Basic auth user SendGrid is configured with (`https://inbound:<secret>@host/webhooks/sendgrid/inbound`). */
export const INBOUND_USER = 'inbound';

/** Credentials read from an `Authorization: Basic …` header. */
export type BasicCredentials = { readonly user: string; readonly password: string };

/**
 * Reads `Authorization: Basic base64(user:password)` (RFC 7617, UTF-8). Missing, another scheme, bad
 * base64 or no colon: {@link UnauthenticatedError}, answered 401 with a `WWW-Authenticate` challenge.
 *
 * @example
 * ```ts
 * parseBasicAuth('Basic aW5ib3VuZDpzM2NyZXQ='); // { user: 'inbound', password: 's3cret' }
 * ```
 */
export function parseBasicAuth(authorization: string | undefined): BasicCredentials {
  const match = /^\s*basic\s+([A-Za-z0-9+/]+={0,2})\s*$/i.exec(authorization ?? '');
  if (match === null) throw new UnauthenticatedError('Basic authentication required');
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) throw new UnauthenticatedError('Malformed Basic credentials');
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Compares SHA-256 digests so neither the length nor the content of the secret leaks through timing. */
function sameSecret(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * Checks presented Basic credentials against the expected ones, both fields always compared (no early
 * exit on a wrong user). Wrong: {@link ForbiddenError}.
 *
 * @example
 * ```ts
 * verifyBasicAuth(header(event, 'authorization'), { user: 'inbound', password: secret });
 * ```
 */
export function verifyBasicAuth(authorization: string | undefined, expected: BasicCredentials): void {
  const presented = parseBasicAuth(authorization);
  const userOk = sameSecret(presented.user, expected.user);
  const passwordOk = sameSecret(presented.password, expected.password);
  if (!(userOk && passwordOk)) throw new ForbiddenError('Invalid credentials');
}

export type InboundAuthDeps = {
  /** The expected password; by default `SENDGRID_INBOUND_SECRET` (env locally, Secrets Manager in the cloud). */
  readonly secret: () => Promise<string>;
};

const defaultDeps: InboundAuthDeps = { secret: () => getSecretSetting('SENDGRID_INBOUND_SECRET') };

/**
 * Authenticates an Inbound Parse POST: user `inbound`, password `SENDGRID_INBOUND_SECRET`. A request
 * without credentials is refused before the secret is even fetched.
 *
 * @example
 * ```ts
 * await requireInboundBasicAuth(header(event, 'authorization'));
 * ```
 */
export async function requireInboundBasicAuth(authorization: string | undefined, deps: InboundAuthDeps = defaultDeps): Promise<void> {
  parseBasicAuth(authorization);
  verifyBasicAuth(authorization, { user: INBOUND_USER, password: await deps.secret() });
}
