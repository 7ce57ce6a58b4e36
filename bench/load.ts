/**
 * Load generator, run as its own process so it does not share an event loop with the handlers it
 * measures: posts signed Twilio SMS webhooks (a new MessageSid each, from a pool of customers) for a fixed
 * time, and prints one JSON line of results. Two shapes of load:
 * - closed loop (`<rate>` 0 or absent): `<concurrency>` senders, each posting as soon as its previous
 *   request was answered: the most the stack can take (throughput), with the queueing that saturation brings;
 * - open loop (`<rate>` > 0): one request every 1/rate s on a fixed schedule, whatever the answers, as
 *   providers deliver webhooks; a request's latency counts from its scheduled time, so a stalled stack
 *   cannot hide its backlog (no coordinated omission). At most `<concurrency>` × 8 requests are in flight;
 *   a request that could not start on time counts from its schedule all the same.
 *
 * The generator's own work is kept out of what it measures, since it shares the machine's two cores
 * with the stack: the signed bodies are made before the clock starts.
 *
 * Usage: tsx bench/load.ts <baseUrl> <authToken> <seconds> <concurrency> <customers> [<rate>]
 * With <seconds> = 0 it sends exactly one message from each customer (seeding), then stops.
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks.js';

const [baseUrl, authToken, secondsArg, concurrencyArg, customersArg, rateArg] = process.argv.slice(2);
if (!baseUrl || !authToken) throw new Error('usage: load.ts <baseUrl> <authToken> <seconds> <concurrency> <customers> [<rate>]');
const seconds = Number(secondsArg ?? 20);
const concurrency = Number(concurrencyArg ?? 32);
const customers = Number(customersArg ?? 500);
const rate = Number(rateArg ?? 0);
const url = `${baseUrl}/webhooks/twilio/sms`;
const dispatcher = new Agent({ connections: rate > 0 ? concurrency * 8 : concurrency, pipelining: 1, keepAliveTimeout: 30_000 });

function signedBody(i: number): { body: string; signature: string } {
  const params = {
    MessageSid: `SM${randomBytes(16).toString('hex')}`,
    AccountSid: `AC${'0'.repeat(32)}`,
    From: `+1415555${String(1000 + (i % customers)).padStart(4, '0')}`,
    To: '+14155550000',
    Body: `benchmark message ${i}`,
    NumMedia: '0',
  };
  return { body: new URLSearchParams(params).toString(), signature: getExpectedTwilioSignature(authToken!, url, params) };
}

/**
 * Signed bodies made ahead: enough for the open loop's schedule, or for the closed loop at up to 1,500/s;
 * past them (never seen here), a body is made when it is sent.
 */
const prepared = Array.from({ length: seconds === 0 ? customers : Math.ceil(seconds * (rate > 0 ? rate : 1500)) + 1 }, (_, i) => signedBody(i));
let signedInline = 0;
const bodyFor = (i: number) => prepared[i] ?? (signedInline++, signedBody(i));

const latencies: number[] = [];
let errors = 0;
let sent = 0;
let deadline = Number.POSITIVE_INFINITY;

const more = () => (seconds === 0 ? sent < customers : performance.now() < deadline);

/** One signed webhook; its latency counts from `t0` (now, or its scheduled time in the open loop). */
async function post(i: number, t0: number): Promise<void> {
  const { body, signature } = bodyFor(i);
  try {
    const res = await request(url, {
      method: 'POST',
      dispatcher,
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
      body,
    });
    await res.body.text();
    if (res.statusCode === 200) latencies.push(performance.now() - t0);
    else errors++;
  } catch {
    errors++;
  }
}

async function closedLoopWorker(): Promise<void> {
  while (more()) await post(sent++, performance.now());
}

/** Starts request k at `started + k / rate`; waits only when `maxInFlight` are outstanding. */
async function openLoop(started: number): Promise<void> {
  const maxInFlight = concurrency * 8;
  const inFlight = new Set<Promise<void>>();
  for (let k = 0; more(); k++) {
    const due = started + (k * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    sent++;
    const p = post(k, due).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await Promise.all(inFlight);
}

const started = performance.now();
deadline = started + seconds * 1000;
if (rate > 0) await openLoop(started);
else await Promise.all(Array.from({ length: concurrency }, closedLoopWorker));
const elapsed = (performance.now() - started) / 1000;
await dispatcher.close();
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
console.log(JSON.stringify({ ok: latencies.length, errors, seconds: elapsed, rps: latencies.length / elapsed, p50: pct(50), p99: pct(99), signedInline }));
