import { createLocalJWKSet, createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
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
 * roles it carries. Missing or invalid token: {@link UnauthenticatedError} (401).
 *
 * @example
 * ```ts
 * const principal = await authenticateStaff(event.headers.authorization);
 * ```
 */
export async function authenticateStaff(authorization: string | undefined): Promise<StaffPrincipal> {
  const match = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(authorization?.trim() ?? '');
  if (!match?.[1]) throw new UnauthenticatedError('Bearer token required');
  try {
    const { payload } = await jwtVerify(match[1], getKeySet(), {
      issuer: requireEnv('JWT_ISSUER'),
      audience: requireEnv('JWT_AUDIENCE'),
      algorithms: ['ES256', 'RS256'],
      // jose checks `exp` only when present: a token without one would never expire.
      requiredClaims: ['exp'],
    });
    const groups = payload['cognito:groups'];
    const roles = (Array.isArray(groups) ? groups : []).filter((g): g is StaffRole => staffRoles.includes(g as StaffRole));
    if (typeof payload.sub !== 'string' || payload.sub === '') throw new Error('token has no subject');
    return { sub: payload.sub, roles };
  } catch (cause) {
    throw new UnauthenticatedError('Invalid or expired token', { cause });
  }
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
