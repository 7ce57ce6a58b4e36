import { recordPendingApproval as storePendingApproval } from '#shared/data/template-store.ts';
import type { ApprovalWorkItem } from '#shared/templates/use-cases/submit-version.ts';

/** Who the audit trail names for what the approval-queue consumer does. */
export const APPROVAL_QUEUE_ACTOR = 'system:approval-queue';

/**
 * Consumer side of the approval queue: puts a submitted version on the list approvers read, if it is
 * still pending from that submission. Safe to repeat (redelivery, a resubmitted work item): the entry
 * and its `queued_for_approval` audit entry are written at most once.
 *
 * @example
 * ```ts
 * const outcome = await recordPendingApproval({ templateId, version: 2, submittedAt }, new Date().toISOString());
 * ```
 */
export async function recordPendingApproval(item: ApprovalWorkItem, now: string): Promise<'recorded' | 'already_recorded' | 'not_pending'> {
  return storePendingApproval({ ...item, actor: APPROVAL_QUEUE_ACTOR, now });
}
