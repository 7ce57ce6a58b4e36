import { revokeTemplateVersion } from '#shared/data/template-store.ts';
import { NotFoundError, StateConflictError } from '#shared/errors.ts';

/**
 * An approver withdraws an approved version: from then on the sender refuses it, including sends that
 * were queued before (it re-checks the status when it sends).
 *
 * @throws {NotFoundError} unknown template or version.
 * @throws {StateConflictError} (409 `not_approved`) only an approved version can be revoked.
 * @example
 * ```ts
 * await revokeVersion({ templateId, version: 2, revoker: 'bob', reason: 'Prices changed', now });
 * ```
 */
export async function revokeVersion(cmd: { templateId: string; version: number; revoker: string; reason: string; now: string }) {
  const transition = await revokeTemplateVersion(cmd);
  if (transition.outcome === 'refused') {
    const { current } = transition;
    if (current === undefined) throw new NotFoundError('Unknown template version');
    throw new StateConflictError('not_approved', `Version ${cmd.version} is ${current.status}; only an approved version can be revoked`);
  }
  const { version } = transition;
  return {
    templateId: version.templateId,
    version: version.version,
    status: version.status,
    revokedBy: version.revokedBy!,
    revokedAt: version.revokedAt!,
    revokeReason: version.revokeReason!,
    contentHash: version.contentHash,
  };
}
