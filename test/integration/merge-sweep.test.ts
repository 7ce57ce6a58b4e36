import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeServer } from '#test/fakes/http-server.ts';
import { applyStackEnv, baseUrl, postChat, stackEnv, waitFor } from '#test/helpers/index.ts';
import { allMessages, customerBy, freshId } from './support.ts';

const chat = (body: Record<string, string>) =>
  postChat(baseUrl(), { messageId: freshId('m'), sentAt: new Date().toISOString(), ...body }, { secret: stackEnv().CHAT_WEBHOOK_SECRET });

/** A job on the inbound-work queue, as the webhooks and merges queue them (here without their delay). */
async function inboundWorkJob(job: Record<string, string>): Promise<void> {
  const env = stackEnv();
  const sqs = new SQSClient({ endpoint: env.SQS_ENDPOINT, region: env.AWS_REGION, credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } });
  await sqs.send(new SendMessageCommand({ QueueUrl: env.INBOUND_WORK_QUEUE_URL, MessageBody: JSON.stringify(job) }));
  sqs.destroy();
}

/** Customer A (chat user A, one message) and customer B (chat user B with an email, one message); the smaller id survives a merge. */
async function twoCustomers() {
  const email = `${freshId('merge')}@example.com`;
  const userA = freshId('user');
  const userB = freshId('user');
  await chat({ userId: userA, text: 'from A' });
  await chat({ userId: userB, text: 'from B', email });
  const a = await customerBy(`chatUserId=${userA}`);
  const b = await customerBy(`chatUserId=${userB}`);
  const [survivor, absorbed] = a.customerId < b.customerId ? [a, b] : [b, a];
  return { email, userA, userB, survivor, absorbed };
}

describe('a message that races a merge ends up in the surviving thread', () => {
  let restore: () => void;
  beforeAll(() => {
    restore = applyStackEnv();
  });
  afterAll(() => restore());

  it('the merge’s sweep job moves a message written to the absorbed thread after the merge', async () => {
    // Prepare: two customers, then a chat message links them.
    const { email, userA, survivor, absorbed } = await twoCustomers();
    await chat({ userId: userA, text: 'linking', email });
    expect((await customerBy(`email=${encodeURIComponent(email)}`)).customerId).toBe(survivor.customerId);

    // Act: a webhook that looked up the identity just before the merge writes into the absorbed thread…
    const { appendMessage } = await import('#shared/data/conversation-store.ts');
    await appendMessage({
      conversationId: absorbed.conversationId,
      customerId: absorbed.customerId,
      messageId: `msg_${freshId('late').replace('-', '')}`,
      channel: 'sms',
      direction: 'inbound',
      body: 'raced the merge',
      createdAt: new Date().toISOString(),
    });
    // …and the merge's delayed sweep job comes due (sent here without the delay).
    await inboundWorkJob({ type: 'sweep-merged', fromCustomerId: absorbed.customerId, toCustomerId: survivor.customerId });

    // Assess
    const bodies = await waitFor(
      async () => {
        const list = (await allMessages(survivor.conversationId)).map((m) => m.body);
        return list.includes('raced the merge') ? list : false;
      },
      { timeoutMs: 15_000 },
    );
    expect(bodies.sort()).toEqual(['from A', 'from B', 'linking', 'raced the merge']);
  });

  it('a media job queued before the merge copies the media into the message in the surviving thread', async () => {
    // Prepare: two customers; an MMS with pending media in the one the merge will absorb (the larger id).
    const env = stackEnv();
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const media = await startFakeServer((req) => (req.path === '/media/merged.png' ? { status: 200, headers: { 'content-type': 'image/png' }, body: png } : { status: 404 }));
    try {
      const { email, userA, survivor, absorbed } = await twoCustomers();
      const { appendMessage } = await import('#shared/data/conversation-store.ts');
      const messageId = `msg_${freshId('mms').replace('-', '')}`;
      await appendMessage({
        conversationId: absorbed.conversationId,
        customerId: absorbed.customerId,
        messageId,
        channel: 'sms',
        direction: 'inbound',
        body: 'a photo',
        createdAt: new Date().toISOString(),
        attachments: [{ name: 'merged.png', contentType: 'image/png', sourceUrl: `${media.baseUrl}/media/merged.png`, status: 'pending' }],
      });
      // The linking message merges the two: the MMS moves into the surviving thread, still pending.
      await chat({ userId: userA, text: 'linking', email });
      const moved = (await allMessages(survivor.conversationId)).find((m) => m.messageId === messageId);
      expect(moved?.attachments).toMatchObject([{ status: 'pending' }]);

      // Act: the media job, queued with the absorbed conversation, comes due only now.
      await inboundWorkJob({ type: 'fetch-media', conversationId: absorbed.conversationId, messageId });

      // Assess
      const attachments = await waitFor(
        async () => {
          const message = (await allMessages(survivor.conversationId)).find((m) => m.messageId === messageId);
          const list = (message?.attachments ?? []) as Array<Record<string, unknown>>;
          return list.length === 1 && list[0]!.status !== 'pending' ? list : false;
        },
        { timeoutMs: 15_000 },
      );
      expect(attachments[0]).toMatchObject({ name: 'merged.png', status: 'stored', size: png.length });
      expect(readFileSync(join(env.ATTACHMENTS_DIR, attachments[0]!.storageKey as string)).equals(png)).toBe(true);
    } finally {
      await media.close();
    }
  });

  describe('a merge that stopped part-way is finished', () => {
    /**
     * What a user sees once the merge is complete: every identity finds the survivor, the absorbed
     * customer's next message goes straight into the surviving thread, which holds every message once.
     */
    async function expectMerged(c: Awaited<ReturnType<typeof twoCustomers>>, bodies: string[]) {
      for (const query of [`chatUserId=${c.userA}`, `chatUserId=${c.userB}`, `email=${encodeURIComponent(c.email)}`]) {
        expect((await customerBy(query)).customerId, query).toBe(c.survivor.customerId);
      }
      const next = (await (await chat({ userId: c.userB, text: 'afterwards' })).json()) as { conversationId: string };
      expect(next.conversationId).toBe(c.survivor.conversationId);
      expect((await allMessages(c.survivor.conversationId)).map((m) => m.body).sort()).toEqual([...bodies, 'afterwards'].sort());
    }

    it('by the retried delivery, when the request stopped right after marking the merge', async () => {
      // Prepare: the linking request marked the absorbed customer, then stopped (timeout, crash).
      const c = await twoCustomers();
      const { markCustomerMerged } = await import('#shared/data/conversation-store.ts');
      await markCustomerMerged(c.absorbed.customerId, c.survivor.customerId, new Date().toISOString());
      // Act: the chat backend retries the linking message.
      const retry = { messageId: freshId('m'), userId: c.userA, text: 'linking', email: c.email, sentAt: new Date().toISOString() };
      expect((await postChat(baseUrl(), retry, { secret: stackEnv().CHAT_WEBHOOK_SECRET })).status).toBe(200);
      // Assess
      await expectMerged(c, ['from A', 'from B', 'linking']);
    });

    it('by the merge\'s sweep job, when nobody retries', async () => {
      // Prepare
      const c = await twoCustomers();
      const { markCustomerMerged } = await import('#shared/data/conversation-store.ts');
      await markCustomerMerged(c.absorbed.customerId, c.survivor.customerId, new Date().toISOString());
      // Act: the job queued before the merge's first write comes due.
      await inboundWorkJob({ type: 'sweep-merged', fromCustomerId: c.absorbed.customerId, toCustomerId: c.survivor.customerId });
      // Assess
      await waitFor(async () => (await customerBy(`chatUserId=${c.userB}`)).customerId === c.survivor.customerId, { timeoutMs: 15_000 });
      await waitFor(async () => (await allMessages(c.survivor.conversationId)).length === 2, { timeoutMs: 15_000 });
      await expectMerged(c, ['from A', 'from B']);
    });

    it('by the sweep job doing the whole merge, when the request stopped before marking it', async () => {
      // Prepare: the job was queued, then the request stopped before its first write.
      const c = await twoCustomers();
      // Act
      await inboundWorkJob({ type: 'sweep-merged', fromCustomerId: c.absorbed.customerId, toCustomerId: c.survivor.customerId });
      // Assess
      await waitFor(async () => (await customerBy(`chatUserId=${c.userB}`)).customerId === c.survivor.customerId, { timeoutMs: 15_000 });
      await waitFor(async () => (await allMessages(c.survivor.conversationId)).length === 2, { timeoutMs: 15_000 });
      await expectMerged(c, ['from A', 'from B']);
    });
  });
});
