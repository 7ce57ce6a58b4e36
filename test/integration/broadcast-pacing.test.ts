import { DeleteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { applyStackEnv, baseUrl, dynamo, postChat, stackEnv, staffToken, waitFor, watchingDynamo } from '#test/helpers/index.ts';
import type { SendMessageCommand } from '#shared/outbound/send-message.ts';
import { allMessages, freshId } from './support.ts';

// The broadcast use case itself, in this process against the stack's DynamoDB and outbound queue, with
// the real send step (the message into the thread, the job onto the queue) and a fixed clock: pacing with
// a fractional rate, the time budget, and a store failure on one customer (injected in front of the real
// send: DynamoDB Local cannot be made to throttle one key).
type Broadcast = typeof import('#shared/outbound/broadcast.ts');
type OutboundStore = typeof import('#shared/data/outbound-store.ts');

async function call(path: string, as: { sub: string; roles: string[] }, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${await staffToken(as.sub, as.roles)}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${baseUrl()}${path}`, { method: 'POST', headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
}

async function chatCustomers(count: number): Promise<Array<{ customerId: string; conversationId: string }>> {
  return Promise.all(
    Array.from({ length: count }, async () => {
      const res = await postChat(baseUrl(), { messageId: freshId('m'), userId: freshId('user'), text: 'hi', sentAt: new Date().toISOString() }, { secret: stackEnv().CHAT_WEBHOOK_SECRET });
      const { conversationId } = (await res.json()) as { conversationId: string };
      return { customerId: `cus_${conversationId.slice('conv_'.length)}`, conversationId };
    }),
  );
}

async function approvedChatTemplate(): Promise<string> {
  const editor = { sub: freshId('editor'), roles: ['editor'] };
  const created = await call('/templates', editor, { name: 'Notice', variables: [], content: { chat: { body: 'Maintenance tonight.' } } });
  const { templateId } = (await created.json()) as { templateId: string };
  expect((await call(`/templates/${templateId}/versions/1/submit`, editor)).status).toBe(200);
  expect((await call(`/templates/${templateId}/versions/1/approve`, { sub: freshId('approver'), roles: ['approver'] })).status).toBe(200);
  return templateId;
}

describe('broadcast use case: pacing and time budget', () => {
  let restoreEnv: () => void;
  let broadcast: Broadcast;
  let store: OutboundStore;
  // Far ahead: the sender holds these messages (notBefore) for the whole test run.
  const start = new Date('2030-01-01T00:00:00.000Z');

  beforeAll(async () => {
    restoreEnv = applyStackEnv();
    // Imported after the env is applied: the data module reads DYNAMODB_ENDPOINT when it loads.
    broadcast = await import('#shared/outbound/broadcast.ts');
    store = await import('#shared/data/outbound-store.ts');
  });
  afterAll(() => restoreEnv());

  // Each channel's pacing window is shared by every broadcast: these tests reserve windows in 2030, which
  // would hold every later broadcast of the run until then. Each starts and leaves the windows empty.
  const clearPacingWindows = async () => {
    const env = stackEnv();
    for (const channel of ['sms', 'email', 'chat', 'voice']) await dynamo(env).send(new DeleteCommand({ TableName: env.TABLE_NAME, Key: { pk: `PACE#${channel}`, sk: 'META' } }));
  };
  beforeEach(clearPacingWindows);
  afterEach(clearPacingWindows);

  /** The real send step, with the commands it was given recorded. */
  function recordingSender() {
    const sent: SendMessageCommand[] = [];
    const sendMessage = (cmd: SendMessageCommand) => {
      sent.push(cmd);
      return broadcast.defaultBroadcastDeps.sendMessage(cmd);
    };
    return { sent, sendMessage };
  }

  const outboundOf = async (conversationId: string) => (await allMessages(conversationId)).filter((m) => m.direction === 'outbound');

  it('holds message k until start + floor(k / rate) seconds, also for a fractional rate', async () => {
    // Prepare
    const customers = await chatCustomers(4);
    const templateId = await approvedChatTemplate();
    const { sent, sendMessage } = recordingSender();
    // Act
    const result = await broadcast.startBroadcast(
      { templateId, channel: 'chat', customerIds: customers.map((c) => c.customerId), createdBy: 'agent-1' },
      { sendMessage, now: () => start, ratePerSecond: () => 0.5 },
    );
    // Assess
    expect(result.refused).toEqual([]);
    expect(result.accepted.map((a) => a.notBefore)).toEqual(['2030-01-01T00:00:00.000Z', '2030-01-01T00:00:02.000Z', '2030-01-01T00:00:04.000Z', '2030-01-01T00:00:06.000Z']);
    expect(sent.map((c) => [c.conversationId, c.broadcastId, c.version, c.sentBy])).toEqual(customers.map((c) => [c.conversationId, result.broadcastId, 1, 'agent-1']));
    // Each customer's thread holds one queued message, held until its slot.
    for (const [i, c] of customers.entries()) {
      const accepted = result.accepted[i]!;
      expect((await outboundOf(c.conversationId)).map((m) => m.messageId)).toEqual([accepted.messageId]);
      expect(await store.getOutboundMessage(c.conversationId, accepted.messageId)).toMatchObject({
        status: 'queued',
        notBefore: accepted.notBefore,
        broadcastId: result.broadcastId,
        templateId,
        templateVersion: 1,
        sentBy: 'agent-1',
        body: 'Maintenance tonight.',
      });
    }
  });

  it('makes broadcasts on one channel take turns: the next starts where the window of the one before ends', async () => {
    // Prepare
    const customers = await chatCustomers(5);
    const templateId = await approvedChatTemplate();
    const deps = { ...recordingSender(), now: () => start, ratePerSecond: () => 1 };
    const ids = customers.map((c) => c.customerId);
    // Act: one broadcast of two, then one of three, both asked for at the same instant
    const first = await broadcast.startBroadcast({ templateId, channel: 'chat', customerIds: ids.slice(0, 2), createdBy: 'agent-1' }, deps);
    const second = await broadcast.startBroadcast({ templateId, channel: 'chat', customerIds: ids.slice(2), createdBy: 'agent-2' }, deps);
    // Assess: one message a second on the channel, across both
    const at = (r: typeof first) => r.accepted.map((a) => (Date.parse(a.notBefore) - start.getTime()) / 1000);
    expect(at(first)).toEqual([0, 1]);
    expect(at(second)).toEqual([2, 3, 4]);
  });

  it('reserves whole seconds, so at a fractional rate the next broadcast never shares the last second of the one before', async () => {
    const customers = await chatCustomers(7);
    const templateId = await approvedChatTemplate();
    const ids = customers.map((c) => c.customerId);
    const deps = { ...recordingSender(), now: () => start, ratePerSecond: () => 3 };
    const first = await broadcast.startBroadcast({ templateId, channel: 'chat', customerIds: ids.slice(0, 4), createdBy: 'agent-1' }, deps);
    const second = await broadcast.startBroadcast({ templateId, channel: 'chat', customerIds: ids.slice(4), createdBy: 'agent-1' }, deps);
    const at = (r: typeof first) => r.accepted.map((a) => (Date.parse(a.notBefore) - start.getTime()) / 1000);
    expect(at(first)).toEqual([0, 0, 0, 1]);
    expect(at(second)).toEqual([2, 2, 2]);
  });

  it('refuses a broadcast (409 pacing_backlog, nothing queued) whose window would end beyond what the outbound queue keeps', async () => {
    // Prepare: one broadcast books the channel for the whole horizon
    const customers = await chatCustomers(3);
    const templateId = await approvedChatTemplate();
    const ids = customers.map((c) => c.customerId);
    const slow = { ...recordingSender(), now: () => start, ratePerSecond: () => 1 / broadcast.MAX_PACING_HORIZON_SECONDS };
    expect((await broadcast.startBroadcast({ templateId, channel: 'chat', customerIds: ids.slice(0, 1), createdBy: 'agent-1' }, slow)).accepted).toHaveLength(1);
    // Act
    const { sent, sendMessage } = recordingSender();
    const refused = broadcast.startBroadcast({ templateId, channel: 'chat', customerIds: ids.slice(1), createdBy: 'agent-2' }, { sendMessage, now: () => start, ratePerSecond: () => 1 });
    // Assess
    await expect(refused).rejects.toMatchObject({ code: 'pacing_backlog', message: expect.stringContaining('booked until 2030-01-04T00:00:00.000Z') });
    // One too big for the horizon on its own is told so, whatever the channel's bookings.
    const tooBig = broadcast.startBroadcast({ templateId, channel: 'chat', customerIds: ids.slice(1), createdBy: 'agent-2' }, { sendMessage, now: () => start, ratePerSecond: () => 1 / broadcast.MAX_PACING_HORIZON_SECONDS });
    await expect(tooBig).rejects.toMatchObject({ code: 'pacing_backlog', message: expect.stringContaining('needs 2 chat slots') });
    expect(sent).toEqual([]);
    for (const c of customers.slice(1)) expect(await outboundOf(c.conversationId)).toEqual([]);
  });

  it('gives broadcasts started at the same time windows that do not overlap', async () => {
    const customers = await chatCustomers(6);
    const templateId = await approvedChatTemplate();
    const ids = customers.map((c) => c.customerId);
    const deps = { ...recordingSender(), now: () => start, ratePerSecond: () => 1 };
    const results = await Promise.all([0, 2, 4].map((from) => broadcast.startBroadcast({ templateId, channel: 'chat', customerIds: ids.slice(from, from + 2), createdBy: 'agent-1' }, deps)));
    const seconds = results.flatMap((r) => r.accepted.map((a) => (Date.parse(a.notBefore) - start.getTime()) / 1000)).sort((a, b) => a - b);
    expect(seconds).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('never holds up an agent’s reply behind a broadcast message waiting for its slot in the same conversation', async () => {
    // Prepare: a broadcast message held until 2030 sits on the outbound queue for this customer.
    const [customer] = await chatCustomers(1);
    const templateId = await approvedChatTemplate();
    const held = await broadcast.startBroadcast({ templateId, channel: 'chat', customerIds: [customer!.customerId], createdBy: 'agent-1' }, { ...recordingSender(), now: () => start, ratePerSecond: () => 1 });
    expect(held.accepted).toHaveLength(1);
    // Act: an agent answers the customer now.
    const reply = await call(`/conversations/${customer!.conversationId}/messages`, { sub: 'agent-1', roles: ['agent'] }, { channel: 'chat', body: 'Your card is unblocked.' });
    expect(reply.status).toBe(202);
    const { messageId } = (await reply.json()) as { messageId: string };
    // Assess: the reply goes out; the broadcast message still waits for 2030.
    await waitFor(async () => (await store.getOutboundMessage(customer!.conversationId, messageId))?.status === 'sent', { timeoutMs: 15_000 });
    expect(await store.getOutboundMessage(customer!.conversationId, held.accepted[0]!.messageId)).toMatchObject({ status: 'queued', notBefore: start.toISOString() });
  });

  it('never holds up a broadcast on one channel behind another channel’s broadcast message waiting for its slot', async () => {
    // Prepare: a customer on chat and email; a chat broadcast message held until 2030 on the outbound queue.
    const res = await postChat(baseUrl(), { messageId: freshId('m'), userId: freshId('user'), text: 'hi', sentAt: new Date().toISOString(), email: `${freshId('pace')}@example.com` }, { secret: stackEnv().CHAT_WEBHOOK_SECRET });
    expect(res.status).toBe(200);
    const { conversationId } = (await res.json()) as { conversationId: string };
    const customerId = `cus_${conversationId.slice('conv_'.length)}`;
    const held = await broadcast.startBroadcast({ templateId: await approvedChatTemplate(), channel: 'chat', customerIds: [customerId], createdBy: 'agent-1' }, { ...recordingSender(), now: () => start, ratePerSecond: () => 1 });
    expect(held.accepted).toHaveLength(1);
    // Act: an email broadcast to the same customer, due now (email is paced on its own).
    const editor = { sub: freshId('editor'), roles: ['editor'] };
    const created = await call('/templates', editor, { name: 'Outage', variables: [], content: { email: { subject: 'Outage', text: 'Card payments are down; we are on it.' } } });
    const { templateId } = (await created.json()) as { templateId: string };
    expect((await call(`/templates/${templateId}/versions/1/submit`, editor)).status).toBe(200);
    expect((await call(`/templates/${templateId}/versions/1/approve`, { sub: freshId('approver'), roles: ['approver'] })).status).toBe(200);
    const notice = await broadcast.startBroadcast({ templateId, channel: 'email', customerIds: [customerId], createdBy: 'agent-1' }, { ...recordingSender(), now: () => new Date(), ratePerSecond: () => 10 });
    expect(notice.accepted).toHaveLength(1);
    // Assess: the email goes out now; the chat message still waits for 2030.
    await waitFor(async () => (await store.getOutboundMessage(conversationId, notice.accepted[0]!.messageId))?.status === 'sent', { timeoutMs: 15_000 });
    expect(await store.getOutboundMessage(conversationId, held.accepted[0]!.messageId)).toMatchObject({ status: 'queued', notBefore: start.toISOString() });
  });

  it('reports the customers it had no time left for as not_attempted, in order, and queues nothing for them', async () => {
    // Prepare
    const customers = await chatCustomers(3);
    const templateId = await approvedChatTemplate();
    const { sent, sendMessage } = recordingSender();
    // Act: the budget is already spent once the customers are read
    const result = await broadcast.startBroadcast(
      { templateId, channel: 'chat', customerIds: customers.map((c) => c.customerId), createdBy: 'agent-1' },
      { sendMessage, now: () => new Date(), ratePerSecond: () => 10, deadline: Date.now() },
    );
    // Assess
    expect(sent).toEqual([]);
    expect(result.accepted).toEqual([]);
    expect(result.refused.map((r) => [r.customerId, r.code])).toEqual(customers.map((c) => [c.customerId, 'not_attempted']));
    for (const c of customers) expect(await outboundOf(c.conversationId)).toEqual([]);
  });

  it('gives back the slots of customers it did not queue at the end of its window, so sending again to them does not wait for unused slots', async () => {
    // Prepare
    const customers = await chatCustomers(5);
    const templateId = await approvedChatTemplate();
    const ids = customers.map((c) => c.customerId);
    const { sendMessage } = recordingSender();
    // The last two customers' sends fail (a store fault): their slots (3 s and 4 s) were reserved.
    const failingLastTwo = async (cmd: SendMessageCommand) => {
      if (cmd.conversationId === customers[3]!.conversationId || cmd.conversationId === customers[4]!.conversationId) throw new Error('ProvisionedThroughputExceededException');
      return sendMessage(cmd);
    };
    // Act
    const first = await broadcast.startBroadcast({ templateId, channel: 'chat', customerIds: ids, createdBy: 'agent-1' }, { sendMessage: failingLastTwo, now: () => start, ratePerSecond: () => 1 });
    const again = await broadcast.startBroadcast({ templateId, channel: 'chat', customerIds: ids.slice(3), createdBy: 'agent-1' }, { ...recordingSender(), now: () => start, ratePerSecond: () => 1 });
    // Assess: the retry takes the slots right after the last queued message (2 s), not after the whole window (5 s).
    const at = (r: typeof first) => r.accepted.map((a) => (Date.parse(a.notBefore) - start.getTime()) / 1000);
    expect(at(first)).toEqual([0, 1, 2]);
    expect(first.refused.map((r) => r.code)).toEqual(['internal_error', 'internal_error']);
    expect(at(again)).toEqual([3, 4]);
  });

  it('gives back a whole window it queued nothing in', async () => {
    // Prepare
    const customers = await chatCustomers(4);
    const templateId = await approvedChatTemplate();
    const ids = customers.map((c) => c.customerId);
    const deps = { ...recordingSender(), now: () => start, ratePerSecond: () => 1 };
    const first = await broadcast.startBroadcast({ templateId, channel: 'chat', customerIds: ids.slice(0, 1), createdBy: 'agent-1' }, deps);
    // Act: a broadcast out of time before its first send (nothing queued) gives its two slots back…
    const outOfTime = await broadcast.startBroadcast({ templateId, channel: 'chat', customerIds: ids.slice(1, 3), createdBy: 'agent-1' }, { ...deps, deadline: Date.now() });
    expect(outOfTime.refused.map((r) => r.code)).toEqual(['not_attempted', 'not_attempted']);
    const next = await broadcast.startBroadcast({ templateId, channel: 'chat', customerIds: ids.slice(3), createdBy: 'agent-1' }, deps);
    // …and the next broadcast starts right after the first one's window.
    const at = (r: typeof first) => r.accepted.map((a) => (Date.parse(a.notBefore) - start.getTime()) / 1000);
    expect(at(first)).toEqual([0]);
    expect(at(next)).toEqual([1]);
  });

  it('never shortens the window of a broadcast that reserved after one with unused slots', async () => {
    // Prepare
    const customers = await chatCustomers(4);
    const templateId = await approvedChatTemplate();
    const ids = customers.map((c) => c.customerId);
    const deps = { ...recordingSender(), now: () => start, ratePerSecond: () => 1 };
    let secondReserved!: () => void;
    const afterSecond = new Promise<void>((resolve) => (secondReserved = resolve));
    // The first broadcast's last send fails, but only once a second broadcast has reserved its window.
    const failingLast = async (cmd: SendMessageCommand) => {
      if (cmd.conversationId !== customers[1]!.conversationId) return deps.sendMessage(cmd);
      await afterSecond;
      throw new Error('ProvisionedThroughputExceededException');
    };
    // Act
    const firstRun = broadcast.startBroadcast({ templateId, channel: 'chat', customerIds: ids.slice(0, 2), createdBy: 'agent-1' }, { ...deps, sendMessage: failingLast });
    await waitFor(async () => (await dynamo(stackEnv()).send(new GetCommand({ TableName: stackEnv().TABLE_NAME, Key: { pk: 'PACE#chat', sk: 'META' } }))).Item !== undefined);
    const second = await broadcast.startBroadcast({ templateId, channel: 'chat', customerIds: ids.slice(2, 3), createdBy: 'agent-2' }, deps);
    secondReserved();
    const first = await firstRun;
    const third = await broadcast.startBroadcast({ templateId, channel: 'chat', customerIds: ids.slice(3), createdBy: 'agent-3' }, deps);
    // Assess: the first one's unused slot (1 s) stays reserved, under the second's window (2 s).
    const at = (r: typeof first) => r.accepted.map((a) => (Date.parse(a.notBefore) - start.getTime()) / 1000);
    expect(at(first)).toEqual([0]);
    expect(first.refused.map((r) => r.code)).toEqual(['internal_error']);
    expect(at(second)).toEqual([2]);
    expect(at(third)).toEqual([3]);
  });

  it('answers with what it queued when the broadcast record cannot be completed afterwards, so the caller does not send it again', async () => {
    // Prepare: every UpdateItem on a broadcast record fails (the completion write), on the real client.
    const customers = await chatCustomers(2);
    const templateId = await approvedChatTemplate();
    const { dynamoClient } = await import('#shared/data/client.ts');
    let refusedWrites = 0;
    const failCompletion = (commandName: string, input: unknown) => {
      // The document client's command may reach here marshalled or not.
      const pk = (input as { Key?: { pk?: string | { S?: string } } }).Key?.pk;
      const key = typeof pk === 'string' ? pk : (pk?.S ?? '');
      if (/^Update/.test(commandName) && key.startsWith('BCAST#')) {
        refusedWrites++;
        throw Object.assign(new Error('Throughput exceeds the current capacity of your table'), { name: 'ProvisionedThroughputExceededException' });
      }
    };
    // Act
    const result = await watchingDynamo(dynamoClient, failCompletion, () =>
      broadcast.startBroadcast({ templateId, channel: 'chat', customerIds: customers.map((c) => c.customerId), createdBy: 'agent-1' }, { ...recordingSender(), now: () => start, ratePerSecond: () => 10 }),
    );
    // Assess: the completion write was refused, and the answer still lists both queued messages.
    expect(refusedWrites).toBeGreaterThan(0);
    expect(result.accepted.map((a) => a.customerId)).toEqual(customers.map((c) => c.customerId));
    for (const [i, c] of customers.entries()) expect((await outboundOf(c.conversationId)).map((m) => m.messageId)).toEqual([result.accepted[i]!.messageId]);
  });

  it('answers with what it queued by answerBy when the broadcast record’s write is held (a throttled table), not after it', async () => {
    // Prepare: the completion write is held until the test lets it go.
    const customers = await chatCustomers(2);
    const templateId = await approvedChatTemplate();
    const { dynamoClient } = await import('#shared/data/client.ts');
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let completionHeld = false;
    const holdCompletion = async (commandName: string, input: unknown) => {
      const pk = (input as { Key?: { pk?: string | { S?: string } } }).Key?.pk;
      const key = typeof pk === 'string' ? pk : (pk?.S ?? '');
      if (/^Update/.test(commandName) && key.startsWith('BCAST#')) {
        completionHeld = true;
        await held;
      }
    };
    // Act
    let result: Awaited<ReturnType<typeof broadcast.startBroadcast>>;
    try {
      result = await watchingDynamo(dynamoClient, holdCompletion, () =>
        broadcast.startBroadcast(
          { templateId, channel: 'chat', customerIds: customers.map((c) => c.customerId), createdBy: 'agent-1' },
          { ...recordingSender(), now: () => start, ratePerSecond: () => 10, answerBy: Date.now() + 2000 },
        ),
      );
    } finally {
      release();
    }
    // Assess: answered while the write was still held, listing both queued messages.
    expect(completionHeld).toBe(true);
    expect(result.accepted.map((a) => a.customerId)).toEqual(customers.map((c) => c.customerId));
    expect(result.refused).toEqual([]);
    for (const [i, c] of customers.entries()) expect((await outboundOf(c.conversationId)).map((m) => m.messageId)).toEqual([result.accepted[i]!.messageId]);
  });

  it('refuses (opted_out) a customer merged into another while the merge is under way, whose own opt-out the survivor has not been given yet', async () => {
    // Prepare
    const [absorbed, survivor, other] = await chatCustomers(3);
    const templateId = await approvedChatTemplate();
    const { markCustomerMerged } = await import('#shared/data/conversation-store.ts');
    const { setConsent } = await import('#shared/data/consent-store.ts');
    const now = new Date().toISOString();
    await setConsent({ customerId: absorbed!.customerId, channel: 'chat', status: 'opted_out', source: 'staff', actor: 'agent-1', now });
    await markCustomerMerged(absorbed!.customerId, survivor!.customerId, now);
    // Act
    const result = await broadcast.startBroadcast(
      { templateId, channel: 'chat', customerIds: [absorbed!.customerId, other!.customerId], createdBy: 'agent-1' },
      { ...recordingSender(), now: () => start, ratePerSecond: () => 10 },
    );
    // Assess
    expect(result.refused.map((r) => [r.customerId, r.code])).toEqual([[absorbed!.customerId, 'opted_out']]);
    expect(result.accepted.map((a) => a.customerId)).toEqual([other!.customerId]);
    expect(await outboundOf(survivor!.conversationId)).toEqual([]);
    expect(await outboundOf(absorbed!.conversationId)).toEqual([]);
  });

  it('reports a store failure on one customer for a retry and still queues the others', async () => {
    // Prepare
    const customers = await chatCustomers(3);
    const templateId = await approvedChatTemplate();
    const { sendMessage } = recordingSender();
    const failing = async (cmd: SendMessageCommand) => {
      if (cmd.conversationId === customers[1]!.conversationId) throw new Error('ProvisionedThroughputExceededException');
      return sendMessage(cmd);
    };
    // Act
    const result = await broadcast.startBroadcast(
      { templateId, channel: 'chat', customerIds: customers.map((c) => c.customerId), createdBy: 'agent-1' },
      { sendMessage: failing, now: () => start, ratePerSecond: () => 10 },
    );
    // Assess
    expect(result.accepted.map((a) => a.customerId)).toEqual([customers[0]!.customerId, customers[2]!.customerId]);
    expect(result.refused).toEqual([{ customerId: customers[1]!.customerId, code: 'internal_error', message: expect.any(String) }]);
    expect(result.refused[0]!.message).not.toContain('Provisioned');
    // The others really are queued in their threads; the failed one has nothing.
    expect((await outboundOf(customers[0]!.conversationId)).map((m) => m.messageId)).toEqual([result.accepted[0]!.messageId]);
    expect(await outboundOf(customers[1]!.conversationId)).toEqual([]);
    expect((await outboundOf(customers[2]!.conversationId)).map((m) => m.messageId)).toEqual([result.accepted[1]!.messageId]);
  });
});
