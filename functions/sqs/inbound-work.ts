import middy from '@middy/core';
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import * as z from 'zod/mini';
import { fetchMedia } from '#shared/ingest/fetch-media.ts';
import { sqsWorkQueue } from '#shared/adapters/sqs/sqs-work-queue.adapter.ts';
import { sweepMerged } from '#shared/ingest/resolve-customer.ts';
import { logger } from '#shared/logger.ts';
import { parseJob } from '#shared/queue/parse-job.ts';

/**
 * A processor per invocation, not per module: it holds the batch's state, and the local stack runs
 * several batches of one consumer at once in one process (Lambda runs one per environment).
 */
const newProcessor = () => new BatchProcessor(EventType.SQS);

const id = z.string().check(z.minLength(1), z.maxLength(100));
const jobSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('fetch-media'), conversationId: id, messageId: id }),
  z.object({ type: z.literal('sweep-merged'), fromCustomerId: id, toCustomerId: id }),
]);

async function recordHandler(record: SQSRecord): Promise<void> {
  const job = parseJob(record, jobSchema, 'inbound-work');
  if (!job) return;
  if (job.type === 'fetch-media') await fetchMedia(job);
  else await sweepMerged(job.fromCustomerId, job.toCustomerId, new Date().toISOString(), sqsWorkQueue);
}

/** Inbound-work consumer: slow follow-ups of ingest (media copies, merge sweeps), with partial batch failure reporting. */
export const handler = middy((event: SQSEvent, context: Context) => processPartialResponse(event, recordHandler, newProcessor(), { context })).use(
  injectLambdaContext(logger, { resetKeys: true }),
);
