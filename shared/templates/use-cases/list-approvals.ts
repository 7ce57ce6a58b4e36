import { listPendingApprovals, type PendingApproval } from '#shared/data/template-store.ts';

/**
 * The approval queue as approvers see it: versions waiting for a decision, oldest submission first.
 *
 * @example
 * ```ts
 * const pending = await listApprovals(); // [{ templateId, version, name, author, submittedAt, contentHash }]
 * ```
 */
export async function listApprovals(): Promise<PendingApproval[]> {
  return listPendingApprovals();
}
