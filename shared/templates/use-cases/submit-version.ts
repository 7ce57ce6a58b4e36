import { submitTemplateVersion } from '#shared/data/template-store.ts';
import type { TemplateStatus } from '#shared/domain/template.ts';
import { NotFoundError, StateConflictError } from '#shared/errors.ts';
import { logger } from '#shared/logger.ts';

/** The work item that tells the approval consumer a version was submitted. */
export type ApprovalWorkItem = { readonly templateId: string; readonly version: number; readonly submittedAt: string };

/** Port: the approval queue (SQS FIFO, grouped by template). */
export type ApprovalQueue = { enqueue(item: ApprovalWorkItem): Promise<void> };

/**
 * `draft` → `pending_approval`, then onto the approval queue. Idempotent: submitting a version that is
 * already pending enqueues it again (the queue item may have been lost when a first submit failed to
 * enqueue, which answered 5xx) and answers the same; the queue deduplicates and the consumer adds
 * nothing twice.
 *
 * 1. Move the draft to `pending_approval` (conditional on it being a draft; audit `submitted`).
 * 2. Enqueue the work item; a failure propagates (5xx), leaving the version pending for a retry.
 *
 * @throws {NotFoundError} unknown template or version.
 * @throws {StateConflictError} `not_draft`: approved, rejected or revoked versions are never resubmitted.
 * @example
 * ```ts
 * await submitVersion({ templateId, version: 2, actor: 'alice', now }, { queue: sqsApprovalQueue });
 * ```
 */
export async function submitVersion(
  cmd: { templateId: string; version: number; actor: string; now: string },
  deps: { queue: ApprovalQueue },
): Promise<{ templateId: string; version: number; status: TemplateStatus; contentHash: string }> {
  const transition = await submitTemplateVersion(cmd);
  let version;
  if (transition.outcome === 'done') version = transition.version;
  else if (transition.current === undefined) throw new NotFoundError('Unknown template version');
  else if (transition.current.status === 'pending_approval' && transition.current.submittedAt !== undefined) {
    logger.info('submit of a pending version: enqueueing again', { templateId: cmd.templateId, version: cmd.version });
    version = transition.current;
  } else throw new StateConflictError('not_draft', `Version ${cmd.version} is ${transition.current.status}; only a draft can be submitted`);

  await deps.queue.enqueue({ templateId: version.templateId, version: version.version, submittedAt: version.submittedAt! });
  return { templateId: version.templateId, version: version.version, status: 'pending_approval', contentHash: version.contentHash };
}
