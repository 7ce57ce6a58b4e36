import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { DeduplicationScope, FifoThroughputLimit, Queue, QueueEncryption, type QueueProps } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export type WorkQueueProps = {
  /** Physical queue name without `.fifo`; the DLQ is named `<queueName>-dlq` (FIFO: `<queueName>.fifo`, `<queueName>-dlq.fifo`). */
  readonly queueName: string;
  /**
   * FIFO: ordered per message group, one in-flight batch per group, deduplicated by the producer's
   * `MessageDeduplicationId` (no content-based deduplication). Its DLQ is FIFO too, as SQS requires.
   */
  readonly fifo?: boolean;
  readonly encryptionKey: IKey;
  /** Timeout of the consuming function; the visibility timeout is six times it, as AWS advises for Lambda. */
  readonly consumerTimeout: Duration;
  /** Deliveries before a message is parked in the DLQ. */
  readonly maxReceiveCount?: number;
};

/**
 * A work queue with its dead-letter queue, both KMS-encrypted and refusing non-TLS requests. A message
 * that fails `maxReceiveCount` times (5 by default) moves to the DLQ and stays 14 days for replay.
 *
 * FIFO queues run in high-throughput mode (deduplication and throughput limit per message group): the
 * producers' deduplication ids are unique per message anyway, and a broadcast must not be capped at the
 * per-queue 300 sends/s.
 *
 * @example
 * ```ts
 * const { queue } = new WorkQueue(this, 'InboundWork', { queueName: 'app-inbound-work', encryptionKey, consumerTimeout: Duration.seconds(60) });
 * ```
 */
export class WorkQueue extends Construct {
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: WorkQueueProps) {
    super(scope, id);
    const encryption = {
      encryption: QueueEncryption.KMS,
      encryptionMasterKey: props.encryptionKey,
      // Fewer KMS calls (cost, throttling); 5 minutes is the SQS default made explicit.
      dataKeyReuse: Duration.minutes(5),
      enforceSSL: true,
      removalPolicy: RemovalPolicy.RETAIN,
    };

    const fifo = props.fifo ?? false;
    const suffix = fifo ? '.fifo' : '';
    const fifoProps: Partial<QueueProps> = fifo ? { fifo: true, contentBasedDeduplication: false } : {};

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      ...encryption,
      ...fifoProps,
      queueName: `${props.queueName}-dlq${suffix}`,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new Queue(this, 'Queue', {
      ...encryption,
      ...fifoProps,
      ...(fifo ? { deduplicationScope: DeduplicationScope.MESSAGE_GROUP, fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID } : {}),
      queueName: `${props.queueName}${suffix}`,
      visibilityTimeout: Duration.seconds(props.consumerTimeout.toSeconds() * 6),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
    });
  }
}
