import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

export type WorkQueueProps = {
  /** Physical queue name; the DLQ is named `<queueName>-dlq`. */
  readonly queueName: string;
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

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      ...encryption,
      queueName: `${props.queueName}-dlq`,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new Queue(this, 'Queue', {
      ...encryption,
      queueName: props.queueName,
      visibilityTimeout: Duration.seconds(props.consumerTimeout.toSeconds() * 6),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 5 },
    });
  }
}
