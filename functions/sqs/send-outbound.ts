import middy from '@middy/core';
import { BatchProcessor, EventType, processPartialResponse, SqsFifoMessageGroupShortCircuitError } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import * as z from 'zod/mini';
import { sqsOutboundQueue } from '#shared/adapters/sqs/outbound-queue.adapter.ts';
import { logger } from '#shared/logger.ts';
import { parseJob } from '#shared/queue/parse-job.ts';
import { deliverOutbound } from '#shared/outbound/deliver-outbound.ts';

/**
 * A processor per invocation, not per module: it holds the batch's state, and the local stack runs
 * several batches of one consumer at once in one process (Lambda runs one per environment).
 */
const newProcessor = () => new BatchProcessor(EventType.SQS);

const id = z.string().check(z.minLength(1), z.maxLength(100));
const jobSchema = z.object({ messageId: id, conversationId: id });

/** A job that is not done yet: reported as a batch item failure so the queue hands it back later. */
class NotYetError extends Error {
  constructor(
    why: string,
    /** When it comes back: the later records of its conversation in this batch wait as long. */
    readonly retryInSeconds: number,
  ) {
    super(`Send job postponed: ${why}`);
    this.name = 'NotYetError';
  }
}

/**
 * When a job that failed on a fault comes back: 1, 2, 4, 8 minutes, then every 15, so the queue's 50
 * receives before the DLQ span about 12 hours of an outage.
 */
function faultBackoffSeconds(receives: number): number {
  return Math.min(900, 60 * 2 ** Math.min(10, Math.max(0, receives - 1)));
}

/** Hidden for the wait, then redelivered; a failed change only means an earlier retry. */
async function hide(record: SQSRecord, seconds: number): Promise<void> {
  await sqsOutboundQueue.hideFor(record.receiptHandle, seconds).catch((err: unknown) =>
    logger.warn('could not postpone a send job', { sqsMessageId: record.messageId, error: err }),
  );
}

/**
 * FIFO order within a batch, parallelism across it: each record waits for the one before it in its
 * message group (a conversation) and fails, untried, when that one failed, so a customer's messages
 * never overtake each other; different customers' messages go out concurrently. A record failed that
 * way is hidden as long as the one before it (its backoff or its pacing wait), not for the queue's whole
 * visibility timeout, which would hold the conversation's group that long. (Powertools'
 * `SqsFifoPartialProcessorAsync` keeps the order too, but one record at a time for the whole batch.)
 */
type Settled = { readonly ok: boolean; readonly retryInSeconds?: number };

function fifoGroups(records: readonly SQSRecord[]) {
  const settled = new Map<string, Promise<Settled>>();
  const resolvers = new Map<string, (outcome: Settled) => void>();
  const predecessor = new Map<string, string>();
  const lastOfGroup = new Map<string, string>();
  for (const record of records) {
    const group = record.attributes.MessageGroupId ?? record.messageId;
    const previous = lastOfGroup.get(group);
    if (previous !== undefined) predecessor.set(record.messageId, previous);
    lastOfGroup.set(group, record.messageId);
    settled.set(record.messageId, new Promise((resolve) => resolvers.set(record.messageId, resolve)));
  }
  return async (record: SQSRecord, work: () => Promise<void>): Promise<void> => {
    const done = resolvers.get(record.messageId) ?? (() => undefined);
    try {
      const previous = predecessor.get(record.messageId);
      const before = previous === undefined ? undefined : await settled.get(previous);
      if (before && !before.ok) {
        if (before.retryInSeconds !== undefined) await hide(record, before.retryInSeconds);
        done(before); // and the records after it wait as long (a settled outcome is not replaced below)
        throw new SqsFifoMessageGroupShortCircuitError();
      }
      await work();
      done({ ok: true });
    } catch (err) {
      const retryInSeconds = err instanceof NotYetError ? err.retryInSeconds : undefined;
      done({ ok: false, ...(retryInSeconds !== undefined ? { retryInSeconds } : {}) });
      throw err;
    }
  };
}

async function deliverRecord(record: SQSRecord): Promise<void> {
  const job = parseJob(record, jobSchema, 'outbound');
  if (!job) return;
  let outcome: Awaited<ReturnType<typeof deliverOutbound>>;
  try {
    outcome = await deliverOutbound(job);
  } catch (err) {
    // A fault (the store, a secret, a channel's settings): logged, and tried again with a backoff from a
    // minute up rather than after the queue's 6-minute visibility timeout each time, which would hold the
    // conversation's group that long. (A fault after the provider call leaves the message `sending`:
    // the retry finds its claim abandoned, and an SMS, call or email is never sent a second time.)
    // Name and message only: a cause may quote an address.
    const error = err instanceof Error ? { name: err.name, message: err.message } : { name: typeof err };
    const retryInSeconds = faultBackoffSeconds(Number.parseInt(record.attributes.ApproximateReceiveCount, 10) || 1);
    logger.error('send job failed; retried', { conversationId: job.conversationId, messageId: job.messageId, retryInSeconds, error });
    await hide(record, retryInSeconds);
    throw new NotYetError('fault', retryInSeconds);
  }
  if (outcome.result !== 'later') return;
  await hide(record, outcome.retryInSeconds);
  throw new NotYetError(outcome.why, outcome.retryInSeconds);
}

/**
 * Outbound sender: one send job per record, from the outbound FIFO queue. Postponed (broadcast pacing)
 * and transiently failed jobs are reported as batch item failures with their visibility set to the wait,
 * so SQS redelivers them then. A message's tries are counted on the message (MAX_SEND_ATTEMPTS); the
 * queue's maxReceiveCount, far above, moves to the DLQ only a job that keeps failing before any try.
 */
export const handler = middy((event: SQSEvent, context: Context) => {
  const inOrder = fifoGroups(event.Records);
  return processPartialResponse(event, (record: SQSRecord) => inOrder(record, () => deliverRecord(record)), newProcessor(), {
    context,
    throwOnFullBatchFailure: false,
  });
}).use(injectLambdaContext(logger, { resetKeys: true }));
