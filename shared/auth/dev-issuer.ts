import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';

/** Issuer and audience of local dev tokens. The cloud uses Cognito's instead. */
export const DEV_ISSUER = 'urn:omnichannel:local-dev';
export const DEV_AUDIENCE = 'omnichannel-staff';

type KeyFile = { kid: string; privateJwk: JWK; publicJwk: JWK };

/**
 * The local dev issuer's ES256 key pair, created once and kept in `file` (under `.data/`), so tokens
 * stay valid across restarts of the local stack. Local development only: never deployed.
 *
 * @example
 * ```ts
 * const { publicJwk } = await loadOrCreateDevKey('.data/dev-issuer-key.json');
 * ```
 */
export async function loadOrCreateDevKey(file: string): Promise<KeyFile> {
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as KeyFile;
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `dev-${Date.now().toString(36)}`;
  const keyFile: KeyFile = {
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'ES256' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' },
  };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(keyFile), { mode: 0o600 });
  return keyFile;
}

/**
 * Signs a staff token the way Cognito shapes them: `sub`, `cognito:groups` = roles, `token_use: id`.
 *
 * @example
 * ```ts
 * const jwt = await signDevToken(key, { sub: 'alice', roles: ['agent'] });
 * ```
 */
export async function signDevToken(
  key: KeyFile,
  claims: { sub: string; roles: readonly string[]; expiresIn?: string; issuer?: string; audience?: string },
): Promise<string> {
  const privateKey = await importJWK(key.privateJwk, 'ES256');
  return new SignJWT({ 'cognito:groups': [...claims.roles], token_use: 'id' })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
    .setSubject(claims.sub)
    .setIssuer(claims.issuer ?? DEV_ISSUER)
    .setAudience(claims.audience ?? DEV_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(claims.expiresIn ?? '12h')
    .sign(privateKey);
}
