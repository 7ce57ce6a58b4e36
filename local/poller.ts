import { DeleteMessageBatchCommand, ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSBatchResponse, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import type { LambdaHandler } from './handler-loader.ts';
import { createLambdaContext } from './lambda-context.ts';
import { LOCAL_REGION } from './local-aws.ts';

/** An SQS consumer as Lambda calls it, reporting partial batch failures. */
export type SqsHandler = LambdaHandler<SQSEvent, SQSBatchResponse | void | null | undefined>;

export type QueuePollerLog = (level: 'info' | 'error', message: string) => void;

export type QueuePollerOptions = {
  /** Function name (Lambda context, log lines). */
  readonly name: string;
  readonly client: SQSClient;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly batchSize: number;
  /** Called before the first receive; until it succeeds nothing is received, so no message is spent on a handler that cannot run. */
  readonly loadHandler: () => Promise<SqsHandler>;
  readonly waitTimeSeconds?: number;
  /** The consumer's Lambda timeout (context budget). */
  readonly timeoutMs?: number;
  readonly region?: string;
  readonly log?: QueuePollerLog;
  /** Pause before retrying a failed handler load or receive. */
  readonly retryDelayMs?: number;
  /**
   * Batches handled at once, like the concurrent invocations Lambda's event source mapping runs (default
   * 4). FIFO order still holds: fauxqs never hands out a message of a group with one in flight.
   */
  readonly concurrency?: number;
};

/** A running poller. */
export type QueuePoller = {
  /** Finishes the receive and batch in progress (≤ `waitTimeSeconds` + the handler's time), then stops. */
  stop(): Promise<void>;
};

/**
 * What Lambda's SQS event source mapping does, locally: long-polls the queue, hands each batch to the
 * consumer as a real-shaped {@link SQSEvent}, and deletes what succeeded. With `ReportBatchItemFailures`
 * semantics: ids in `batchItemFailures` stay on the queue (redelivered after the visibility timeout, to
 * the DLQ after `maxReceiveCount`); a thrown error or an invalid response fails the whole batch.
 *
 * Several batches run at once (`concurrency`), as Lambda runs several invocations. FIFO queues keep their
 * order all the same: a group with a message in flight hands out nothing more, so a group's messages are
 * handled in order and a group whose message failed waits for that message's redelivery. One difference from Lambda remains: fauxqs
 * hands out at most one message per group per receive (a message group is locked while any of its
 * messages is in flight), so a local batch never holds two messages of one group, whereas Lambda's can
 * (up to 10). Consumers must fail the rest of a group after a failure themselves (Powertools' FIFO
 * processors do); unit-test that with a Lambda-shaped event, the local stack cannot show it.
 *
 * @example
 * ```ts
 * const poller = startQueuePoller({ name: 'InboundWorkConsumer', client, queueUrl, queueArn, batchSize: 10, loadHandler });
 * await poller.stop();
 * ```
 */
export function startQueuePoller(options: QueuePollerOptions): QueuePoller {
  const { name, client, queueUrl, queueArn, batchSize, waitTimeSeconds = 1, timeoutMs = 30_000, retryDelayMs = 2000, concurrency = 4 } = options;
  const region = options.region ?? LOCAL_REGION;
  const log: QueuePollerLog = options.log ?? ((level, message) => (level === 'error' ? console.error(message) : console.log(message)));
  let running = true;
  const stopping = new AbortController();

  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      if (stopping.signal.aborted) return resolve();
      const timer = setTimeout(resolve, ms);
      stopping.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });

  async function loop(): Promise<void> {
    let handler: SqsHandler | undefined;
    let loadFailureLogged = false;
    while (running) {
      if (!handler) {
        try {
          handler = await options.loadHandler();
        } catch (err) {
          if (!running) return; // stopping while the module loads (e.g. its transpiler already shut down)
          if (!loadFailureLogged) log('error', `poller ${name}: handler not available, not consuming until it loads: ${describe(err)}`);
          loadFailureLogged = true;
          await pause(retryDelayMs);
          continue;
        }
      }
      let messages: Message[];
      try {
        const received = await client.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: batchSize,
            WaitTimeSeconds: waitTimeSeconds,
            MessageSystemAttributeNames: ['All'],
            MessageAttributeNames: ['All'],
          }),
        );
        messages = received.Messages ?? [];
      } catch (err) {
        if (!running) return;
        log('error', `poller ${name}: ReceiveMessage failed: ${describe(err)}`);
        await pause(retryDelayMs);
        continue;
      }
      if (messages.length > 0) await processBatch(handler, messages);
    }
  }

  async function processBatch(handler: SqsHandler, messages: Message[]): Promise<void> {
    const event = toSqsEvent(messages, queueArn, region);
    let failed: ReadonlySet<string> | 'all';
    try {
      failed = failedMessageIds(await handler(event, createLambdaContext(name, timeoutMs)), event);
      if (failed === 'all') log('error', `poller ${name}: invalid batch response; the whole batch stays on the queue`);
    } catch (err) {
      log('error', `poller ${name}: handler threw; the whole batch stays on the queue: ${describe(err)}`);
      failed = 'all';
    }
    if (failed === 'all') return;
    const done = messages.filter((m) => m.MessageId !== undefined && !failed.has(m.MessageId) && m.ReceiptHandle !== undefined);
    if (done.length === 0) return;
    try {
      const out = await client.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: done.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
      if (out.Failed && out.Failed.length > 0) log('error', `poller ${name}: ${out.Failed.length} processed message(s) could not be deleted and will be redelivered`);
    } catch (err) {
      log('error', `poller ${name}: DeleteMessageBatch failed; processed messages will be redelivered: ${describe(err)}`);
    }
  }

  const finished = Promise.all(
    Array.from({ length: Math.max(1, concurrency) }, () => loop().catch((err: unknown) => log('error', `poller ${name} stopped unexpectedly: ${describe(err)}`))),
  );
  return {
    stop: async () => {
      running = false;
      stopping.abort();
      await finished;
    },
  };
}

/**
 * The Lambda SQS event for received messages: system attributes as strings (for FIFO queues including
 * `MessageGroupId`, `SequenceNumber` and `MessageDeduplicationId`, as Lambda passes them), message
 * attributes in Lambda's camel-case shape (binary as base64), `eventSource: 'aws:sqs'`.
 *
 * @example
 * ```ts
 * const event = toSqsEvent(received.Messages ?? [], queueArn, 'us-east-1');
 * ```
 */
export function toSqsEvent(messages: readonly Message[], queueArn: string, region: string): SQSEvent {
  return {
    Records: messages.map((m): SQSRecord => {
      const attrs = m.Attributes ?? {};
      const record: SQSRecord = {
        messageId: m.MessageId ?? '',
        receiptHandle: m.ReceiptHandle ?? '',
        body: m.Body ?? '',
        attributes: {
          ...attrs,
          ApproximateReceiveCount: attrs.ApproximateReceiveCount ?? '1',
          SentTimestamp: attrs.SentTimestamp ?? String(Date.now()),
          SenderId: attrs.SenderId ?? '',
          ApproximateFirstReceiveTimestamp: attrs.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
        },
        messageAttributes: toLambdaMessageAttributes(m.MessageAttributes),
        md5OfBody: m.MD5OfBody ?? '',
        eventSource: 'aws:sqs',
        eventSourceARN: queueArn,
        awsRegion: region,
      };
      if (m.MD5OfMessageAttributes) record.md5OfMessageAttributes = m.MD5OfMessageAttributes;
      return record;
    }),
  };
}

function toLambdaMessageAttributes(attributes: Message['MessageAttributes']): SQSMessageAttributes {
  const out: SQSMessageAttributes = {};
  for (const [key, value] of Object.entries(attributes ?? {})) {
    out[key] = {
      dataType: value.DataType ?? 'String',
      stringListValues: value.StringListValues ?? [],
      binaryListValues: (value.BinaryListValues ?? []).map((b) => Buffer.from(b).toString('base64')),
      ...(value.StringValue !== undefined ? { stringValue: value.StringValue } : {}),
      ...(value.BinaryValue !== undefined ? { binaryValue: Buffer.from(value.BinaryValue).toString('base64') } : {}),
    };
  }
  return out;
}

/**
 * Lambda's reading of a partial batch response: nothing, an empty/null `batchItemFailures` → all
 * succeeded; listed ids → those failed; anything malformed (not an object, `batchItemFailures` not an
 * array, an empty or unknown `itemIdentifier`) → the whole batch failed.
 *
 * @example
 * ```ts
 * failedMessageIds({ batchItemFailures: [{ itemIdentifier: 'id-1' }] }, event); // Set { 'id-1' }
 * ```
 */
export function failedMessageIds(result: unknown, event: SQSEvent): ReadonlySet<string> | 'all' {
  if (result === undefined || result === null) return new Set();
  if (typeof result !== 'object') return 'all';
  const failures = (result as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return 'all';
  const inBatch = new Set(event.Records.map((r) => r.messageId));
  const failed = new Set<string>();
  for (const f of failures) {
    const id = (f as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || id === '' || !inBatch.has(id)) return 'all';
    failed.add(id);
  }
  return failed;
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
}
