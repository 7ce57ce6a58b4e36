import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyStackEnv, baseUrl, postChat, stackEnv, waitFor } from '#test/helpers/index.ts';
import { allMessages, customerBy, freshId } from './support.ts';

describe('a message that races a merge ends up in the surviving thread', () => {
  let restore: () => void;
  beforeAll(() => {
    restore = applyStackEnv();
  });
  afterAll(() => restore());

  it('the merge’s sweep job moves a message written to the absorbed thread after the merge', async () => {
    // Prepare: two customers, then a chat message links them.
    const env = stackEnv();
    const chat = (body: Record<string, string>) => postChat(baseUrl(), { messageId: freshId('m'), sentAt: new Date().toISOString(), ...body }, { secret: env.CHAT_WEBHOOK_SECRET });
    const email = `${freshId('sweep')}@example.com`;
    const userA = freshId('user');
    const userB = freshId('user');
    await chat({ userId: userA, text: 'from A' });
    await chat({ userId: userB, text: 'from B', email });
    const before = [await customerBy(`chatUserId=${userA}`), await customerBy(`chatUserId=${userB}`)];
    await chat({ userId: userA, text: 'linking', email });
    const survivor = await customerBy(`chatUserId=${userA}`);
    const absorbed = before.find((c) => c.customerId !== survivor.customerId)!;

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
    const sqs = new SQSClient({ endpoint: env.SQS_ENDPOINT, region: env.AWS_REGION, credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } });
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: env.INBOUND_WORK_QUEUE_URL,
        MessageBody: JSON.stringify({ type: 'sweep-merged', fromCustomerId: absorbed.customerId, toCustomerId: survivor.customerId }),
      }),
    );

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
});
