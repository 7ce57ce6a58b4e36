/**
 * The outbound half of `npm run bench`, in its own process: a local stack whose Twilio adapter talks to
 * a local Twilio API fake (the same fake the contract tests use), so "sent" means the provider was
 * called. Prints one JSON line:
 * - outbound_per_s: approved template sends per second, from `POST /conversations/{id}/messages` to the
 *   provider fake receiving the call (through the outbound FIFO queue and the sender);
 * - approve_to_send_ms: p50 from the approval request to the first provider call for a send made right
 *   after it;
 *   (both after an untimed warm-up of BENCH_WARMUP_SENDS sends, default 600)
 * - floor_sends_per_s: the DynamoDB part of a send alone, for comparison: the same data-module calls
 *   the API and the sender make for one templated SMS (customer and consent, latest approved version,
 *   the queued message; then the message, the version (read once, then kept), the claim with its
 *   checks and `sent`), in a loop at the same concurrency against the same DynamoDB Local, with no HTTP,
 *   JWT, SQS or provider. What the emulator allows this design on this machine.
 *   tsx bench/outbound-run.ts <sends> <concurrency>
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getExpectedTwilioSignature } from 'twilio/lib/webhooks/webhooks.js';
import { loadOrCreateDevKey, signDevToken } from '#shared/auth/dev-issuer.ts';
import { startTwilioApiFake } from '#test/fakes/twilio-api.fake.ts';

const [sendsArg = '1200', concurrencyArg = '16'] = process.argv.slice(2);
const SENDS = Number(sendsArg);
const CONCURRENCY = Number(concurrencyArg);
const CUSTOMERS = 100;
const WARMUP_SENDS = Number(process.env.BENCH_WARMUP_SENDS ?? 600);

const twilio = await startTwilioApiFake();
const dataDir = mkdtempSync(join(tmpdir(), 'omni-bench-out-'));
const { startLocalStack } = await import('#local/stack.ts');
const stack = await startLocalStack({
  dataDir,
  port: 0,
  accessLog: false,
  applyToProcessEnv: true,
  dynamoDbInMemory: process.env.BENCH_DDB_IN_MEMORY === '1',
  env: {
    TWILIO_ACCOUNT_SID: twilio.accountSid,
    TWILIO_API_KEY_SID: twilio.apiKeySid,
    TWILIO_API_KEY_SECRET: twilio.apiKeySecret,
    TWILIO_FROM_NUMBER: '+16285550000',
    TWILIO_API_BASE_URL: twilio.baseUrl,
  },
  log: () => {},
});
const base = stack.baseUrl;
const key = await loadOrCreateDevKey(join(stack.env.DATA_DIR, 'dev-issuer-key.json'));
const token = (sub: string, roles: string[]) => signDevToken(key, { sub, roles, issuer: stack.env.JWT_ISSUER, audience: stack.env.JWT_AUDIENCE });
const [editor, approver, agent] = await Promise.all([token('bench-editor', ['editor']), token('bench-approver', ['approver']), token('bench-agent', ['agent'])]);

async function call(method: string, path: string, bearer: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

async function approvedTemplate(marker: string, measure = false): Promise<{ templateId: string; approveStartedAt: number }> {
  const draft = { name: `bench ${marker}`, variables: [{ name: 'first', required: true }], content: { sms: { body: `Hi {{first}}, your card is active (${marker}).` } } };
  const created = await call('POST', '/templates', editor, draft);
  const templateId = created.templateId as string;
  await call('POST', `/templates/${templateId}/versions/1/submit`, editor);
  const approveStartedAt = performance.now();
  await call('POST', `/templates/${templateId}/versions/1/approve`, approver, { contentHash: created.contentHash });
  return { templateId, approveStartedAt: measure ? approveStartedAt : 0 };
}

async function waitUntil(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!predicate()) {
    if (performance.now() > end) throw new Error('timed out waiting for the provider fake');
    await new Promise((r) => setTimeout(r, 2));
  }
}

try {
  // Customers: one inbound SMS each (their threads are where the sends land).
  const conversations: string[] = [];
  for (let i = 0; i < CUSTOMERS; i++) {
    const params = { MessageSid: `SM${i.toString(16).padStart(32, '0')}`, From: `+1628555${String(2000 + i)}`, To: '+16285550000', Body: 'hello', NumMedia: '0' };
    const url = `${base}/webhooks/twilio/sms`;
    await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': getExpectedTwilioSignature(stack.env.TWILIO_AUTH_TOKEN, url, params) },
      body: new URLSearchParams(params).toString(),
    });
    const found = await call('GET', `/customers?phone=${encodeURIComponent(params.From)}`, agent);
    conversations.push(found.conversationId as string);
  }

  // Throughput: SENDS approved sends through the API, timed until the provider has them all; first
  // WARMUP_SENDS of them untimed, before anything is measured (DynamoDB Local's JVM and Node compile their
  // hot paths over the first seconds of load; see bench/ingest-run.ts).
  const { templateId } = await approvedTemplate(`tput-${Date.now()}`);
  const sendMany = async (count: number) => {
    const before = twilio.requests.filter((r) => r.status < 300).length;
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < count) {
          const i = next++;
          await call('POST', `/conversations/${conversations[i % CUSTOMERS]}/messages`, agent, { channel: 'sms', templateId, variables: { first: `n${i}` } });
        }
      }),
    );
    const accepted = performance.now();
    await waitUntil(() => twilio.requests.filter((r) => r.status < 300).length - before >= count, 300_000);
    return { started, accepted, delivered: performance.now() };
  };
  await sendMany(WARMUP_SENDS);

  // approve → first provider call, p50 of 15.
  const approveToSend: number[] = [];
  for (let i = 0; i < 15; i++) {
    const marker = `a2s-${i}-${Date.now()}`;
    const { templateId, approveStartedAt } = await approvedTemplate(marker, true);
    await call('POST', `/conversations/${conversations[i % CUSTOMERS]}/messages`, agent, { channel: 'sms', templateId, variables: { first: 'Ada' } });
    await waitUntil(() => twilio.requests.some((r) => String(r.params.Body ?? '').includes(marker)), 30_000);
    approveToSend.push(performance.now() - approveStartedAt);
  }
  approveToSend.sort((a, b) => a - b);

  const { started, accepted, delivered } = await sendMany(SENDS);

  // The floor: the same DynamoDB calls, in this process, straight to the data module.
  const { getCustomerWithConsent } = await import('#shared/data/consent-store.ts');
  const { latestApprovedVersion, versionToSend } = await import('#shared/data/template-store.ts');
  const { appendOutboundMessage, getOutboundMessage, claimForSending, recordSent } = await import('#shared/data/outbound-store.ts');
  const { customerIdOf } = await import('#shared/domain/ids.ts');
  const { newOutboundMessageId } = await import('#shared/outbound/send-message.ts');
  let floorNext = 0;
  const floorStarted = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (floorNext < SENDS) {
        const i = floorNext++;
        const conversationId = conversations[i % CUSTOMERS]!;
        const { customer } = await getCustomerWithConsent(customerIdOf(conversationId)!, 'sms');
        const version = (await latestApprovedVersion(templateId))!;
        const messageId = newOutboundMessageId();
        const now = new Date().toISOString();
        await appendOutboundMessage({
          messageId, conversationId, customerId: customer!.customerId, channel: 'sms', direction: 'outbound', body: `Hi n${i}`, createdAt: now,
          to: '+16285550001', sentBy: 'bench-agent', automated: true, templateId, templateVersion: version.version, contentHash: version.contentHash, variables: { first: `n${i}` },
        });
        const message = (await getOutboundMessage(conversationId, messageId))!;
        await versionToSend(templateId, message.templateVersion!, message.contentHash);
        if ((await claimForSending(message, now)) !== 'claimed') throw new Error('floor: claim refused');
        await recordSent(conversationId, messageId, { provider: 'twilio', providerMessageId: `SM${i}` }, now);
      }
    }),
  );
  const floorSeconds = (performance.now() - floorStarted) / 1000;
  console.log(
    JSON.stringify({
      bench: true,
      outbound_per_s: SENDS / ((delivered - started) / 1000),
      api_accept_per_s: SENDS / ((accepted - started) / 1000),
      approve_to_send_ms_p50: approveToSend[Math.floor(approveToSend.length / 2)],
      approve_to_send_ms_max: approveToSend[approveToSend.length - 1],
      sends: SENDS,
      warmup_sends: WARMUP_SENDS,
      floor_sends_per_s: SENDS / floorSeconds,
    }),
  );
} finally {
  await stack.stop();
  await twilio.close();
  rmSync(dataDir, { recursive: true, force: true });
}
process.exit(0);
