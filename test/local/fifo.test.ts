import { randomBytes } from 'node:crypto';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type SendMessageCommandInput,
} from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSRecord } from 'aws-lambda';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { startQueuePoller, type QueuePoller, type SqsHandler } from '#local/poller.ts';
import { waitFor } from '#test/helpers/wait.ts';

// The template-approvals and outbound queues are FIFO, in the cloud and locally (fauxqs). These tests
// check the FIFO semantics the consumers rely on, through the poller that stands in for Lambda's event
// source mapping, on throwaway FIFO queues of the stack's own SQS emulator.
const env = inject('env');
const sqs = new SQSClient({
  endpoint: env.SQS_ENDPOINT,
  region: env.AWS_REGION,
  credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
});
const pollers: QueuePoller[] = [];
const queues: string[] = [];

afterEach(async () => {
  await Promise.all(pollers.splice(0).map((p) => p.stop()));
});
afterAll(async () => {
  for (const url of queues) await sqs.send(new DeleteQueueCommand({ QueueUrl: url })).catch(() => undefined);
  sqs.destroy();
});

type Queue = { url: string; arn: string };

/** A FIFO queue as the stack creates them: no content-based deduplication; 1 s visibility so retries are quick. */
async function fifoQueue(attributes: Record<string, string> = {}): Promise<Queue> {
  const name = `fifo-test-${randomBytes(6).toString('hex')}.fifo`;
  const { QueueUrl } = await sqs.send(
    new CreateQueueCommand({ QueueName: name, Attributes: { FifoQueue: 'true', ContentBasedDeduplication: 'false', VisibilityTimeout: '1', ...attributes } }),
  );
  queues.push(QueueUrl!);
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: QueueUrl!, AttributeNames: ['QueueArn'] }));
  return { url: QueueUrl!, arn: Attributes!.QueueArn! };
}

async function send(queue: Queue, body: string, group: string, dedupId = `${body}-${randomBytes(4).toString('hex')}`) {
  return sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: body, MessageGroupId: group, MessageDeduplicationId: dedupId }));
}

function poll(queue: Queue, handler: SqsHandler): void {
  pollers.push(
    startQueuePoller({ name: 'FifoTestConsumer', client: sqs, queueUrl: queue.url, queueArn: queue.arn, batchSize: 10, loadHandler: async () => handler, log: () => {} }),
  );
}

async function depth(url: string): Promise<{ visible: number; inFlight: number }> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return { visible: Number(Attributes?.ApproximateNumberOfMessages), inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible) };
}

const drained = (url: string) => async () => {
  const d = await depth(url);
  return d.visible === 0 && d.inFlight === 0;
};

type Delivery = { body: string; group: string | undefined; receiveCount: string; outcome: 'ok' | 'failed' };

describe("the stack's FIFO queues", () => {
  it.each([
    ['template-approvals', env.TEMPLATE_APPROVALS_QUEUE_URL, env.TEMPLATE_APPROVALS_DLQ_QUEUE_URL, 50],
    ['outbound', env.OUTBOUND_QUEUE_URL, env.OUTBOUND_DLQ_QUEUE_URL, 50],
  ])('%s is <queue>.fifo without content-based deduplication, with a FIFO DLQ after %i receives', async (queue, url, dlqUrl, receives) => {
    // Act
    const main = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }));
    const dlq = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl!, AttributeNames: ['All'] }));

    // Assess
    expect(url).toMatch(new RegExp(`/${queue}\\.fifo$`));
    expect(dlqUrl).toMatch(new RegExp(`/${queue}-dlq\\.fifo$`));
    expect(main.Attributes).toMatchObject({ FifoQueue: 'true', ContentBasedDeduplication: 'false' });
    expect(dlq.Attributes).toMatchObject({ FifoQueue: 'true' });
    const redrive = JSON.parse(main.Attributes?.RedrivePolicy ?? '{}') as { deadLetterTargetArn?: string; maxReceiveCount?: string | number };
    expect(redrive.deadLetterTargetArn).toBe(dlq.Attributes?.QueueArn);
    expect(Number(redrive.maxReceiveCount)).toBe(receives);
  });

  it('refuses, as SQS does, a send without a group or deduplication id, or with a per-message delay', async () => {
    // Prepare
    const queue = await fifoQueue();
    const base: SendMessageCommandInput = { QueueUrl: queue.url, MessageBody: 'x', MessageGroupId: 'g', MessageDeduplicationId: 'd' };

    // Act (settled together: a refusal that lands while another is awaited is never unhandled)
    const [noGroup, noDedup, delayed] = (
      await Promise.allSettled([
        sqs.send(new SendMessageCommand({ ...base, MessageGroupId: undefined })),
        sqs.send(new SendMessageCommand({ ...base, MessageDeduplicationId: undefined })),
        sqs.send(new SendMessageCommand({ ...base, DelaySeconds: 5 })),
      ])
    ).map((outcome) => (outcome.status === 'rejected' ? String((outcome.reason as Error).message) : 'accepted'));

    // Assess
    expect(noGroup).toMatch(/MessageGroupId/);
    expect(noDedup).toMatch(/MessageDeduplicationId|ContentBasedDeduplication/);
    expect(delayed).toMatch(/DelaySeconds/);
    expect(await depth(queue.url)).toEqual({ visible: 0, inFlight: 0 });
  });
});

describe('FIFO delivery through the local event source mapping', () => {
  it('delivers each group in send order, with MessageGroupId, SequenceNumber and MessageDeduplicationId in the record attributes as Lambda does', async () => {
    // Prepare: two conversations' messages, interleaved
    const queue = await fifoQueue();
    const sent = new Map<string, { group: string; dedupId: string; sequenceNumber: string | undefined }>();
    for (const [body, group] of [['a1', 'A'], ['b1', 'B'], ['a2', 'A'], ['a3', 'A'], ['b2', 'B'], ['a4', 'A'], ['b3', 'B'], ['a5', 'A']] as const) {
      const dedupId = `dedup-${body}-${randomBytes(4).toString('hex')}`;
      const { SequenceNumber } = await send(queue, body, group, dedupId);
      sent.set(body, { group, dedupId, sequenceNumber: SequenceNumber });
    }
    const records: SQSRecord[] = [];

    // Act
    poll(queue, async (event) => {
      records.push(...event.Records);
    });

    // Assess
    await waitFor(() => records.length >= sent.size, { timeoutMs: 10_000 });
    await waitFor(drained(queue.url));
    const bodiesOf = (group: string) => records.filter((r) => r.attributes.MessageGroupId === group).map((r) => r.body);
    expect(bodiesOf('A')).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    expect(bodiesOf('B')).toEqual(['b1', 'b2', 'b3']);
    for (const record of records) {
      const expected = sent.get(record.body)!;
      expect(record.attributes, record.body).toMatchObject({
        MessageGroupId: expected.group,
        MessageDeduplicationId: expected.dedupId,
        SequenceNumber: expected.sequenceNumber,
        ApproximateReceiveCount: '1',
      });
      expect(record.attributes.SequenceNumber, record.body).toMatch(/^\d+$/);
    }
    const sequence = (group: string) => records.filter((r) => r.attributes.MessageGroupId === group).map((r) => BigInt(r.attributes.SequenceNumber!));
    for (const group of ['A', 'B']) expect(sequence(group)).toEqual([...sequence(group)].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0)));
  });

  it('keeps one message of a repeated MessageDeduplicationId, and two of a repeated body with distinct ids', async () => {
    // Prepare
    const queue = await fifoQueue();
    const dedupId = `job-${randomBytes(4).toString('hex')}`;

    // Act
    const first = await send(queue, 'send job #1', 'conv-1', dedupId);
    const retried = await send(queue, 'send job #1 (retried enqueue)', 'conv-1', dedupId);
    await send(queue, 'same body', 'conv-2');
    await send(queue, 'same body', 'conv-2');
    const bodies: string[] = [];
    poll(queue, async (event) => {
      bodies.push(...event.Records.map((r) => r.body));
    });

    // Assess: SQS answers the retry with the first message's id and sequence number, and delivers it once
    expect(retried.MessageId).toBe(first.MessageId);
    expect(retried.SequenceNumber).toBe(first.SequenceNumber);
    await waitFor(() => bodies.length >= 3);
    await waitFor(drained(queue.url));
    expect(bodies.sort()).toEqual(['same body', 'same body', 'send job #1']);
  });

  it('after a partial batch failure, holds back the failed message and the rest of its group while other groups move on', async () => {
    // Prepare
    const queue = await fifoQueue();
    for (const [body, group] of [['a1', 'A'], ['a2', 'A'], ['a3', 'A'], ['b1', 'B'], ['b2', 'B']] as const) await send(queue, body, group);
    const deliveries: Delivery[] = [];
    let failedOnce = false;

    // Act: a2 fails on its first delivery. As the consumers do (Powertools' FIFO processors), a failure
    // also fails the later records of its group in the same batch; Lambda may put several in one batch.
    poll(queue, async (event): Promise<SQSBatchResponse> => {
      const failures: SQSBatchResponse['batchItemFailures'] = [];
      const failedGroups = new Set<string | undefined>();
      for (const r of event.Records) {
        const group = r.attributes.MessageGroupId;
        const fail = failedGroups.has(group) || (r.body === 'a2' && !failedOnce);
        if (fail) {
          if (r.body === 'a2') failedOnce = true;
          failedGroups.add(group);
          failures.push({ itemIdentifier: r.messageId });
        }
        deliveries.push({ body: r.body, group, receiveCount: r.attributes.ApproximateReceiveCount, outcome: fail ? 'failed' : 'ok' });
      }
      return { batchItemFailures: failures };
    });

    // Assess
    await waitFor(() => deliveries.some((d) => d.body === 'a3' && d.outcome === 'ok'), { timeoutMs: 10_000 });
    await waitFor(drained(queue.url));
    const done = (group: string) => deliveries.filter((d) => d.group === group && d.outcome === 'ok').map((d) => d.body);
    // each message done exactly once, in send order: a3 never overtook the failed a2
    expect(done('A')).toEqual(['a1', 'a2', 'a3']);
    expect(done('B')).toEqual(['b1', 'b2']);
    const at = (body: string, outcome: Delivery['outcome']) => deliveries.findIndex((d) => d.body === body && d.outcome === outcome);
    expect(deliveries[at('a2', 'ok')]?.receiveCount).toBe('2');
    expect(at('a3', 'ok')).toBeGreaterThan(at('a2', 'ok'));
    // the other conversation did not wait for a2's redelivery (after the 1 s visibility timeout)
    expect(at('b2', 'ok')).toBeLessThan(at('a2', 'ok'));
  });

  it('parks a message that keeps failing in the FIFO DLQ, keeping its group, and then releases the rest of its group', async () => {
    // Prepare
    const dlq = await fifoQueue();
    const queue = await fifoQueue({ RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: '2' }) });
    await send(queue, 'poison', 'conv-9');
    await send(queue, 'next', 'conv-9');
    const deliveries: Delivery[] = [];

    // Act
    poll(queue, async (event): Promise<SQSBatchResponse> => {
      const failures: SQSBatchResponse['batchItemFailures'] = [];
      for (const r of event.Records) {
        const fail = r.body === 'poison';
        if (fail) failures.push({ itemIdentifier: r.messageId });
        deliveries.push({ body: r.body, group: r.attributes.MessageGroupId, receiveCount: r.attributes.ApproximateReceiveCount, outcome: fail ? 'failed' : 'ok' });
      }
      return { batchItemFailures: failures };
    });

    // Assess
    await waitFor(() => deliveries.some((d) => d.body === 'next'), { timeoutMs: 15_000 });
    expect(deliveries.map((d) => `${d.body}#${d.receiveCount}:${d.outcome}`)).toEqual(['poison#1:failed', 'poison#2:failed', 'next#1:ok']);
    const parked = await waitFor(
      async () =>
        (await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq.url, WaitTimeSeconds: 1, MessageSystemAttributeNames: ['All'] }))).Messages?.[0],
    );
    expect(parked.Body).toBe('poison');
    expect(parked.Attributes?.MessageGroupId).toBe('conv-9');
  });
});
