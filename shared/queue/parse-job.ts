import type { SQSRecord } from 'aws-lambda';
import type * as z from 'zod/mini';
import { logger } from '#shared/logger.ts';

/**
 * A queue record's JSON body checked against `schema`, or `undefined` for a malformed one — logged and
 * meant to be dropped: a job that can never succeed must not cycle through retries into the DLQ.
 *
 * @example
 * ```ts
 * const job = parseJob(record, jobSchema, 'inbound-work');
 * if (!job) return;
 * ```
 */
export function parseJob<S extends z.ZodMiniType>(record: SQSRecord, schema: S, queue: string): z.output<S> | undefined {
  let body: unknown;
  try {
    body = JSON.parse(record.body);
  } catch {
    body = undefined;
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  logger.error('malformed queue job dropped', { queue, sqsMessageId: record.messageId });
  return undefined;
}
