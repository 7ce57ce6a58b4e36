import { join } from 'node:path';
import { loadOrCreateDevKey, signDevToken } from '#shared/auth/dev-issuer.ts';
import type { StaffRole } from '#shared/auth/staff-auth.ts';
import type { LocalStackEnv } from '#local/stack.ts';
import { stackEnv } from './stack.ts';

/**
 * A staff bearer token the test stack accepts: signed by the dev issuer key in the stack's data dir,
 * with the stack's issuer and audience. Same as `npm run token` against that data dir.
 *
 * @example
 * ```ts
 * const token = await staffToken('alice', ['agent']);
 * await fetch(url, { headers: { authorization: `Bearer ${token}` } });
 * ```
 */
export async function staffToken(
  sub: string,
  roles: readonly (StaffRole | string)[],
  options: { env?: LocalStackEnv; expiresIn?: string } = {},
): Promise<string> {
  const env = options.env ?? stackEnv();
  const key = await loadOrCreateDevKey(join(env.DATA_DIR, 'dev-issuer-key.json'));
  return signDevToken(key, { sub, roles, issuer: env.JWT_ISSUER, audience: env.JWT_AUDIENCE, ...(options.expiresIn ? { expiresIn: options.expiresIn } : {}) });
}
