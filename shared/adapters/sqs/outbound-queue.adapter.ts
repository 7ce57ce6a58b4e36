import { ChangeMessageVisibilityCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { optionalEnv, requireEnv } from '#shared/config.ts';
import type { Channel } from '#shared/domain/message.ts';
import { consumerTimeoutSeconds, queueConsumers } from '#shared/routes.ts';

/** Created once per cold start; exported so that tests can watch the calls it makes. */
export const outboundSqsClient = new SQSClient({ endpoint: optionalEnv('SQS_ENDPOINT'), maxAttempts: 3 });
const sqs = outboundSqsClient;

/** The send job: everything else (text, address, template) is read from the stored message at send time. */
export type OutboundJob = { readonly messageId: string; readonly conversationId: string };

/** SQS allows a received message to stay hidden for at most 12 hours, counted from its receive. */
export const MAX_VISIBILITY_SECONDS = 43_200;

/**
 * The longest hide a consumer may ask for: SQS refuses a visibility timeout that would end more than 12 h
 * after the receive (it does not shorten it), and the job was received up to a consumer timeout before
 * (the sender's Lambda runs 60 s at most). Two timeouts' margin.
 */
export const MAX_HIDE_SECONDS = MAX_VISIBILITY_SECONDS - 2 * consumerTimeoutSeconds(queueConsumers.find((c) => c.name === 'OutboundSender')!);

/**
 * Port: the outbound FIFO queue, grouped by conversation so one customer's messages leave in order.
 */
export type OutboundQueue = {
  /**
   * Queues a send job; a second enqueue of the same message id within 5 minutes is dropped by SQS.
   * `pacedOn`: a message held until a later time by its channel's broadcast pacing, queued in that
   * channel's own lane of the conversation.
   */
  enqueue(job: OutboundJob, options?: { pacedOn?: Channel }): Promise<void>;
  /**
   * Keeps a received job hidden for `seconds` from now (broadcast pacing, retry backoff), at most
   * {@link MAX_HIDE_SECONDS}: a longer wait comes back then and is hidden again.
   */
  hideFor(receiptHandle: string, seconds: number): Promise<void>;
};

/**
 * The outbound queue on SQS FIFO: `MessageGroupId` is the conversation (order per customer, parallel
 * across customers), `MessageDeduplicationId` the message id (a retried enqueue adds no second job).
 * A paced message (held until its `notBefore`) goes in a group of its conversation and channel,
 * `<conversationId>#paced#<channel>`: a FIFO group hands out nothing while its head is held back, so an
 * agent's reply must not wait behind a broadcast's slot, nor an email broadcast behind the slot an SMS
 * broadcast booked hours ahead (each channel is paced on its own). Paced messages of one channel keep
 * their order among themselves, as their slots do.
 * Its URL (`OUTBOUND_QUEUE_URL`) is read on first use.
 *
 * @example
 * ```ts
 * await sqsOutboundQueue.enqueue({ messageId: 'msg_…', conversationId: 'conv_…' });
 * ```
 */
export const sqsOutboundQueue: OutboundQueue = {
  async enqueue(job: OutboundJob, options: { pacedOn?: Channel } = {}): Promise<void> {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: requireEnv('OUTBOUND_QUEUE_URL'),
        MessageBody: JSON.stringify({ messageId: job.messageId, conversationId: job.conversationId }),
        MessageGroupId: options.pacedOn ? `${job.conversationId}#paced#${options.pacedOn}` : job.conversationId,
        MessageDeduplicationId: job.messageId,
      }),
    );
  },
  async hideFor(receiptHandle: string, seconds: number): Promise<void> {
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: requireEnv('OUTBOUND_QUEUE_URL'),
        ReceiptHandle: receiptHandle,
        VisibilityTimeout: Math.max(0, Math.min(MAX_HIDE_SECONDS, Math.ceil(seconds))),
      }),
    );
  },
};
