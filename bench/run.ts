/**
 * `npm run bench`: the product's speed and size figures, measured on this machine against the local
 * stack. Prints a table and writes bench/results.json. A benchmark, not a test: it asserts nothing.
 *
 * The ingest path is measured twice: against the stack as `npm start` runs it (DynamoDB Local on disk,
 * the headline figures) and with DynamoDB Local in memory, each beside its floor (bare PutItem calls
 * at the same concurrency against the same DynamoDB Local), so what the product costs and what the
 * emulator costs can be told apart.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const run = promisify(execFile);
const LOAD_SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);

const { httpRoutes, queueConsumers } = await import('#shared/routes.ts');

/**
 * Runs one measured child (`bench/<script>`) and resolves with its result: the last stdout line that is a
 * JSON object with `bench: true`. The stack's handlers log to that stdout as they would in Lambda (a line
 * per stored message); those lines are read line by line and dropped, not kept in memory.
 */
function runChild<T>(script: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(root, 'bench', script), ...args], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let result: string | undefined;
    let tail = '';
    createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => {
      if (line.startsWith('{') && line.includes('"bench":true')) result = line;
      tail = line;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`${script} ${args.join(' ')} exited ${code}`));
      else if (result === undefined) reject(new Error(`no result line from ${script}; last line: ${tail.slice(-500)}`));
      else resolvePromise(JSON.parse(result) as T);
    });
  });
}
const { esbuildOptionsFor } = await import('#infra/bundling.ts');

/** Every handler bundled exactly as the CDK stack bundles it; size and median cold import time. */
async function measureBundles(): Promise<{ sizes: Record<string, number>; initMs: Record<string, number> }> {
  const outDir = join(root, '.build', 'bench');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const sizes: Record<string, number> = {};
  const initMs: Record<string, number> = {};
  const entries = [...httpRoutes.filter((r) => r.auth !== 'dev'), ...queueConsumers].map((r) => ({ name: r.name, entry: r.entry }));
  const env = { ...process.env, TABLE_NAME: 'bench', AWS_REGION: 'us-east-1', INBOUND_WORK_QUEUE_URL: 'http://127.0.0.1:1/queue', PUBLIC_BASE_URL: 'http://127.0.0.1:1' };
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

type LoadFigures = { ok: number; errors: number; rps: number; p50: number; p99: number };
type IngestRun = {
  warmupSeconds: number;
  leadInSeconds: number;
  leadIn: LoadFigures;
  load: LoadFigures;
  atRate: LoadFigures & { rate: number };
  wcu: number;
  rcu: number;
  floor: { putsPerSecond: number; p50: number; p99: number; ingestsPerSecond: number };
  thread?: { rcu100: number; rcu10000: number };
};

function ingestRun(mode: 'disk' | 'memory', withThreads: boolean): Promise<IngestRun> {
  return runChild('ingest-run.ts', [mode, String(LOAD_SECONDS), String(CONCURRENCY), withThreads ? '1' : '0']);
}

type OutboundRun = {
  outbound_per_s: number;
  api_accept_per_s: number;
  approve_to_send_ms_p50: number;
  approve_to_send_ms_max: number;
  sends: number;
  warmup_sends: number;
  floor_sends_per_s: number;
};

function outboundRun(mode: 'disk' | 'memory'): Promise<OutboundRun> {
  return runChild('outbound-run.ts', [String(process.env.BENCH_SENDS ?? 1200), '16'], { ...process.env, BENCH_DDB_IN_MEMORY: mode === 'memory' ? '1' : '0' });
}

const bundles = await measureBundles();
const disk = await ingestRun('disk', false);
const memory = await ingestRun('memory', true);
const outbound = await outboundRun('disk');
const outboundMemory = await outboundRun('memory');
const round = (n: number, digits = 1) => Number(n.toFixed(digits));

const results = {
  ingest_rps: Math.round(disk.load.rps),
  ingest_p99_ms: round(disk.atRate.p99),
  ingest_p50_ms: round(disk.atRate.p50),
  ingest_offered_rps: disk.atRate.rate,
  ingest_achieved_rps_at_offered: Math.round(disk.atRate.rps),
  ingest_p99_ms_lead_in: round(disk.leadIn.p99),
  ingest_p99_ms_saturated: round(disk.load.p99),
  ingest_p50_ms_saturated: round(disk.load.p50),
  ingest_errors: disk.load.errors + disk.atRate.errors,
  wcu_per_inbound: round(disk.wcu, 2),
  rcu_per_inbound: round(disk.rcu, 2),
  thread_read_rcu_100: memory.thread!.rcu100,
  thread_read_rcu_10000: memory.thread!.rcu10000,
  max_bundle_kb: round(Math.max(...Object.values(bundles.sizes))),
  max_init_ms: round(Math.max(...Object.values(bundles.initMs))),
  floor_putitem_per_s: Math.round(disk.floor.putsPerSecond),
  floor_putitem_p99_ms: round(disk.floor.p99),
  floor_ingest_data_per_s: Math.round(disk.floor.ingestsPerSecond),
  floor_ingest_data_per_s_ddb_in_memory: Math.round(memory.floor.ingestsPerSecond),
  ingest_rps_ddb_in_memory: Math.round(memory.load.rps),
  ingest_p99_ms_ddb_in_memory: round(memory.atRate.p99),
  ingest_p50_ms_ddb_in_memory: round(memory.atRate.p50),
  ingest_achieved_rps_at_offered_ddb_in_memory: Math.round(memory.atRate.rps),
  ingest_p99_ms_lead_in_ddb_in_memory: round(memory.leadIn.p99),
  ingest_p99_ms_saturated_ddb_in_memory: round(memory.load.p99),
  ingest_p50_ms_saturated_ddb_in_memory: round(memory.load.p50),
  wcu_per_inbound_ddb_in_memory: round(memory.wcu, 2),
  floor_putitem_per_s_ddb_in_memory: Math.round(memory.floor.putsPerSecond),
  floor_putitem_p99_ms_ddb_in_memory: round(memory.floor.p99),
  outbound_per_s: round(outbound.outbound_per_s),
  outbound_api_accept_per_s: round(outbound.api_accept_per_s),
  approve_to_send_ms: round(outbound.approve_to_send_ms_p50),
  approve_to_send_ms_max: round(outbound.approve_to_send_ms_max),
  outbound_sends: outbound.sends,
  floor_outbound_data_per_s: round(outbound.floor_sends_per_s),
  floor_outbound_data_per_s_ddb_in_memory: round(outboundMemory.floor_sends_per_s),
  outbound_per_s_ddb_in_memory: round(outboundMemory.outbound_per_s),
  approve_to_send_ms_ddb_in_memory: round(outboundMemory.approve_to_send_ms_p50),
  load_seconds: LOAD_SECONDS,
  ingest_warmup_seconds: disk.warmupSeconds,
  ingest_open_loop_lead_in_seconds: disk.leadInSeconds,
  outbound_warmup_sends: outbound.warmup_sends,
  concurrency: CONCURRENCY,
  bundles_kb: Object.fromEntries(Object.entries(bundles.sizes).map(([k, v]) => [k, round(v)])),
  init_ms: Object.fromEntries(Object.entries(bundles.initMs).map(([k, v]) => [k, round(v)])),
  measured_at: new Date().toISOString(),
};
writeFileSync(join(root, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);

const rows: Array<[string, string | number, string | number, string]> = [
  ['ingest_rps (signed SMS/s via gateway, closed loop)', results.ingest_rps, results.ingest_rps_ddb_in_memory, '>= 300'],
  [`ingest_p99_ms (open loop, ${results.ingest_offered_rps}/s offered)`, results.ingest_p99_ms, results.ingest_p99_ms_ddb_in_memory, '<= 25'],
  [`ingest_p50_ms (open loop, ${results.ingest_offered_rps}/s offered)`, results.ingest_p50_ms, results.ingest_p50_ms_ddb_in_memory, ''],
  ['  achieved /s at that offered load', results.ingest_achieved_rps_at_offered, results.ingest_achieved_rps_at_offered_ddb_in_memory, ''],
  [`  p99 ms of the ${results.ingest_open_loop_lead_in_seconds} s lead-in at that load, just after the closed loop`, results.ingest_p99_ms_lead_in, results.ingest_p99_ms_lead_in_ddb_in_memory, ''],
  ['ingest_p99_ms_saturated (closed loop)', results.ingest_p99_ms_saturated, results.ingest_p99_ms_saturated_ddb_in_memory, ''],
  ['ingest_p50_ms_saturated (closed loop)', results.ingest_p50_ms_saturated, results.ingest_p50_ms_saturated_ddb_in_memory, ''],
  ['ingest_errors', results.ingest_errors, memory.load.errors + memory.atRate.errors, '0'],
  ['wcu_per_inbound', results.wcu_per_inbound, results.wcu_per_inbound_ddb_in_memory, '<= 2'],
  ['rcu_per_inbound', results.rcu_per_inbound, round(memory.rcu, 2), ''],
  ['floor: bare PutItem/s', results.floor_putitem_per_s, results.floor_putitem_per_s_ddb_in_memory, `concurrency ${CONCURRENCY}`],
  ['floor: bare PutItem p99 ms', results.floor_putitem_p99_ms, results.floor_putitem_p99_ms_ddb_in_memory, ''],
  ['floor: the DynamoDB calls of an SMS webhook alone, /s', results.floor_ingest_data_per_s, results.floor_ingest_data_per_s_ddb_in_memory, `concurrency ${CONCURRENCY}`],
  ['thread_read_rcu_100', '', results.thread_read_rcu_100, '= thread_read_rcu_10000'],
  ['thread_read_rcu_10000', '', results.thread_read_rcu_10000, ''],
  ['outbound_per_s (API → Twilio fake)', results.outbound_per_s, results.outbound_per_s_ddb_in_memory, '>= 200'],
  ['floor: the DynamoDB calls of a send alone, sends/s', results.floor_outbound_data_per_s, results.floor_outbound_data_per_s_ddb_in_memory, 'concurrency 16'],
  ['approve_to_send_ms (p50)', results.approve_to_send_ms, results.approve_to_send_ms_ddb_in_memory, ''],
  ['max_bundle_kb', results.max_bundle_kb, '', '<= 600'],
  ['max_init_ms', results.max_init_ms, '', '<= 150'],
];
console.log(`\n| metric | DynamoDB Local on disk (npm start) | DynamoDB Local in memory | target |\n| --- | --- | --- | --- |`);
for (const [k, a, b, t] of rows) console.log(`| ${k} | ${a} | ${b} | ${t} |`);
console.log(
  `\nload figures measured after an untimed warm-up: ${results.ingest_warmup_seconds} s of webhooks (and the ${results.ingest_open_loop_lead_in_seconds} s lead-in at the offered rate before the open loop); ${results.outbound_warmup_sends} sends before ${results.outbound_sends} timed ones`,
);
console.log('\nbundles (KB):', results.bundles_kb);
console.log('init (ms, median of 7):', results.init_ms);
