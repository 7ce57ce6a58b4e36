import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { optionalEnv, requireEnv } from '#shared/config.ts';
import type { InboundWorkJob, WorkQueue } from '#shared/ports/work-queue.ts';

const sqs = new SQSClient({ endpoint: optionalEnv('SQS_ENDPOINT'), maxAttempts: 3 });

/**
 * The inbound-work queue (SQS with a DLQ). Its URL is read on first use.
 *
 * @example
 * ```ts
 * await sqsWorkQueue.enqueue({ type: 'fetch-media', conversationId, messageId });
 * ```
 */
export const sqsWorkQueue: WorkQueue = {
  async enqueue(job: InboundWorkJob, options: { delaySeconds?: number } = {}): Promise<void> {
    await sqs.send(
      new SendMessageCommand({ QueueUrl: requireEnv('INBOUND_WORK_QUEUE_URL'), MessageBody: JSON.stringify(job), DelaySeconds: options.delaySeconds }),
    );
  },
};
