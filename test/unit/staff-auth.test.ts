import fc from 'fast-check';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { refusedUrl, startFakeServer, type RunningServer } from '#test/fakes/http-server.ts';

/*
 * Staff tokens as the cloud checks them: the key set fetched from a JWKS URL (Cognito's, here a local
 * server that serves one, or fails to). A token the keys refuse is the caller's fault (401); keys that
 * cannot be had say nothing about the token, so that is a fault of ours (a 5xx), never a 401 that would
 * sign a valid user out.
 */

const ISSUER = 'https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test';
const AUDIENCE = 'staff-client-id';
const KID = 'test-key-1';

let answer: 'keys' | 'error' | 'not-json' = 'keys';
let jwks: RunningServer;
let privateKey: CryptoKey;
let publicJwk: JWK;
const saved: Record<string, string | undefined> = {};
const names = ['JWT_JWKS_URL', 'JWT_ISSUER', 'JWT_AUDIENCE', 'JWT_PUBLIC_JWK'];

beforeAll(async () => {
  const pair = await generateKeyPair('ES256');
  privateKey = pair.privateKey;
  publicJwk = { ...(await exportJWK(pair.publicKey)), kid: KID, alg: 'ES256', use: 'sig' };
  jwks = await startFakeServer(() => {
    if (answer === 'error') return { status: 500, body: 'internal error' };
    if (answer === 'not-json') return { status: 200, headers: { 'content-type': 'text/html' }, body: '<html>maintenance</html>' };
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ keys: [publicJwk] }) };
  });
  for (const name of names) saved[name] = process.env[name];
});
afterEach(() => {
  answer = 'keys';
  for (const name of names) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
});
afterAll(() => jwks.close());

/** The auth module as a fresh cold start reads it, with these settings (its key set is cached per module). */
async function freshAuth(env: Record<string, string | undefined>) {
  for (const name of names) delete process.env[name];
  for (const [name, value] of Object.entries(env)) if (value !== undefined) process.env[name] = value;
  vi.resetModules();
  return import('#shared/auth/staff-auth.ts');
}

const cloudEnv = (jwksUrl = `${jwks.baseUrl}/.well-known/jwks.json`) => ({ JWT_JWKS_URL: jwksUrl, JWT_ISSUER: ISSUER, JWT_AUDIENCE: AUDIENCE });

function token(claims: Record<string, unknown> = {}, expiresIn: string | number = '1h'): Promise<string> {
  return new SignJWT({ 'cognito:groups': ['agent'], ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: KID })
    .setSubject('agent-7')
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(privateKey);
}

/** A compact JWS as the bytes its segments decode to. */
const bytesOf = (compact: string) => compact.split('.').map((segment) => Buffer.from(segment, 'base64url').toString('hex')).join('.');

/** What `authenticateStaff` threw, by name (the module is re-imported per test, so no instanceof). */
async function refusal(act: Promise<unknown>): Promise<string> {
  try {
    await act;
  } catch (err) {
    return (err as Error).name;
  }
  throw new Error('expected a refusal');
}

describe('staff tokens checked against a JWKS URL', () => {
  it('accepts a valid token with its subject and roles', async () => {
    const { authenticateStaff } = await freshAuth(cloudEnv());
    await expect(authenticateStaff(`Bearer ${await token()}`)).resolves.toEqual({ sub: 'agent-7', roles: ['agent'] });
  });

  it('refuses a forged, expired or foreign-audience token with 401 (UnauthenticatedError)', async () => {
    const { authenticateStaff } = await freshAuth(cloudEnv());
    const valid = await token();
    const [h, p] = valid.split('.');
    const forged = `${h}.${p}.${'A'.repeat(86)}`;
    const expired = await token({}, Math.floor(Date.now() / 1000) - 60);
    const foreign = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: KID }).setSubject('x').setIssuer(ISSUER).setAudience('another-app').setExpirationTime('1h').sign(privateKey);
    for (const bad of [forged, expired, foreign]) expect(await refusal(authenticateStaff(`Bearer ${bad}`))).toBe('UnauthenticatedError');
  });

  it('refuses any token-shaped garbage with 401, never another error', async () => {
    const { authenticateStaff } = await freshAuth(cloudEnv());
    const valid = await token();
    const chars = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/='.split(''));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.string({ unit: chars, minLength: 1, maxLength: 400 }),
          // a valid token with one character changed, to other bytes (base64url's last character of a
          // segment carries spare bits, and -_ may be written +/: such a change is still the same token)
          fc.tuple(fc.nat({ max: valid.length - 1 }), chars).map(([i, c]) => `${valid.slice(0, i)}${c}${valid.slice(i + 1)}`).filter((t) => bytesOf(t) !== bytesOf(valid)),
        ),
        async (garbage) => {
          expect(await refusal(authenticateStaff(`Bearer ${garbage}`))).toBe('UnauthenticatedError');
        },
      ),
      { numRuns: 300 },
    );
  });

  it.each([
    ['answers 500', 'error' as const],
    ['answers something that is not a key set', 'not-json' as const],
  ])('treats a JWKS URL that %s as its own fault (a 5xx), not the caller’s 401', async (_what, mode) => {
    answer = mode;
    const { authenticateStaff } = await freshAuth(cloudEnv());
    const name = await refusal(authenticateStaff(`Bearer ${await token()}`));
    expect(name).not.toBe('UnauthenticatedError');
    expect(name).not.toBe('ForbiddenError');
  });

  it('treats an unreachable JWKS URL as its own fault too', async () => {
    const { authenticateStaff } = await freshAuth(cloudEnv(`${await refusedUrl()}/.well-known/jwks.json`));
    expect(await refusal(authenticateStaff(`Bearer ${await token()}`))).not.toBe('UnauthenticatedError');
  });

  it('treats a missing issuer or audience setting as a deployment fault (ConfigError), not a 401', async () => {
    for (const missing of ['JWT_ISSUER', 'JWT_AUDIENCE']) {
      const { authenticateStaff } = await freshAuth({ ...cloudEnv(), [missing]: undefined });
      expect(await refusal(authenticateStaff(`Bearer ${await token()}`))).toBe('ConfigError');
    }
  });
});
