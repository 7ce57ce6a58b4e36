/**
 * `npm run bench`: the product's speed and size figures, measured against the local stack on this
 * machine. Prints a table and writes bench/results.json. A benchmark, not a test: it asserts nothing.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { build } from 'esbuild';

process.env.DYNAMODB_CAPACITY_METER = '1';
const root = resolve(import.meta.dirname, '..');
const run = promisify(execFile);
const LOAD_SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const targets = { ingest_rps: '>= 300', ingest_p99_ms: '<= 25', wcu_per_inbound: '<= 2', thread_read_rcu_100: '= rcu_10000', max_bundle_kb: '<= 600', max_init_ms: '<= 150' };

const { httpRoutes, queueConsumers } = await import('#shared/routes.ts');
const { esbuildOptionsFor } = await import('#infra/bundling.ts');

/** 1. Every handler bundled exactly as the CDK stack bundles it; size and median cold import time. */
async function measureBundles(): Promise<{ sizes: Record<string, number>; initMs: Record<string, number> }> {
  const outDir = join(root, '.build', 'bench');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const sizes: Record<string, number> = {};
  const initMs: Record<string, number> = {};
  const entries = [...httpRoutes.filter((r) => r.auth !== 'dev'), ...queueConsumers].map((r) => ({ name: r.name, entry: r.entry }));
  const env = {
    ...process.env,
    TABLE_NAME: 'bench',
    AWS_REGION: 'us-east-1',
    INBOUND_WORK_QUEUE_URL: 'http://127.0.0.1:1/queue',
    PUBLIC_BASE_URL: 'http://127.0.0.1:1',
  };
  for (const { name, entry } of entries) {
    const outfile = join(outDir, `${name}.mjs`);
    await build({ ...esbuildOptionsFor(join(root, entry), outfile), logLevel: 'error' });
    sizes[name] = statSync(outfile).size / 1024;
    const samples: number[] = [];
    for (let i = 0; i < 7; i++) {
      const script = `const t=performance.now();await import(${JSON.stringify(outfile)});console.log(performance.now()-t)`;
      const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], { env });
      samples.push(Number(stdout.trim()));
    }
    samples.sort((a, b) => a - b);
    initMs[name] = samples[Math.floor(samples.length / 2)]!;
  }
  return { sizes, initMs };
}

const CUSTOMERS = 200;

function runLoad(baseUrl: string, authToken: string, seconds: number): Promise<{ ok: number; errors: number; rps: number; p50: number; p99: number }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench', 'load.ts'), baseUrl, authToken, String(seconds), String(CONCURRENCY), String(CUSTOMERS)], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolvePromise(JSON.parse(out.trim().split('\n').pop()!)) : reject(new Error(`load generator exited ${code}`))));
  });
}

const bundles = await measureBundles();

/** 2. The local stack, in this process, so the capacity meter sees every DynamoDB call the handlers make. */
const dataDir = mkdtempSync(join(tmpdir(), 'omni-bench-'));
const { startLocalStack } = await import('#local/stack.ts');
const stack = await startLocalStack({ dataDir, port: 0, accessLog: false, applyToProcessEnv: true, log: () => {} });
const { capacityMeter, documentClient, getTableName } = await import('#shared/data/client.ts');
const { appendMessage, listThreadPage } = await import('#shared/data/conversation-store.ts');
const { PutCommand } = await import('@aws-sdk/lib-dynamodb');

try {
  const authToken = stack.env.TWILIO_AUTH_TOKEN;
  // Warm-up: every customer of the pool writes once (so the measured run is existing customers'
  // messages, the steady state), then a few seconds more for the JIT and connection pools.
  await runLoad(stack.baseUrl, authToken, 0);
  await runLoad(stack.baseUrl, authToken, 3);
  capacityMeter.reset();
  const load = await runLoad(stack.baseUrl, authToken, LOAD_SECONDS);
  const wcuPerInbound = capacityMeter.write / Math.max(1, load.ok + load.errors);
  const rcuPerInbound = capacityMeter.read / Math.max(1, load.ok + load.errors);

  // 3. The floor: bare PutItem calls at the same concurrency against the same DynamoDB Local.
  let puts = 0;
  const floorDeadline = performance.now() + 5000;
  const floorStart = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < floorDeadline) {
        const id = `${puts++}-${Math.random()}`;
        await documentClient.send(new PutCommand({ TableName: getTableName(), Item: { pk: `floor#${id}`, sk: 'x', body: 'benchmark message body of a typical sms' } }));
      }
    }),
  );
  const floorPutsPerSecond = puts / ((performance.now() - floorStart) / 1000);

  // 4. One page of 50 from threads of 100 and of 10,000 messages: the same Query cost.
  async function threadOf(n: number): Promise<string> {
    const conversationId = `conv_${n.toString(16).padStart(32, '0')}`;
    const base = Date.parse('2026-01-01T00:00:00Z');
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < n) {
          const i = next++;
          await appendMessage({
            conversationId,
            customerId: `cus_${n.toString(16).padStart(32, '0')}`,
            messageId: `msg_${i.toString(16).padStart(32, '0')}`,
            channel: 'sms',
            direction: 'inbound',
            body: `message ${i} of a long thread, about the length of a typical sms`,
            createdAt: new Date(base + i * 1000).toISOString(),
          });
        }
      }),
    );
    return conversationId;
  }
  async function pageRcu(conversationId: string): Promise<number> {
    const first = await listThreadPage(conversationId, { limit: 50 });
    capacityMeter.reset();
    await listThreadPage(conversationId, { limit: 50, cursor: first.nextCursor! });
    return capacityMeter.read;
  }
  const rcu100 = await pageRcu(await threadOf(100));
  const rcu10000 = await pageRcu(await threadOf(10_000));

  const results = {
    ingest_rps: Math.round(load.rps),
    ingest_p99_ms: Number(load.p99.toFixed(1)),
    ingest_p50_ms: Number(load.p50.toFixed(1)),
    ingest_errors: load.errors,
    wcu_per_inbound: Number(wcuPerInbound.toFixed(2)),
    rcu_per_inbound: Number(rcuPerInbound.toFixed(2)),
    thread_read_rcu_100: rcu100,
    thread_read_rcu_10000: rcu10000,
    max_bundle_kb: Number(Math.max(...Object.values(bundles.sizes)).toFixed(1)),
    max_init_ms: Number(Math.max(...Object.values(bundles.initMs)).toFixed(1)),
    floor_putitem_per_s: Math.round(floorPutsPerSecond),
    load_seconds: LOAD_SECONDS,
    concurrency: CONCURRENCY,
    bundles_kb: Object.fromEntries(Object.entries(bundles.sizes).map(([k, v]) => [k, Number(v.toFixed(1))])),
    init_ms: Object.fromEntries(Object.entries(bundles.initMs).map(([k, v]) => [k, Number(v.toFixed(1))])),
    measured_at: new Date().toISOString(),
  };
  writeFileSync(join(root, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);

  const rows: Array<[string, string | number, string]> = [
    ['ingest_rps', results.ingest_rps, targets.ingest_rps],
    ['ingest_p99_ms', results.ingest_p99_ms, targets.ingest_p99_ms],
    ['ingest_p50_ms', results.ingest_p50_ms, ''],
    ['ingest_errors', results.ingest_errors, '0'],
    ['wcu_per_inbound', results.wcu_per_inbound, targets.wcu_per_inbound],
    ['rcu_per_inbound', results.rcu_per_inbound, ''],
    ['thread_read_rcu_100', results.thread_read_rcu_100, targets.thread_read_rcu_100],
    ['thread_read_rcu_10000', results.thread_read_rcu_10000, ''],
    ['max_bundle_kb', results.max_bundle_kb, targets.max_bundle_kb],
    ['max_init_ms', results.max_init_ms, targets.max_init_ms],
    ['floor: bare PutItem/s', results.floor_putitem_per_s, `same DynamoDB Local, concurrency ${CONCURRENCY}`],
  ];
  console.log(`\n| metric | value | target |\n| --- | --- | --- |`);
  for (const [k, v, t] of rows) console.log(`| ${k} | ${v} | ${t} |`);
  console.log('\nbundles (KB):', results.bundles_kb);
  console.log('init (ms, median of 7):', results.init_ms);
} finally {
  await stack.stop();
  rmSync(dataDir, { recursive: true, force: true });
}
