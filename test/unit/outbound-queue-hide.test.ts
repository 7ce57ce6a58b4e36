import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startFakeServer, type FakeRequest, type RunningServer } from '#test/fakes/http-server.ts';

/*
 * A send job held back (broadcast pacing) is hidden with ChangeMessageVisibility. Real SQS counts the
 * 12-hour visibility limit from the message's receive and refuses, rather than shortens, a timeout that
 * would end later (the local emulator only checks each call's value). The real SQS client is pointed
 * at a local server that speaks the SQS JSON protocol and enforces that rule, for a job received just now.
 */

const QUEUE_URL = 'http://sqs.local/000000000000/outbound.fifo';
let server: RunningServer;
const receivedAt = Date.now();
const asked: number[] = [];
const saved: Record<string, string | undefined> = {};
const names = ['SQS_ENDPOINT', 'OUTBOUND_QUEUE_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'];

function answer(req: FakeRequest) {
  const json = (status: number, body: unknown) => ({ status, headers: { 'content-type': 'application/x-amz-json-1.0' }, body: JSON.stringify(body) });
  if (req.headers['x-amz-target'] !== 'AmazonSQS.ChangeMessageVisibility') return json(400, { __type: 'com.amazonaws.sqs#InvalidAction', message: 'unexpected action' });
  const { VisibilityTimeout } = JSON.parse(req.rawBody.toString('utf8')) as { VisibilityTimeout: number };
  asked.push(VisibilityTimeout);
  const left = 43_200 - (Date.now() - receivedAt) / 1000;
  if (VisibilityTimeout > left) {
    return json(400, { __type: 'com.amazonaws.sqs#InvalidParameterValueException', message: 'Value for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [43200 seconds].' });
  }
  return json(200, {});
}

beforeAll(async () => {
  server = await startFakeServer(answer);
  for (const name of names) saved[name] = process.env[name];
  Object.assign(process.env, { SQS_ENDPOINT: server.baseUrl, OUTBOUND_QUEUE_URL: QUEUE_URL, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
  vi.resetModules();
});
afterAll(async () => {
  for (const name of names) {
    if (saved[name] === undefined) delete process.env[name];
    else process.env[name] = saved[name];
  }
  await server.close();
});

describe('hiding a received send job', () => {
  it('hides a job held 17 hours for as long as SQS allows from its receive, not the 12 h it would refuse', async () => {
    const { sqsOutboundQueue, MAX_HIDE_SECONDS } = await import('#shared/adapters/sqs/outbound-queue.adapter.ts');
    await expect(sqsOutboundQueue.hideFor('receipt-1', 17 * 3600)).resolves.toBeUndefined();
    expect(asked.at(-1)).toBe(MAX_HIDE_SECONDS);
    // Nearly the whole 12 hours: the job comes back once, then is hidden for the rest of its wait.
    expect(MAX_HIDE_SECONDS).toBeGreaterThan(43_200 - 300);
  });

  it('hides a shorter wait for exactly that long, rounded up to whole seconds', async () => {
    const { sqsOutboundQueue } = await import('#shared/adapters/sqs/outbound-queue.adapter.ts');
    await sqsOutboundQueue.hideFor('receipt-2', 89.2);
    expect(asked.at(-1)).toBe(90);
  });
});
