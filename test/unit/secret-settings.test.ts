import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '#shared/errors.ts';
import { startFakeServer, type FakeRequest, type RunningServer } from '#test/fakes/http-server.ts';

/*
 * The cloud path of a secret: `<NAME>_SECRET_ARN` read through Powertools Parameters and the real
 * Secrets Manager client, pointed (AWS_ENDPOINT_URL_SECRETS_MANAGER) at a local server that speaks the
 * service's JSON protocol (`X-Amz-Target: secretsmanager.GetSecretValue`).
 */

const ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:OmnichannelSupport/TWILIO_AUTH_TOKEN-AbCdEf';
const EMPTY_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:OmnichannelSupport/CHAT_WEBHOOK_SECRET-AbCdEf';
const MISSING_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:OmnichannelSupport/SENDGRID_API_KEY-AbCdEf';

let server: RunningServer;
/** What Secrets Manager holds for the Twilio token now (an operator may rotate it). */
let twilioToken = 'the-real-auth-token';
const requests: Array<{ target: string | undefined; secretId: unknown; signed: boolean }> = [];
const saved: Record<string, string | undefined> = {};
const names = [
  'AWS_ENDPOINT_URL_SECRETS_MANAGER',
  'AWS_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'TWILIO_AUTH_TOKEN',
  'TWILIO_AUTH_TOKEN_SECRET_ARN',
  'CHAT_WEBHOOK_SECRET',
  'CHAT_WEBHOOK_SECRET_SECRET_ARN',
  'SENDGRID_API_KEY',
  'SENDGRID_API_KEY_SECRET_ARN',
  'UNSUBSCRIBE_SIGNING_SECRET',
  'UNSUBSCRIBE_SIGNING_SECRET_SECRET_ARN',
];

function answer(req: FakeRequest) {
  const { SecretId } = JSON.parse(req.rawBody.toString('utf8')) as { SecretId?: string };
  requests.push({ target: req.headers['x-amz-target'] as string | undefined, secretId: SecretId, signed: String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 ') });
  const json = (status: number, body: unknown) => ({ status, headers: { 'content-type': 'application/x-amz-json-1.1' }, body: JSON.stringify(body) });
  if (SecretId === ARN) return json(200, { ARN, Name: 'OmnichannelSupport/TWILIO_AUTH_TOKEN', SecretString: twilioToken, VersionId: 'v1' });
  if (SecretId === EMPTY_ARN) return json(200, { ARN: EMPTY_ARN, Name: 'OmnichannelSupport/CHAT_WEBHOOK_SECRET', SecretString: '', VersionId: 'v1' });
  return json(400, { __type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." });
}

beforeAll(async () => {
  for (const name of names) saved[name] = process.env[name];
  server = await startFakeServer(answer);
});
afterAll(async () => {
  for (const name of names) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
  await server.close();
});
beforeEach(() => {
  for (const name of names) delete process.env[name];
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: server.baseUrl,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    TWILIO_AUTH_TOKEN_SECRET_ARN: ARN,
    CHAT_WEBHOOK_SECRET_SECRET_ARN: EMPTY_ARN,
    SENDGRID_API_KEY_SECRET_ARN: MISSING_ARN,
  });
  requests.length = 0;
  twilioToken = 'the-real-auth-token';
});

describe('getSecretSetting in the cloud (a secret ARN, no plain variable)', () => {
  it('reads the secret from Secrets Manager once, with a signed GetSecretValue, and serves it from the cache after', async () => {
    const { getSecretSetting } = await import('#shared/config.ts');
    expect(await getSecretSetting('TWILIO_AUTH_TOKEN')).toBe('the-real-auth-token');
    expect(await getSecretSetting('TWILIO_AUTH_TOKEN')).toBe('the-real-auth-token');
    expect(requests).toEqual([{ target: 'secretsmanager.GetSecretValue', secretId: ARN, signed: true }]);
  });

  it('reads every secret again after forgetCachedSecrets (a provider refused our key): a key rotated meanwhile is used at once, then cached again', async () => {
    const { forgetCachedSecrets, getSecretSetting } = await import('#shared/config.ts');
    expect(await getSecretSetting('TWILIO_AUTH_TOKEN')).toBe('the-real-auth-token');
    twilioToken = 'the-rotated-auth-token';
    expect(await getSecretSetting('TWILIO_AUTH_TOKEN')).toBe('the-real-auth-token'); // cached
    const before = requests.length;
    forgetCachedSecrets();
    expect(await getSecretSetting('TWILIO_AUTH_TOKEN')).toBe('the-rotated-auth-token');
    expect(await getSecretSetting('TWILIO_AUTH_TOKEN')).toBe('the-rotated-auth-token');
    expect(requests.slice(before).map((r) => r.secretId)).toEqual([ARN]);
  });

  it('prefers a plain variable (the local stack) and then asks Secrets Manager nothing', async () => {
    process.env.UNSUBSCRIBE_SIGNING_SECRET = 'local-value';
    const { getSecretSetting } = await import('#shared/config.ts');
    expect(await getSecretSetting('UNSUBSCRIBE_SIGNING_SECRET')).toBe('local-value');
    expect(requests).toEqual([]);
  });

  it('fails closed: an empty secret, one Secrets Manager does not know, or neither variable is an error, never a default', async () => {
    const { getSecretSetting } = await import('#shared/config.ts');
    await expect(getSecretSetting('CHAT_WEBHOOK_SECRET')).rejects.toBeInstanceOf(ConfigError);
    await expect(getSecretSetting('SENDGRID_API_KEY')).rejects.toThrow();
    await expect(getSecretSetting('UNSUBSCRIBE_SIGNING_SECRET')).rejects.toBeInstanceOf(ConfigError);
    expect(requests.map((r) => r.secretId).sort()).toEqual([EMPTY_ARN, MISSING_ARN].sort());
  });
});
