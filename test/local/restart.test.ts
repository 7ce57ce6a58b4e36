import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { startLocalStack, type LocalStack, type LocalStackEnv } from '#local/stack.ts';
import { dynamo } from '#test/helpers/dynamo.ts';
import { waitFor } from '#test/helpers/wait.ts';

// These tests run stacks of their own (each a DynamoDB Local JVM) on their own temp data dirs.
const running: LocalStack[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const stack of running.splice(0)) await stack.stop();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function start(dataDir: string, options: { startConsumers?: boolean } = {}): Promise<LocalStack> {
  const stack = await startLocalStack({ env: { POWERTOOLS_LOG_LEVEL: 'ERROR' }, dataDir, port: 0, log: () => {}, ...options });
  running.push(stack);
  return stack;
}

function sqsFor(env: LocalStackEnv): SQSClient {
  return new SQSClient({
    endpoint: env.SQS_ENDPOINT,
    region: env.AWS_REGION,
    credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
  });
}

describe('a restart of the local stack', () => {
  it('keeps table items and queued messages, and the consumer then drains its queue', async () => {
    // Prepare: a first life with the consumers off, so nothing takes the messages
    const dataDir = mkdtempSync(join(tmpdir(), 'omnichannel-restart-'));
    dirs.push(dataDir);
    const first = await start(dataDir, { startConsumers: false });
    await dynamo(first.env).send(new PutCommand({ TableName: first.env.TABLE_NAME, Item: { pk: 'restart-test', sk: 'item', note: 'kept' } }));
    const sqs1 = sqsFor(first.env);
    await sqs1.send(
      new SendMessageCommand({
        QueueUrl: first.env.INBOUND_WORK_DLQ_QUEUE_URL!,
        MessageBody: 'parked in the DLQ',
        MessageAttributes: { origin: { DataType: 'String', StringValue: 'restart-test' } },
      }),
    );
    // A FIFO queue's message keeps its group and sequence number across the restart
    const parkedSend = await sqs1.send(
      new SendMessageCommand({ QueueUrl: first.env.OUTBOUND_DLQ_QUEUE_URL!, MessageBody: 'parked send job', MessageGroupId: 'conv-restart', MessageDeduplicationId: 'restart-1' }),
    );
    // Not a job the consumer can run: it drops malformed jobs (deletes them) rather than retry them.
    await sqs1.send(new SendMessageCommand({ QueueUrl: first.env.INBOUND_WORK_QUEUE_URL, MessageBody: JSON.stringify({ type: 'restart-test' }) }));
    sqs1.destroy();
    await first.stop();
    running.splice(running.indexOf(first), 1);

    // Act: a second life on the same data dir (other ports), consumers on
    const second = await start(dataDir);

    // Assess
    const item = await dynamo(second.env).send(new GetCommand({ TableName: second.env.TABLE_NAME, Key: { pk: 'restart-test', sk: 'item' } }));
    expect(item.Item).toEqual({ pk: 'restart-test', sk: 'item', note: 'kept' });

    const sqs2 = sqsFor(second.env);
    const parked = await sqs2.send(
      new ReceiveMessageCommand({ QueueUrl: second.env.INBOUND_WORK_DLQ_QUEUE_URL!, MessageAttributeNames: ['All'], WaitTimeSeconds: 1 }),
    );
    expect(parked.Messages?.map((m) => [m.Body, m.MessageAttributes?.origin?.StringValue])).toEqual([['parked in the DLQ', 'restart-test']]);
    const parkedFifo = await sqs2.send(
      new ReceiveMessageCommand({ QueueUrl: second.env.OUTBOUND_DLQ_QUEUE_URL!, MessageSystemAttributeNames: ['All'], WaitTimeSeconds: 1 }),
    );
    expect(parkedFifo.Messages?.map((m) => [m.Body, m.Attributes?.MessageGroupId, m.Attributes?.SequenceNumber])).toEqual([
      ['parked send job', 'conv-restart', parkedSend.SequenceNumber],
    ]);

    await waitFor(
      async () => {
        const { Attributes } = await sqs2.send(
          new GetQueueAttributesCommand({
            QueueUrl: second.env.INBOUND_WORK_QUEUE_URL,
            AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
          }),
        );
        return Attributes?.ApproximateNumberOfMessages === '0' && Attributes.ApproximateNumberOfMessagesNotVisible === '0';
      },
      { timeoutMs: 10_000 },
    );
    sqs2.destroy();
  });

  it('refuses a second stack on a data dir that a running stack uses', async () => {
    // Prepare
    const dataDir = mkdtempSync(join(tmpdir(), 'omnichannel-lock-'));
    dirs.push(dataDir);
    await start(dataDir, { startConsumers: false });

    // Act
    const second = startLocalStack({ env: {}, dataDir, port: 0, log: () => {} });

    // Assess
    await expect(second).rejects.toThrow(/Another local stack .* is using/);
  });

  it('refuses a DynamoDB port that something else listens on, instead of running on that database', async () => {
    // Prepare: a server that answers DynamoDB's ListTables on the port (as a Docker DynamoDB Local would)
    const { createServer } = await import('node:http');
    const foreign = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      res.end('{"TableNames":[]}');
    });
    await new Promise<void>((resolve) => foreign.listen(0, '127.0.0.1', () => resolve()));
    const port = (foreign.address() as { port: number }).port;
    const dataDir = mkdtempSync(join(tmpdir(), 'omnichannel-port-'));
    dirs.push(dataDir);
    try {
      // Act
      const started = startLocalStack({ env: {}, dataDir, port: 0, dynamoDbPort: port, log: () => {} });
      // Assess
      await expect(started).rejects.toThrow(new RegExp(`DYNAMODB_PORT ${port} is already in use`));
    } finally {
      await new Promise((resolve) => foreign.close(resolve));
    }
  });
});
