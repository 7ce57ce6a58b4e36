import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEV_AUDIENCE, DEV_ISSUER, loadOrCreateDevKey } from '#shared/auth/dev-issuer.ts';
import { DEFAULT_HUMAN_CONTACT } from '#shared/channels/twilio/voice-contact.ts';
import { consumerTimeoutSeconds, httpRoutes, queueConsumers } from '#shared/routes.ts';
import { ensureTable, localDynamoClient, startDynamoDbLocal, type DynamoDbLocal } from './dynamodb-local.ts';
import { startGateway, type Gateway } from './gateway.ts';
import { lazyHandler } from './handler-loader.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION, queueUrlEnvName } from './local-aws.ts';
import {
  BROADCAST_RATE_DEFAULTS,
  outboundDestinations,
  outboundSettingRows,
  parseRate,
  SMS_HELP_TEXT_DEFAULT,
  type OutboundDestination,
} from './outbound-settings.ts';
import { startQueuePoller, type QueuePoller, type SqsHandler } from './poller.ts';
import { resolvePort } from './ports.ts';
import { loadOrCreateSendgridEventKey } from './sendgrid-event-key.ts';
import { readSetting, type SettingRow } from './settings.ts';
import { startSqsLocal, type LocalQueue, type SqsLocal } from './sqs-local.ts';

/** Project root: where `functions/…` entries of the route table live. */
const ROOT_DIR = fileURLToPath(new URL('..', import.meta.url));

/** The variables every handler reads locally; the local stack always sets them. */
export const LOCAL_ENV_NAMES = [
  'PORT',
  'PUBLIC_BASE_URL',
  'DATA_DIR',
  'TABLE_NAME',
  'DYNAMODB_ENDPOINT',
  'SQS_ENDPOINT',
  'INBOUND_WORK_QUEUE_URL',
  'TEMPLATE_APPROVALS_QUEUE_URL',
  'OUTBOUND_QUEUE_URL',
  'ATTACHMENTS_DIR',
  'AWS_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'TWILIO_AUTH_TOKEN',
  'SENDGRID_INBOUND_SECRET',
  'SENDGRID_EVENT_PUBLIC_KEY',
  'CHAT_WEBHOOK_SECRET',
  'UNSUBSCRIBE_SIGNING_SECRET',
  'LOCAL_OUTBOX',
  'BROADCAST_RATE_SMS_PER_SECOND',
  'BROADCAST_RATE_EMAIL_PER_SECOND',
  'BROADCAST_RATE_CHAT_PER_SECOND',
  'BROADCAST_RATE_VOICE_PER_SECOND',
  'SMS_HELP_TEXT',
  'JWT_ISSUER',
  'JWT_AUDIENCE',
  'JWT_PUBLIC_JWK',
] as const;

/**
 * The environment the local stack gives handlers (and provides to tests): every name in
 * {@link LOCAL_ENV_NAMES}, plus `<QUEUE>_QUEUE_URL` for every queue and DLQ (by logical name:
 * `OUTBOUND_QUEUE_URL` is the URL of `outbound.fifo`, `OUTBOUND_DLQ_QUEUE_URL` of `outbound-dlq.fifo`), plus
 * whichever optional settings are set (`CHAT_DELIVERY_URL`, provider credentials, `POWERTOOLS_LOG_LEVEL`…).
 */
export type LocalStackEnv = { readonly [K in (typeof LOCAL_ENV_NAMES)[number]]: string } & { readonly [name: string]: string | undefined };

export type LocalStackLog = (level: 'info' | 'error', message: string) => void;

export type LocalStackOptions = {
  /** Where settings are read from; default `process.env`. Tests pass `{}` for a stack that ignores the shell. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Overrides `DATA_DIR`; relative paths are resolved against the current directory. */
  readonly dataDir?: string;
  /** Overrides `PORT`; 0 picks a free port, and then DynamoDB Local and SQS get free ports too unless pinned. */
  readonly port?: number;
  readonly dynamoDbPort?: number;
  readonly sqsPort?: number;
  /** Overrides `SQS_VISIBILITY_TIMEOUT` (seconds): how long a failed message waits before redelivery. */
  readonly visibilityTimeoutSeconds?: number;
  /** Start the SQS pollers (default true). */
  readonly startConsumers?: boolean;
  /** One line per HTTP request (method, path without query, status, ms). Default false. */
  readonly accessLog?: boolean;
  /**
   * Copy the stack's env into `process.env` (default true): handlers run in this process and read it.
   * `stop()` puts the previous values back. One stack per process at a time.
   */
  readonly applyToProcessEnv?: boolean;
  readonly log?: LocalStackLog;
  /** DynamoDB Local in memory rather than on disk: for `npm run bench` only (state is lost on stop). */
  readonly dynamoDbInMemory?: boolean;
};

/** A running local stack. */
export type LocalStack = {
  readonly baseUrl: string;
  readonly port: number;
  readonly env: LocalStackEnv;
  readonly settings: readonly SettingRow[];
  /** By logical queue name (`queueConsumers[].queue`). */
  readonly queues: ReadonlyMap<string, LocalQueue>;
  /** Where each channel's outbound messages go: the provider when its credentials are all set, else the local outbox. */
  readonly outbound: readonly OutboundDestination[];
  /** PEM of the local SendGrid Event Webhook signing key (its public half is `SENDGRID_EVENT_PUBLIC_KEY`). */
  readonly sendgridEventPrivateKeyPem: string;
  readonly timings: { readonly dynamoDbMs: number; readonly totalMs: number };
  /** Stops pollers (finishing their batch), the gateway (finishing requests), SQS, then the DynamoDB JVM. Idempotent. */
  stop(): Promise<void>;
};

const SECRET_DEFAULTS = {
  TWILIO_AUTH_TOKEN: 'local-twilio-auth-token',
  SENDGRID_INBOUND_SECRET: 'local-sendgrid-inbound-secret',
  CHAT_WEBHOOK_SECRET: 'local-chat-webhook-secret',
  UNSUBSCRIBE_SIGNING_SECRET: 'local-unsubscribe-signing-secret',
} as const;

/**
 * Starts the whole product on this machine: DynamoDB Local (on disk under the data dir), fauxqs (SQLite
 * under the data dir) with every consumer's queue and DLQ (FIFO ones as `<queue>.fifo` / `<queue>-dlq.fifo`),
 * the SQS pollers and the HTTP gateway serving every route of `shared/routes.ts` (the local-only `dev` ones
 * too), with the same handlers the cloud runs. A handler file that does not exist (yet) fails only its own
 * route (502) or poller (which waits for it). Used by `npm start`, vitest's globalSetup and the benchmark.
 *
 * @example
 * ```ts
 * const stack = await startLocalStack({ env: {}, dataDir: '/tmp/x', port: 0 });
 * await fetch(`${stack.baseUrl}/nope`); // 404
 * await stack.stop();
 * ```
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const startedAt = performance.now();
  const source = options.env ?? process.env;
  const log: LocalStackLog = options.log ?? ((level, message) => (level === 'error' ? console.error(message) : console.log(message)));

  const dataDirRow = readSetting('DATA_DIR', { env: source, explicit: options.dataDir, fallback: '.data' });
  const dataDir = resolve(dataDirRow.value!);
  mkdirSync(dataDir, { recursive: true });

  // Parts started so far, stopped in dependency order: consumers and requests finish while the stores
  // they write to are still up; the JVM goes last.
  const parts: {
    releaseLock?: () => void;
    gateway?: Gateway;
    ddb?: DynamoDbLocal;
    sqs?: SqsLocal;
    restoreEnv?: () => void;
    pollers?: QueuePoller[];
  } = {};
  const stopParts = async (): Promise<void> => {
    const step = async (what: string, fn: (() => Promise<void> | void) | undefined): Promise<void> => {
      try {
        await fn?.();
      } catch (err) {
        log('error', `local stack: stopping ${what} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    await step('SQS pollers', parts.pollers && (() => Promise.all(parts.pollers!.map((p) => p.stop())).then(() => undefined)));
    await step('HTTP gateway', parts.gateway && (() => parts.gateway!.close()));
    await step('SQS', parts.sqs && (() => parts.sqs!.stop()));
    await step('DynamoDB Local', parts.ddb && (() => parts.ddb!.stop()));
    await step('process.env', parts.restoreEnv);
    await step('data dir lock', parts.releaseLock);
  };

  try {
    parts.releaseLock = lockDataDir(dataDir);
    const portRow = readSetting('PORT', { env: source, explicit: optionalString(options.port), fallback: '3000' });
    const wantedPort = parsePort('PORT', portRow.value!);
    const freeByDefault = wantedPort === 0;
    const ddbPortRow = readSetting('DYNAMODB_PORT', {
      env: source,
      explicit: optionalString(options.dynamoDbPort),
      fallback: freeByDefault ? '0' : '8000',
      note: '0 = a free port',
    });
    const sqsPortRow = readSetting('SQS_PORT', {
      env: source,
      explicit: optionalString(options.sqsPort),
      fallback: freeByDefault ? '0' : '4566',
      note: '0 = a free port',
    });
    const visibilityRow = readSetting('SQS_VISIBILITY_TIMEOUT', {
      env: source,
      explicit: optionalString(options.visibilityTimeoutSeconds),
      fallback: '30',
      note: 'seconds before a failed message is redelivered',
    });
    const visibilityTimeoutSeconds = parseIntSetting('SQS_VISIBILITY_TIMEOUT', visibilityRow.value!, 0, 43_200);
    const tableRow = readSetting('TABLE_NAME', { env: source, fallback: 'omnichannel' });
    // Checked before anything starts: a mistyped rate should not cost a JVM start to find out.
    const rateRows = Object.entries(BROADCAST_RATE_DEFAULTS).map(([name, fallback]) =>
      readSetting(name, { env: source, fallback, note: 'broadcast pacing, messages per second' }),
    );
    for (const row of rateRows) parseRate(row.name, row.value!);

    // The gateway listens first (answering 503 until ready) so PORT=0 yields the real port for PUBLIC_BASE_URL.
    const gateway = await startGateway({ routes: httpRoutes, rootDir: ROOT_DIR, port: wantedPort, accessLog: options.accessLog ?? false, log });
    parts.gateway = gateway;

    const dynamoDbPort = await resolvePort(parsePort('DYNAMODB_PORT', ddbPortRow.value!));
    const queueSpecs = [...new Map(queueConsumers.map((c) => [c.queue, { name: c.queue, fifo: c.fifo ?? false, ...(c.maxReceiveCount !== undefined ? { maxReceiveCount: c.maxReceiveCount } : {}) }])).values()];
    // allSettled, not all: when one fails, the other may still come up and must be stopped too.
    const [ddbResult, sqsResult] = await Promise.allSettled([
      startDynamoDbLocal({ port: dynamoDbPort, dbPath: join(dataDir, 'dynamodb'), pidFile: join(dataDir, 'dynamodb.pid'), inMemory: options.dynamoDbInMemory ?? false }),
      startSqsLocal({ port: parsePort('SQS_PORT', sqsPortRow.value!), dataDir: join(dataDir, 'sqs'), queues: queueSpecs, visibilityTimeoutSeconds }),
    ]);
    if (ddbResult.status === 'fulfilled') parts.ddb = ddbResult.value;
    if (sqsResult.status === 'fulfilled') parts.sqs = sqsResult.value;
    if (ddbResult.status === 'rejected') throw ddbResult.reason;
    if (sqsResult.status === 'rejected') throw sqsResult.reason;
    const ddb = parts.ddb!;
    const sqs = parts.sqs!;

    const ddbClient = localDynamoClient(ddb.endpoint);
    try {
      await ensureTable(ddbClient, tableRow.value!);
    } finally {
      ddbClient.destroy();
    }

    const devKey = await loadOrCreateDevKey(join(dataDir, 'dev-issuer-key.json'));
    const sendgridKey = loadOrCreateSendgridEventKey(join(dataDir, 'sendgrid-event-key.json'));
    const attachmentsRow = readSetting('ATTACHMENTS_DIR', { env: source, fallback: join(dataDir, 'attachments') });
    mkdirSync(resolve(attachmentsRow.value!), { recursive: true });

    const derived = (name: string, value: string): SettingRow => ({ name, value, source: 'derived' });
    const fixed = (name: string, value: string, note = 'fixed locally'): SettingRow => ({ name, value, source: 'local default', note });
    const rows: SettingRow[] = [
      { ...portRow, value: String(gateway.port) },
      readSetting('PUBLIC_BASE_URL', { env: source, fallback: gateway.baseUrl, note: 'Twilio signatures are checked against it' }),
      { ...dataDirRow, value: dataDir },
      tableRow,
      { ...ddbPortRow, value: String(ddb.port) },
      derived('DYNAMODB_ENDPOINT', ddb.endpoint),
      { ...sqsPortRow, value: String(sqs.port) },
      derived('SQS_ENDPOINT', sqs.endpoint),
      visibilityRow,
      ...[...sqs.queues.values()].flatMap((q) => [derived(queueUrlEnvName(q.name), q.url), derived(queueUrlEnvName(`${q.name}-dlq`), q.dlqUrl)]),
      { ...attachmentsRow, value: resolve(attachmentsRow.value!) },
      fixed('AWS_REGION', LOCAL_REGION),
      fixed('AWS_ACCESS_KEY_ID', LOCAL_CREDENTIALS.accessKeyId, 'fixed locally: shell credentials are never used'),
      fixed('AWS_SECRET_ACCESS_KEY', LOCAL_CREDENTIALS.secretAccessKey),
      ...Object.entries(SECRET_DEFAULTS).map(([name, fallback]) => readSetting(name, { env: source, fallback, secret: true })),
      readSetting('SENDGRID_EVENT_PUBLIC_KEY', { env: source, fallback: sendgridKey.publicKeyBase64, note: 'key pair kept in DATA_DIR/sendgrid-event-key.json' }),
      fixed('LOCAL_OUTBOX', '1', 'local only: a channel whose provider settings are not all set is recorded in the local outbox (GET /dev/outbox), never sent'),
      ...outboundSettingRows(source),
      ...rateRows,
      readSetting('SMS_HELP_TEXT', { env: source, fallback: SMS_HELP_TEXT_DEFAULT, note: 'the answer to an inbound SMS HELP' }),
      readSetting('VOICE_HUMAN_CONTACT', { env: source, fallback: DEFAULT_HUMAN_CONTACT, note: 'what callers hear about reaching a person' }),
      readSetting('JWT_ISSUER', { env: source, fallback: DEV_ISSUER }),
      readSetting('JWT_AUDIENCE', { env: source, fallback: DEV_AUDIENCE }),
      readSetting('JWT_PUBLIC_JWK', { env: source, fallback: JSON.stringify(devKey.publicJwk), note: 'dev issuer key kept in DATA_DIR/dev-issuer-key.json (npm run token)' }),
      readSetting('MEDIA_HOSTS', { env: source, fallback: 'api.twilio.com,media.twiliocdn.com,mms.twiliocdn.com,s3-external-1.amazonaws.com,127.0.0.1,localhost', note: 'hosts inbound media may be fetched from (cloud default: Twilio\'s only)' }),
      readSetting('POWERTOOLS_LOG_LEVEL', { env: source, fallback: 'INFO' }),
    ];

    const env: Record<string, string> = {};
    for (const row of rows) {
      if (row.value !== undefined && row.name !== 'DYNAMODB_PORT' && row.name !== 'SQS_PORT') env[row.name] = row.value;
    }
    for (const name of LOCAL_ENV_NAMES) {
      if (env[name] === undefined) throw new Error(`local stack: ${name} was not set (is its queue missing from shared/routes.ts?)`);
    }
    const stackEnv = env as LocalStackEnv;
    if (options.applyToProcessEnv ?? true) {
      const unset = rows.filter((row) => row.value === undefined).map((row) => row.name);
      parts.restoreEnv = applyToProcessEnv(stackEnv, unset);
    }

    if (options.startConsumers ?? true) {
      parts.pollers = queueConsumers.map((consumer) => {
        const queue = sqs.queues.get(consumer.queue)!;
        return startQueuePoller({
          name: consumer.name,
          client: sqs.client,
          queueUrl: queue.url,
          queueArn: queue.arn,
          batchSize: consumer.batchSize,
          timeoutMs: consumerTimeoutSeconds(consumer) * 1000,
          loadHandler: lazyHandler<Parameters<SqsHandler>[0], Awaited<ReturnType<SqsHandler>>>(ROOT_DIR, consumer.entry),
          log,
        });
      });
    }

    gateway.setReady();
    let stopping: Promise<void> | undefined;
    return {
      baseUrl: gateway.baseUrl,
      port: gateway.port,
      env: stackEnv,
      settings: rows,
      queues: sqs.queues,
      outbound: outboundDestinations(stackEnv),
      sendgridEventPrivateKeyPem: sendgridKey.privateKeyPem,
      timings: { dynamoDbMs: ddb.startupMs, totalMs: Math.round(performance.now() - startedAt) },
      stop: () => (stopping ??= stopParts()),
    };
  } catch (err) {
    await stopParts();
    throw err;
  }
}

function optionalString(n: number | undefined): string | undefined {
  return n === undefined ? undefined : String(n);
}

function parsePort(name: string, value: string): number {
  return parseIntSetting(name, value, 0, 65_535);
}

function parseIntSetting(name: string, value: string, min: number, max: number): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new Error(`${name} must be an integer from ${min} to ${max}, got "${value}"`);
  return n;
}

/**
 * One stack per data dir: two would share DynamoDB Local's database file and fauxqs' SQLite file. A lock
 * whose process is gone (a crashed stack) is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  const lockFile = join(dataDir, 'stack.lock');
  if (existsSync(lockFile)) {
    const holder = Number.parseInt(readFileSync(lockFile, 'utf8'), 10);
    if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) {
      throw new Error(`Another local stack (pid ${holder}) is using ${dataDir}; stop it first (or delete ${lockFile} if that process is not a stack)`);
    }
  }
  writeFileSync(lockFile, String(process.pid));
  return () => rmSync(lockFile, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Handlers read settings from `process.env`. Real AWS credentials of the shell are masked while the stack
 * runs, and so is every setting the stack left unset (`unset`): a stack started with `env: {}` must not
 * send through a provider because the developer's shell happens to hold its credentials.
 */
function applyToProcessEnv(env: LocalStackEnv, unset: readonly string[]): () => void {
  const masked = ['AWS_SESSION_TOKEN', 'AWS_PROFILE', ...unset];
  const names = [...Object.keys(env), ...masked];
  const previous = new Map(names.map((n) => [n, process.env[n]] as const));
  for (const name of masked) delete process.env[name];
  for (const [name, value] of Object.entries(env)) if (value !== undefined) process.env[name] = value;
  return () => {
    for (const [name, value] of previous) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}
