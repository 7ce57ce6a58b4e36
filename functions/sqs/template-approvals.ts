import middy from '@middy/core';
import { processPartialResponse, SqsFifoPartialProcessorAsync } from '@aws-lambda-powertools/batch';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import * as z from 'zod/mini';
import { logger } from '#shared/logger.ts';
import { parseJob } from '#shared/queue/parse-job.ts';
import { recordPendingApproval } from '#shared/templates/use-cases/record-pending-approval.ts';

/**
 * A processor per invocation, not per module: it holds the batch's state, and the local stack runs
 * several batches of one consumer at once in one process (Lambda runs one per environment).
 */
const newProcessor = () => new SqsFifoPartialProcessorAsync();

const workItemSchema = z.strictObject({
  templateId: z.string().check(z.regex(/^tpl_[0-9a-f]{32}$/)),
  version: z.number().check(z.int(), z.minimum(1), z.maximum(999_999)),
  submittedAt: z.iso.datetime(),
});

async function recordHandler(record: SQSRecord): Promise<void> {
  const item = parseJob(record, workItemSchema, 'template-approvals');
  if (!item) return;
  const outcome = await recordPendingApproval(item, new Date().toISOString());
  logger.info('approval work item handled', { templateId: item.templateId, version: item.version, outcome });
}

/**
 * Template-approvals consumer (SQS FIFO, grouped by template): keeps the pending-approval list that
 * `GET /approvals` reads. Partial batch failures; a failed record fails only the rest of its group.
 */
export const handler = middy((event: SQSEvent, context: Context) =>
  processPartialResponse(event, recordHandler, newProcessor(), { context, skipGroupOnError: true }),
).use(injectLambdaContext(logger, { resetKeys: true }));
