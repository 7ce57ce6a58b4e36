import { rejectTemplateVersion } from '#shared/data/template-store.ts';
import { NotFoundError, StateConflictError } from '#shared/errors.ts';

/**
 * An approver rejects a pending version, saying why. The version stays as it is, for the record; the
 * editor makes a new version.
 *
 * @throws {NotFoundError} unknown template or version.
 * @throws {StateConflictError} (409) `not_pending`, or `hash_mismatch` when `seenHash` is not the content's hash.
 * @example
 * ```ts
 * await rejectVersion({ templateId, version: 2, rejecter: 'bob', reason: 'Missing opt-out line', now });
 * ```
 */
export async function rejectVersion(cmd: { templateId: string; version: number; rejecter: string; reason: string; seenHash?: string; now: string }) {
  const transition = await rejectTemplateVersion(cmd);
  if (transition.outcome === 'refused') {
    const { current } = transition;
    if (current === undefined) throw new NotFoundError('Unknown template version');
    if (current.status !== 'pending_approval') throw new StateConflictError('not_pending', `Version ${cmd.version} is ${current.status}, not pending approval`);
    if (cmd.seenHash !== undefined && cmd.seenHash !== current.contentHash) {
      throw new StateConflictError('hash_mismatch', `Version ${cmd.version}'s content hash is not the one you saw; read it again`);
    }
    throw new StateConflictError('conflict', `Version ${cmd.version} changed meanwhile; read it again`);
  }
  const { version } = transition;
  return {
    templateId: version.templateId,
    version: version.version,
    status: version.status,
    rejectedBy: version.rejectedBy!,
    rejectedAt: version.rejectedAt!,
    rejectReason: version.rejectReason!,
    contentHash: version.rejectedHash ?? version.contentHash,
  };
}
