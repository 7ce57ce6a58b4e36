import { getSecret } from '@aws-lambda-powertools/parameters/secrets';
import { ConfigError, SecretUnavailableError } from '#shared/errors.ts';

/**
 * Reads a required setting once, failing fast with a {@link ConfigError} when it is missing. The cloud
 * has no defaults: the stack sets every variable; the local stack prints the defaults it uses.
 *
 * @example
 * ```ts
 * const table = requireEnv('TABLE_NAME');
 * ```
 */
export function requireEnv(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') throw new ConfigError(`Missing required setting ${name}`);
  return value;
}

/**
 * An optional setting, `undefined` when unset or empty.
 *
 * @example
 * ```ts
 * const endpoint = optionalEnv('DYNAMODB_ENDPOINT');
 * ```
 */
export function optionalEnv(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value === '' ? undefined : value;
}

/** Names of the secrets the product uses; each is either a plain env var (local) or `<NAME>_SECRET_ARN` (cloud). */
export type SecretName =
  | 'TWILIO_AUTH_TOKEN'
  | 'SENDGRID_INBOUND_SECRET'
  | 'SENDGRID_EVENT_PUBLIC_KEY'
  | 'CHAT_WEBHOOK_SECRET'
  | 'TWILIO_API_KEY_SECRET'
  | 'SENDGRID_API_KEY'
  | 'UNSUBSCRIBE_SIGNING_SECRET';

/**
 * A secret: locally the env var of that name; in the cloud the Secrets Manager secret whose ARN is in
 * `<NAME>_SECRET_ARN`, fetched on first use (never during init) and cached by Powertools for 5 minutes.
 *
 * @example
 * ```ts
 * const token = await getSecretSetting('TWILIO_AUTH_TOKEN');
 * ```
 */
export async function getSecretSetting(name: SecretName): Promise<string> {
  const plain = optionalEnv(name);
  if (plain !== undefined) return plain;
  const arn = optionalEnv(`${name}_SECRET_ARN`);
  if (arn === undefined) throw new ConfigError(`Missing required secret ${name}`);
  const generation = secretsGeneration;
  let value: string | undefined;
  try {
    value = await getSecret<string>(arn, { maxAge: 300, forceFetch: readInGeneration.get(name) !== generation });
  } catch (cause) {
    throw new SecretUnavailableError(`Secret ${name} could not be read`, { cause });
  }
  readInGeneration.set(name, generation);
  if (typeof value !== 'string' || value === '') throw new ConfigError(`Secret ${name} is empty`);
  return value;
}

/** Bumped by {@link forgetCachedSecrets}: a secret last read in an older generation is fetched again. */
let secretsGeneration = 0;
const readInGeneration = new Map<SecretName, number>();

/**
 * Makes the next read of every secret go to Secrets Manager instead of the cache: after a provider
 * refused our credentials, so that a key an operator has just rotated is used by the next try rather
 * than after the cache's 5 minutes.
 *
 * @example
 * ```ts
 * if (err instanceof ProviderConfigError) forgetCachedSecrets();
 * ```
 */
export function forgetCachedSecrets(): void {
  secretsGeneration++;
}

/**
 * Hard limit on any request body. API Gateway takes 10 MB, but it hands a binary body (Inbound Parse's
 * multipart) to Lambda base64-encoded inside the event, and a Lambda request payload stops at 6 MB:
 * 4 MiB is 5.6 MB encoded, leaving room for the event's headers. Above that, the cloud would fail the
 * invocation instead of answering our 413.
 */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;
