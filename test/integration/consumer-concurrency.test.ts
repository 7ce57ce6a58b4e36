import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLambdaContext } from '#local/lambda-context.ts';
import { toSqsEvent } from '#local/poller.ts';
import { applyStackEnv } from '#test/helpers/index.ts';
import { newCustomer } from '#test/model/outbound-support.ts';

// The local stack runs several batches of one consumer at once in one process (as Lambda runs several
// invocations, each in its own environment). Batch state must therefore live per invocation: two
// overlapping batches of the real sender must each report exactly their own failures.
type Sender = typeof import('#functions/sqs/send-outbound.ts');
type OutboundStore = typeof import('#shared/data/outbound-store.ts');

describe('overlapping batches of one queue consumer', () => {
  let restoreEnv: () => void;
  let sender: Sender;
  let store: OutboundStore;
  let newOutboundMessageId: () => string;

  beforeAll(async () => {
    restoreEnv = applyStackEnv();
    sender = await import('#functions/sqs/send-outbound.ts');
    store = await import('#shared/data/outbound-store.ts');
    ({ newOutboundMessageId } = await import('#shared/outbound/send-message.ts'));
  });
  afterAll(() => restoreEnv());

  /** An agent's chat message, queued; held back when `notBefore` is in the future. */
  async function queuedChat(notBefore?: string): Promise<{ conversationId: string; messageId: string }> {
    const customer = await newCustomer({ phone: false, email: false });
    const messageId = newOutboundMessageId();
    await store.appendOutboundMessage({
      messageId,
      conversationId: customer.conversationId,
      customerId: customer.customerId,
      channel: 'chat',
      direction: 'outbound',
      body: 'Your card is on its way.',
      createdAt: new Date().toISOString(),
      to: customer.chatUserId,
      sentBy: 'agent-1',
      automated: false,
      ...(notBefore ? { notBefore } : {}),
    });
    return { conversationId: customer.conversationId, messageId };
  }

  function eventOf(jobs: Array<{ conversationId: string; messageId: string }>, ids: string[]): SQSEvent {
    return toSqsEvent(
      jobs.map((job, i) => ({
        MessageId: ids[i],
        ReceiptHandle: `not-a-real-receipt-${ids[i]}`,
        Body: JSON.stringify(job),
        Attributes: { MessageGroupId: job.conversationId, ApproximateReceiveCount: '1' },
      })),
      'arn:aws:sqs:us-east-1:000000000000:outbound.fifo',
      'us-east-1',
    );
  }

  it('reports each batch’s own failures, whatever the other batch does meanwhile', async () => {
    // Prepare: batch A holds a paced message (postponed: a batch item failure) and a sendable one;
    // batch B, started while A runs, holds one sendable message.
    const held = await queuedChat(new Date(Date.now() + 3_600_000).toISOString());
    const [a2, b1] = await Promise.all([queuedChat(), queuedChat()]);
    // Act
    const [resultA, resultB] = (await Promise.all([
      sender.handler(eventOf([held, a2], ['a-held', 'a-2']), createLambdaContext('OutboundSender', 30_000)),
      sender.handler(eventOf([b1], ['b-1']), createLambdaContext('OutboundSender', 30_000)),
    ])) as [SQSBatchResponse, SQSBatchResponse];
    // Assess
    expect(resultA.batchItemFailures).toEqual([{ itemIdentifier: 'a-held' }]);
    expect(resultB.batchItemFailures).toEqual([]);
    expect(await store.getOutboundMessage(held.conversationId, held.messageId)).toMatchObject({ status: 'queued' });
    for (const sent of [a2, b1]) expect(await store.getOutboundMessage(sent.conversationId, sent.messageId)).toMatchObject({ status: 'sent' });
  });
});
