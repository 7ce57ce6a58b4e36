import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  QueueDoesNotExist,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { LOCAL_ACCOUNT_ID, LOCAL_CREDENTIALS, LOCAL_REGION } from './local-aws.ts';

/** A queue the local stack created, with its dead-letter queue. */
export type LocalQueue = {
  /** Logical name (`queueConsumers[].queue`); env names derive from it (`OUTBOUND_QUEUE_URL`). */
  readonly name: string;
  /** FIFO: physical names `<name>.fifo` and `<name>-dlq.fifo`. */
  readonly fifo: boolean;
  readonly url: string;
  readonly arn: string;
  readonly dlqUrl: string;
  readonly dlqArn: string;
};

/** The running SQS emulator. */
export type SqsLocal = {
  readonly endpoint: string;
  readonly port: number;
  readonly client: SQSClient;
  readonly queues: ReadonlyMap<string, LocalQueue>;
  stop(): Promise<void>;
};

/** A queue to create: its logical name and whether it is FIFO (`shared/routes.ts` `fifo: true`). */
export type LocalQueueSpec = { readonly name: string; readonly fifo?: boolean; readonly maxReceiveCount?: number };

export type StartSqsLocalOptions = {
  readonly port: number;
  /** fauxqs keeps queues and messages (ready, delayed and in flight) in SQLite here, written through. */
  readonly dataDir: string;
  /** Logical queues; each gets `<name>-dlq` (FIFO: `<name>.fifo` and `<name>-dlq.fifo`) as its dead-letter queue. */
  readonly queues: readonly LocalQueueSpec[];
  readonly visibilityTimeoutSeconds: number;
  readonly maxReceiveCount?: number;
};

/**
 * Starts fauxqs in-process with SQLite persistence (so queued and in-flight messages survive a restart,
 * even a crash: every send/receive/delete is written through) and makes sure every queue exists with
 * its DLQ, redrive policy and visibility timeout. Settings changed since the last start are applied.
 *
 * @example
 * ```ts
 * const sqs = await startSqsLocal({ port: 0, dataDir: '/abs/.data/sqs', queues: ['inbound-work'], visibilityTimeoutSeconds: 30 });
 * sqs.queues.get('inbound-work')?.url;
 * ```
 */
export async function startSqsLocal(options: StartSqsLocalOptions): Promise<SqsLocal> {
  const { dataDir, visibilityTimeoutSeconds, maxReceiveCount = 5 } = options;
  const { startFauxqs } = await importFauxqsQuietly();
  const server = await startFauxqs({ port: options.port, logger: false, dataDir, defaultRegion: LOCAL_REGION });
  const endpoint = `http://127.0.0.1:${server.port}`;
  const client = new SQSClient({ endpoint, region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS });
  try {
    const queues = new Map<string, LocalQueue>();
    for (const { name, fifo = false, maxReceiveCount: queueMaxReceiveCount = maxReceiveCount } of options.queues) {
      // As in the cloud: a FIFO queue's DLQ must be FIFO too, and every send names its deduplication id
      // (no content-based deduplication, so two identical bodies are two messages unless the producer says otherwise).
      const fifoAttributes: Record<string, string> = fifo ? { FifoQueue: 'true', ContentBasedDeduplication: 'false' } : {};
      const dlq = await ensureQueue(client, endpoint, physicalQueueName(`${name}-dlq`, fifo), fifoAttributes);
      const main = await ensureQueue(client, endpoint, physicalQueueName(name, fifo), {
        ...fifoAttributes,
        VisibilityTimeout: String(visibilityTimeoutSeconds),
        RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: String(queueMaxReceiveCount) }),
      });
      queues.set(name, { name, fifo, url: main.url, arn: main.arn, dlqUrl: dlq.url, dlqArn: dlq.arn });
    }
    return {
      endpoint,
      port: server.port,
      client,
      queues,
      stop: async () => {
        client.destroy();
        await server.stop();
      },
    };
  } catch (err) {
    client.destroy();
    await server.stop();
    throw err;
  }
}

/**
 * fauxqs persists through `node:sqlite`, whose one-time "experimental feature" warning would greet every
 * `npm start` and test run. It is dropped while fauxqs loads; every other warning still shows.
 */
async function importFauxqsQuietly(): Promise<typeof import('fauxqs')> {
  const emitWarning = process.emitWarning;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    const text = typeof warning === 'string' ? warning : warning.message;
    if (text.startsWith('SQLite is an experimental feature')) return;
    (emitWarning as (...args: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  try {
    return await import('fauxqs');
  } finally {
    process.emitWarning = emitWarning;
  }
}

/**
 * The SQS queue name for a logical name: FIFO queue names must end in `.fifo`.
 *
 * @example
 * ```ts
 * physicalQueueName('outbound', true); // 'outbound.fifo'
 * ```
 */
export function physicalQueueName(name: string, fifo: boolean): string {
  return fifo ? `${name}.fifo` : name;
}

/**
 * The URL handlers and pollers use. Built here rather than taken from fauxqs, whose URLs name a
 * `sqs.<region>.localhost` host that not every resolver knows; fauxqs finds queues by name whatever the
 * host and port, so the URL stays valid when a restart picks another port.
 */
function queueUrl(endpoint: string, name: string): string {
  return `${endpoint}/${LOCAL_ACCOUNT_ID}/${name}`;
}

/**
 * Get-or-create. An existing queue gets `attributes` through SetQueueAttributes (CreateQueue would
 * refuse changed values). TagQueue is deliberately never used: fauxqs 2.4 re-inserts the queue row to
 * persist tags, which cascades to deleting the queue's persisted messages.
 */
async function ensureQueue(
  client: SQSClient,
  endpoint: string,
  name: string,
  attributes: Record<string, string>,
): Promise<{ url: string; arn: string }> {
  const url = queueUrl(endpoint, name);
  let exists = true;
  try {
    await client.send(new GetQueueUrlCommand({ QueueName: name }));
  } catch (err) {
    if (!(err instanceof QueueDoesNotExist) && (err as { name?: string }).name !== 'QueueDoesNotExist') throw err;
    exists = false;
  }
  if (!exists) {
    await client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  } else {
    // FifoQueue can only be given at creation (an unchanged value is accepted, but say nothing we need not).
    const { FifoQueue: _fifo, ...changeable } = attributes;
    if (Object.keys(changeable).length > 0) await client.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: changeable }));
  }
  const described = await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
  const arn = described.Attributes?.QueueArn;
  if (!arn) throw new Error(`fauxqs returned no ARN for queue ${name}`);
  return { url, arn };
}
