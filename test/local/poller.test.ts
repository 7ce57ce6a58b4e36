import { createHash, randomBytes } from 'node:crypto';
import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { afterAll, afterEach, describe, expect, inject, it } from 'vitest';
import { failedMessageIds, startQueuePoller, type QueuePoller, type SqsHandler } from '#local/poller.ts';
import { waitFor } from '#test/helpers/wait.ts';

// The poller is the stack's stand-in for Lambda's SQS event source mapping. These tests drive it
// against the stack's real SQS emulator with throwaway queues and in-test handlers.
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

async function throwawayQueue(attributes: Record<string, string> = {}): Promise<{ url: string; arn: string }> {
  const name = `poller-test-${randomBytes(6).toString('hex')}`;
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: '1', ...attributes } }));
  const url = QueueUrl!;
  queues.push(url);
  const { Attributes } = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  return { url, arn: Attributes!.QueueArn! };
}

function poll(queue: { url: string; arn: string }, handler: SqsHandler): void {
  pollers.push(
    startQueuePoller({ name: 'TestConsumer', client: sqs, queueUrl: queue.url, queueArn: queue.arn, batchSize: 10, loadHandler: async () => handler, log: () => {} }),
  );
}

async function depth(url: string): Promise<{ visible: number; inFlight: number }> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
  );
  return { visible: Number(Attributes?.ApproximateNumberOfMessages), inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible) };
}

describe('the local SQS poller', () => {
  it('hands the consumer a Lambda-shaped SQS event and deletes what it processed', async () => {
    // Prepare
    const queue = await throwawayQueue();
    const body = JSON.stringify({ hello: 'world' });
    const { MessageId } = await sqs.send(
      new SendMessageCommand({ QueueUrl: queue.url, MessageBody: body, MessageAttributes: { kind: { DataType: 'String', StringValue: 'greeting' } } }),
    );
    const events: SQSEvent[] = [];

    // Act
    poll(queue, async (event) => {
      events.push(event);
    });

    // Assess
    await waitFor(() => events.length > 0);
    const record = events[0]!.Records[0]!;
    expect(record).toMatchObject({
      messageId: MessageId,
      body,
      md5OfBody: createHash('md5').update(body).digest('hex'),
      eventSource: 'aws:sqs',
      eventSourceARN: queue.arn,
      awsRegion: 'us-east-1',
      messageAttributes: { kind: { dataType: 'String', stringValue: 'greeting', stringListValues: [], binaryListValues: [] } },
    });
    expect(record.receiptHandle).not.toBe('');
    expect(record.attributes.ApproximateReceiveCount).toBe('1');
    expect(Number(record.attributes.SentTimestamp)).toBeGreaterThan(0);
    await waitFor(async () => {
      const d = await depth(queue.url);
      return d.visible === 0 && d.inFlight === 0;
    });
  });

  it('keeps the messages named in batchItemFailures and redelivers them', async () => {
    // Prepare
    const queue = await throwawayQueue();
    for (const body of ['ok-1', 'fail-me', 'ok-2']) await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: body }));
    const deliveries: Array<{ body: string; receiveCount: string }> = [];
    let failedOnce = false;

    // Act
    poll(queue, async (event): Promise<SQSBatchResponse> => {
      const failures = [];
      for (const r of event.Records) {
        deliveries.push({ body: r.body, receiveCount: r.attributes.ApproximateReceiveCount });
        if (r.body === 'fail-me' && !failedOnce) {
          failedOnce = true;
          failures.push({ itemIdentifier: r.messageId });
        }
      }
      return { batchItemFailures: failures };
    });

    // Assess: the failed one comes back (after the 1 s visibility timeout) with a receive count of 2; the others never do
    await waitFor(() => deliveries.some((d) => d.body === 'fail-me' && d.receiveCount === '2'), { timeoutMs: 8000 });
    await waitFor(async () => {
      const d = await depth(queue.url);
      return d.visible === 0 && d.inFlight === 0;
    });
    expect(deliveries.filter((d) => d.body === 'ok-1')).toHaveLength(1);
    expect(deliveries.filter((d) => d.body === 'ok-2')).toHaveLength(1);
    expect(deliveries.filter((d) => d.body === 'fail-me')).toHaveLength(2);
  });

  it('deletes nothing of a batch whose handler throws', async () => {
    // Prepare
    const queue = await throwawayQueue();
    for (const body of ['a', 'b']) await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: body }));
    const deliveries: Array<{ body: string; receiveCount: string }> = [];
    let calls = 0;

    // Act
    poll(queue, async (event) => {
      calls++;
      for (const r of event.Records) deliveries.push({ body: r.body, receiveCount: r.attributes.ApproximateReceiveCount });
      if (calls === 1) throw new Error('consumer crashed');
    });

    // Assess: every message of the first batch is delivered again
    const firstBatch = await waitFor(() => (deliveries.length > 0 ? deliveries.slice() : undefined));
    await waitFor(() => firstBatch.every((first) => deliveries.some((d) => d.body === first.body && d.receiveCount === '2')), { timeoutMs: 8000 });
    await waitFor(async () => {
      const d = await depth(queue.url);
      return d.visible === 0 && d.inFlight === 0;
    });
  });

  it('moves a message that keeps failing to the DLQ after maxReceiveCount', async () => {
    // Prepare
    const dlq = await throwawayQueue();
    const queue = await throwawayQueue({ RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: '2' }) });
    await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'poison' }));
    let attempts = 0;

    // Act
    poll(queue, async (event) => ({ batchItemFailures: event.Records.map((r) => ((attempts++, { itemIdentifier: r.messageId }))) }));

    // Assess
    const received = await waitFor(
      async () => (await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq.url, WaitTimeSeconds: 1 }))).Messages?.[0],
      { timeoutMs: 10_000 },
    );
    expect(received.Body).toBe('poison');
    expect(attempts).toBe(2);
  });

  it('does not receive anything while the handler cannot be loaded', async () => {
    // Prepare
    const queue = await throwawayQueue();
    await sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'waiting' }));
    let loads = 0;

    // Act
    pollers.push(
      startQueuePoller({
        name: 'MissingConsumer',
        client: sqs,
        queueUrl: queue.url,
        queueArn: queue.arn,
        batchSize: 10,
        retryDelayMs: 100,
        loadHandler: async () => {
          loads++;
          throw new Error('Cannot find module functions/sqs/missing.ts');
        },
        log: () => {},
      }),
    );

    // Assess: it keeps trying to load, and the message stays visible and unreceived
    await waitFor(() => loads >= 3);
    expect(await depth(queue.url)).toEqual({ visible: 1, inFlight: 0 });
  });
});

describe('reading a partial batch response as Lambda does', () => {
  const event = { Records: [{ messageId: 'm1' }, { messageId: 'm2' }] } as SQSEvent;

  it.each([
    ['nothing returned', undefined, []],
    ['null', null, []],
    ['an empty list', { batchItemFailures: [] }, []],
    ['no list', {}, []],
    ['one failure', { batchItemFailures: [{ itemIdentifier: 'm2' }] }, ['m2']],
  ])('%s → only the listed messages failed', (_, result, failed) => {
    expect(failedMessageIds(result, event)).toEqual(new Set(failed));
  });

  it.each([
    ['an unknown id', { batchItemFailures: [{ itemIdentifier: 'not-in-batch' }] }],
    ['an empty id', { batchItemFailures: [{ itemIdentifier: '' }] }],
    ['a missing id', { batchItemFailures: [{ id: 'm1' }] }],
    ['a non-list', { batchItemFailures: 'm1' }],
    ['a non-object', 'ok'],
  ])('%s → the whole batch failed', (_, result) => {
    expect(failedMessageIds(result, event)).toBe('all');
  });
});
