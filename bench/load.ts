/**
 * Load generator, run as its own process so it does not share an event loop with the handlers it
 * measures: posts signed Twilio SMS webhooks (a new MessageSid each, from a pool of customers) at a fixed
 * concurrency for a fixed time, and prints one JSON line of results.
 *
 * Usage: tsx bench/load.ts <baseUrl> <authToken> <seconds> <concurrency> <customers>
 * With <seconds> = 0 it sends exactly one message from each customer (seeding), then stops.
 */
import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks.js';

const [baseUrl, authToken, secondsArg, concurrencyArg, customersArg] = process.argv.slice(2);
if (!baseUrl || !authToken) throw new Error('usage: load.ts <baseUrl> <authToken> <seconds> <concurrency> <customers>');
const seconds = Number(secondsArg ?? 20);
const concurrency = Number(concurrencyArg ?? 32);
const customers = Number(customersArg ?? 500);
const url = `${baseUrl}/webhooks/twilio/sms`;
const dispatcher = new Agent({ connections: concurrency, pipelining: 1, keepAliveTimeout: 30_000 });

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

const latencies: number[] = [];
let errors = 0;
let sent = 0;
const deadline = performance.now() + seconds * 1000;

const more = () => (seconds === 0 ? sent < customers : performance.now() < deadline);

async function worker(): Promise<void> {
  while (more()) {
    const { body, signature } = signedBody(sent++);
    const t0 = performance.now();
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
}

const started = performance.now();
await Promise.all(Array.from({ length: concurrency }, worker));
const elapsed = (performance.now() - started) / 1000;
await dispatcher.close();
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
console.log(JSON.stringify({ ok: latencies.length, errors, seconds: elapsed, rps: latencies.length / elapsed, p50: pct(50), p99: pct(99) }));
