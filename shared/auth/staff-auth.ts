import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { optionalEnv, requireEnv } from '#shared/config.ts';
import { ForbiddenError, UnauthenticatedError } from '#shared/errors.ts';

export const staffRoles = ['agent', 'editor', 'approver', 'admin'] as const;
export type StaffRole = (typeof staffRoles)[number];

export type StaffPrincipal = { readonly sub: string; readonly roles: readonly StaffRole[] };

let keySet: JWTVerifyGetKey | undefined;

/** Cloud: Cognito's JWKS URL (fetched on first use, cached by jose). Local: the dev issuer's public JWK. */
function getKeySet(): JWTVerifyGetKey {
  if (keySet) return keySet;
  const jwksUrl = optionalEnv('JWT_JWKS_URL');
  keySet = jwksUrl
    ? createRemoteJWKSet(new URL(jwksUrl))
    : createLocalJWKSet({ keys: [JSON.parse(requireEnv('JWT_PUBLIC_JWK'))] });
  return keySet;
}

/**
 * Verifies a staff bearer token (signature, issuer, audience, expiry) and returns who it is and which
 * roles it carries. Missing or invalid token: {@link UnauthenticatedError} (401). Missing settings, or a
 * key set that cannot be fetched: a plain error (5xx), since the token was never judged.
 *
 * @example
 * ```ts
 * const principal = await authenticateStaff(event.headers.authorization);
 * ```
 */
export async function authenticateStaff(authorization: string | undefined): Promise<StaffPrincipal> {
  // The scheme name is case-insensitive (RFC 7235 §2.1); one or more blanks before the token.
  const match = /^Bearer[ \t]+([A-Za-z0-9._~+/=-]+)$/i.exec(authorization?.trim() ?? '');
  if (!match?.[1]) throw new UnauthenticatedError('Bearer token required', { challenge: 'Bearer' });
  // Our own settings first, outside the try: a deployment fault is a 5xx, not the caller's 401.
  const keys = getKeySet();
  const issuer = requireEnv('JWT_ISSUER');
  const audience = requireEnv('JWT_AUDIENCE');
  try {
    const { payload } = await jwtVerify(match[1], keys, {
      issuer,
      audience,
      algorithms: ['ES256', 'RS256'],
      // jose checks `exp` only when present: a token without one would never expire.
      requiredClaims: ['exp'],
    });
    const groups = payload['cognito:groups'];
    const roles = (Array.isArray(groups) ? groups : []).filter((g): g is StaffRole => staffRoles.includes(g as StaffRole));
    if (typeof payload.sub !== 'string' || payload.sub === '') throw new Error('token has no subject');
    return { sub: payload.sub, roles };
  } catch (cause) {
    // The key set could not be had (Cognito's JWKS timed out, failed or was unreadable): nothing is
    // known about the token, and telling the client it is invalid would sign people out. A 5xx: retry.
    if (keySetUnavailable(cause)) throw new Error('Staff token keys unavailable', { cause });
    throw new UnauthenticatedError('Invalid or expired token', { cause, challenge: 'Bearer error="invalid_token"' });
  }
}

/**
 * jose's answers about the key set itself rather than the token: a timeout, an invalid set, or its
 * generic error (a non-200 or non-JSON answer), and a fetch that failed outright (`fetch failed`).
 */
function keySetUnavailable(err: unknown): boolean {
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) return true;
  if (err instanceof errors.JOSEError) return err.code === errors.JOSEError.code;
  return err instanceof TypeError && err.message === 'fetch failed';
}

/**
 * Requires one of `allowed` (admin always passes). Wrong role: {@link ForbiddenError} (403).
 *
 * @example
 * ```ts
 * requireRole(principal, ['agent']);
 * ```
 */
export function requireRole(principal: StaffPrincipal, allowed: readonly StaffRole[]): void {
  if (principal.roles.includes('admin')) return;
  if (!principal.roles.some((r) => allowed.includes(r))) throw new ForbiddenError(`Requires role ${allowed.join(' or ')}`);
}
