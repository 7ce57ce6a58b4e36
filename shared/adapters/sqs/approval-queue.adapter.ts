import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { optionalEnv, requireEnv } from '#shared/config.ts';
import type { ApprovalQueue, ApprovalWorkItem } from '#shared/templates/use-cases/submit-version.ts';

const sqs = new SQSClient({ endpoint: optionalEnv('SQS_ENDPOINT'), maxAttempts: 3 });

/**
 * The template-approvals FIFO queue (with a DLQ). Grouped by template, so one template's submissions
 * are handled in order; deduplicated per submitted version, so a retried submit within SQS's
 * five-minute window adds nothing (and the consumer is idempotent beyond it). Its URL is read on first use.
 *
 * @example
 * ```ts
 * await sqsApprovalQueue.enqueue({ templateId, version: 2, submittedAt });
 * ```
 */
export const sqsApprovalQueue: ApprovalQueue = {
  async enqueue(item: ApprovalWorkItem): Promise<void> {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: requireEnv('TEMPLATE_APPROVALS_QUEUE_URL'),
        MessageBody: JSON.stringify(item),
        MessageGroupId: item.templateId,
        MessageDeduplicationId: `${item.templateId}:${item.version}:submit`,
      }),
    );
  },
};
