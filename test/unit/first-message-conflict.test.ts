import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeServer, type FakeAnswer, type RunningServer } from '#test/fakes/http-server.ts';

/*
 * Two first messages of a new sender at once, on DynamoDB itself: the loser's create of the identity
 * and customer is cancelled with `TransactionConflict` while the winner's transaction is in flight (DynamoDB
 * Local settles the two one after the other, so it only ever shows the condition failure). The loser
 * must read again and join the winner, not fail the webhook (Twilio does not retry an SMS webhook).
 * The real SDK client, against a local server answering DynamoDB's JSON protocol.
 */

let server: RunningServer;
const calls: Array<{ target: string; consistent: boolean }> = [];
const json = (body: unknown): FakeAnswer => ({ status: 200, headers: { 'content-type': 'application/x-amz-json-1.0' }, body: JSON.stringify(body) });
const conflict: FakeAnswer = {
  status: 400,
  headers: { 'content-type': 'application/x-amz-json-1.0' },
  body: JSON.stringify({
    __type: 'com.amazonaws.dynamodb.v20120810#TransactionCanceledException',
    message: 'Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict, None]',
    CancellationReasons: [{ Code: 'TransactionConflict', Message: 'Transaction is ongoing for the item' }, { Code: 'None' }],
  }),
};
const WINNER = 'cus_0123456789abcdef0123456789abcdef';
/** How many creates conflict before the winner's identity is visible to a consistent read. */
let conflictsLeft = 1;

beforeAll(async () => {
  server = await startFakeServer((req) => {
    const target = String(req.headers['x-amz-target']).split('.').pop()!;
    const consistent = (JSON.parse(req.rawBody.toString()) as { ConsistentRead?: boolean }).ConsistentRead === true;
    calls.push({ target, consistent });
    const winnerVisible = conflictsLeft === 0 && consistent;
    if (target === 'GetItem') return json(winnerVisible ? { Item: { customerId: { S: WINNER } } } : {});
    if (target === 'TransactWriteItems') {
      if (conflictsLeft > 0) {
        conflictsLeft--;
        return conflict;
      }
      return json({});
    }
    return json({});
  });
  Object.assign(process.env, { DYNAMODB_ENDPOINT: server.baseUrl, TABLE_NAME: 't', AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'x' });
});
afterAll(() => server.close());
beforeEach(() => {
  calls.length = 0;
  conflictsLeft = 1;
});

const workQueue = { enqueue: async () => {} } as never;

describe('a first message whose create loses to one in flight (TransactionConflict)', () => {
  it('SMS, voice, email (resolveSender): reads again, consistently, and joins the winner', async () => {
    const { resolveSender } = await import('#shared/ingest/resolve-customer.ts');
    expect(await resolveSender({ from: { kind: 'phone', value: '+14155550100' }, now: new Date().toISOString(), workQueue })).toBe(WINNER);
    expect(calls).toEqual([
      { target: 'GetItem', consistent: false },
      { target: 'TransactWriteItems', consistent: false },
      { target: 'GetItem', consistent: true },
    ]);
  });

  it('keeps trying while the winner is still in flight, then joins it', async () => {
    conflictsLeft = 3;
    const { resolveSender } = await import('#shared/ingest/resolve-customer.ts');
    expect(await resolveSender({ from: { kind: 'email', value: 'jo@example.com' }, now: new Date().toISOString(), workQueue })).toBe(WINNER);
    expect(calls.filter((c) => c.target === 'TransactWriteItems')).toHaveLength(3);
  });

  it('chat (resolveCustomer): reads again and joins the winner', async () => {
    const { resolveCustomer } = await import('#shared/ingest/resolve-customer.ts');
    expect(await resolveCustomer({ from: { kind: 'chat', value: 'user-1' }, now: new Date().toISOString(), workQueue })).toBe(WINNER);
    expect(calls.map((c) => c.target)).toEqual(['GetItem', 'TransactWriteItems', 'GetItem']);
  });
});
