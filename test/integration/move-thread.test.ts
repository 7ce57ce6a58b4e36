import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { withStackModules } from '#test/helpers/index.ts';

/**
 * A merge moves the absorbed thread message by message (copy, then delete). A status callback or a
 * media job that updates a message in the absorbed thread between its copy and its delete must not be
 * lost: these tests land such an update exactly in that window, on the real DynamoDB Local, by
 * running it from a middleware on the data module's own client just before the delete goes out.
 */

const hex = () => randomBytes(16).toString('hex');

describe('moving a thread during a merge', () => {
  const modules = withStackModules(async () => ({
    store: await import('#shared/data/conversation-store.ts'),
    outbound: await import('#shared/data/outbound-store.ts'),
    client: await import('#shared/data/client.ts'),
  }));
  let m: ReturnType<typeof modules>;
  beforeAll(() => {
    m = modules();
  });

  /** A thread of `inbound` inbound messages and one outbound message already `sent`. */
  async function thread(inbound: number) {
    const customerId = `cus_${hex()}`;
    const conversationId = `conv_${customerId.slice(4)}`;
    const base = Date.parse('2026-03-01T00:00:00Z');
    const inboundIds: string[] = [];
    for (let i = 0; i < inbound; i++) {
      const messageId = `msg_${hex()}`;
      inboundIds.push(messageId);
      await m.store.appendMessage({
        conversationId,
        customerId,
        messageId,
        channel: 'sms',
        direction: 'inbound',
        body: `inbound ${i}`,
        createdAt: new Date(base + i * 1000).toISOString(),
        attachments: [{ sourceUrl: 'https://api.twilio.com/media/1', contentType: 'image/png', status: 'pending' }],
      });
    }
    const outboundId = `msg_${hex()}`;
    await m.outbound.appendOutboundMessage({
      conversationId,
      customerId,
      messageId: outboundId,
      channel: 'sms',
      direction: 'outbound',
      body: 'your card is on its way',
      createdAt: new Date(base + inbound * 1000).toISOString(),
      automated: false,
      sentBy: 'agent-1',
    } as Parameters<typeof m.outbound.appendOutboundMessage>[0]);
    await m.outbound.claimForSending({ conversationId, customerId, channel: 'sms', messageId: outboundId, status: 'queued' }, new Date().toISOString());
    await m.outbound.recordSent(conversationId, outboundId, { provider: 'twilio', providerMessageId: 'SM0001' }, new Date().toISOString());
    return { customerId, conversationId, inboundIds, outboundId };
  }

  /** Runs `update` once, just before the first DeleteItem (or PutItem) of `messageId` in `conversationId` is sent. */
  function beforeFirstDeleteOf(conversationId: string, messageId: string, update: () => Promise<unknown>, command: 'Delete' | 'Put' = 'Delete'): () => boolean {
    let ran = false;
    const name = `inject-${hex()}`;
    m.client.dynamoClient.middlewareStack.add(
      (next, context) => async (args) => {
        // The document client's input, before it is marshalled.
        const input = args.input as { Key?: Record<string, unknown>; Item?: Record<string, unknown> };
        const key = input.Key ?? input.Item;
        if (!ran && new RegExp(`^${command}(Item)?Command$`).test(context.commandName ?? '') && key?.pk === `CONV#${conversationId}` && key.sk === `MSG#${messageId}`) {
          ran = true;
          await update();
        }
        return next(args);
      },
      { step: 'initialize', name },
    );
    return () => {
      m.client.dynamoClient.middlewareStack.remove(name);
      return ran;
    };
  }

  const everyMessage = async (conversationId: string) => {
    const items = [];
    let cursor: string | undefined;
    do {
      const page = await m.store.listThreadPage(conversationId, { limit: 100, ...(cursor ? { cursor } : {}) });
      items.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return items;
  };

  it('a delivery callback that lands between the copy and the delete is kept in the surviving thread', async () => {
    // Prepare: the absorbed thread (30 inbound, more than one page of the move, and one sent SMS).
    const from = await thread(30);
    const to = await thread(0);
    const remove = beforeFirstDeleteOf(from.conversationId, from.outboundId, () =>
      m.outbound.advanceStatus(from.conversationId, from.outboundId, { status: 'delivered', providerMessageId: 'SM0001', now: new Date().toISOString() }),
    );

    // Act
    try {
      await m.store.moveThread(from.conversationId, to.conversationId, to.customerId);
    } finally {
      expect(remove()).toBe(true);
    }

    // Assess: every message once in the survivor's thread, the callback's status with it; the source empty.
    const moved = await everyMessage(to.conversationId);
    expect(moved.map((x) => x.messageId).sort()).toEqual([...from.inboundIds, from.outboundId, to.outboundId].sort());
    expect(moved.find((x) => x.messageId === from.outboundId)).toMatchObject({ status: 'delivered', conversationId: to.conversationId, customerId: to.customerId });
    expect(moved.every((x) => !('rev' in x))).toBe(true);
    expect(await everyMessage(from.conversationId)).toEqual([]);
  });

  it('stored media recorded between the copy and the delete is kept in the surviving thread', async () => {
    const from = await thread(3);
    const to = await thread(0);
    const target = from.inboundIds[1]!;
    const stored = [{ contentType: 'image/png', status: 'stored' as const, storageKey: 'media/x.png' }];
    const remove = beforeFirstDeleteOf(from.conversationId, target, () => m.store.setAttachments(from.conversationId, target, stored));

    try {
      await m.store.moveThread(from.conversationId, to.conversationId, to.customerId);
    } finally {
      expect(remove()).toBe(true);
    }

    const moved = await everyMessage(to.conversationId);
    expect(moved).toHaveLength(5);
    expect(moved.find((x) => x.messageId === target)?.attachments).toEqual(stored);
    expect(moved.filter((x) => x.messageId !== target && x.direction === 'inbound').every((x) => x.attachments?.[0]?.status === 'pending')).toBe(true);
  });

  it('two runs of the same move at once, with a callback in between, leave every message once and the newest state', async () => {
    // Prepare: real customers, the one merged into the other, so the callback (as Twilio's does) follows
    // the merge when the other run has already deleted the source copy while it was being applied.
    const from = await thread(40);
    const to = await thread(0);
    const now = new Date().toISOString();
    for (const c of [from, to]) {
      await m.store.createCustomerWithIdentity({ customerId: c.customerId, conversationId: c.conversationId, identity: { kind: 'chat', value: `user-${hex()}` }, now });
    }
    await m.store.markCustomerMerged(from.customerId, to.customerId, now);
    const { applyDeliveryStatus } = await import('#shared/outbound/status-callbacks.ts');
    const remove = beforeFirstDeleteOf(from.conversationId, from.outboundId, () =>
      applyDeliveryStatus({ conversationId: from.conversationId, messageId: from.outboundId, status: 'delivered', providerMessageId: 'SM0001' }),
    );

    try {
      await Promise.all([
        m.store.moveThread(from.conversationId, to.conversationId, to.customerId),
        m.store.moveThread(from.conversationId, to.conversationId, to.customerId),
      ]);
    } finally {
      expect(remove()).toBe(true);
    }

    const moved = await everyMessage(to.conversationId);
    expect(moved).toHaveLength(42);
    expect(new Set(moved.map((x) => x.messageId)).size).toBe(42);
    expect(moved.find((x) => x.messageId === from.outboundId)?.status).toBe('delivered');
    expect(await everyMessage(from.conversationId)).toEqual([]);
  });

  it('a slower run of the same move does not put an older copy over a newer one in the surviving thread', async () => {
    // Prepare: just before this run copies the sent SMS, another run moves it and a delivery callback
    // updates it where it now lives.
    const from = await thread(2);
    const to = await thread(0);
    const remove = beforeFirstDeleteOf(
      to.conversationId,
      from.outboundId,
      async () => {
        await m.store.moveThread(from.conversationId, to.conversationId, to.customerId);
        await m.outbound.advanceStatus(to.conversationId, from.outboundId, { status: 'delivered', providerMessageId: 'SM0001', now: new Date().toISOString() });
      },
      'Put',
    );

    try {
      await m.store.moveThread(from.conversationId, to.conversationId, to.customerId);
    } finally {
      expect(remove()).toBe(true);
    }

    expect((await m.store.getMessage(to.conversationId, from.outboundId))?.status).toBe('delivered');
    expect(await everyMessage(to.conversationId)).toHaveLength(4);
    expect(await everyMessage(from.conversationId)).toEqual([]);
  });

  it('a message updated after the move is updated where it now lives, and a second move does not put an older copy back', async () => {
    const from = await thread(2);
    const to = await thread(0);
    await m.store.moveThread(from.conversationId, to.conversationId, to.customerId);
    // The source copy is gone: the callback (which follows the merge in its caller) now updates the moved copy.
    expect(await m.outbound.advanceStatus(from.conversationId, from.outboundId, { status: 'delivered', now: new Date().toISOString() })).toBe('missing');
    expect(await m.outbound.advanceStatus(to.conversationId, from.outboundId, { status: 'delivered', providerMessageId: 'SM0001', now: new Date().toISOString() })).toBe('updated');

    expect(await m.store.moveThread(from.conversationId, to.conversationId, to.customerId)).toBe(0);
    expect((await m.store.getMessage(to.conversationId, from.outboundId))?.status).toBe('delivered');
  });
});
