import { approveTemplateVersion } from '#shared/data/template-store.ts';
import { ForbiddenError, NotFoundError, StateConflictError } from '#shared/errors.ts';

/** The four-eyes rule refused an approval: the approver wrote that version. */
export class FourEyesError extends ForbiddenError {
  override readonly code: string = 'four_eyes';
  constructor(message = 'An approver cannot approve a version they authored', options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FourEyesError';
  }
}

/**
 * An approver approves a pending version: it may then be sent. The data layer's write condition is
 * the rule (pending, approver ≠ author, content = what the approver saw); when it refuses, the version
 * as it now is says why.
 *
 * @throws {NotFoundError} unknown template or version.
 * @throws {FourEyesError} (403 `four_eyes`) the approver authored the version.
 * @throws {StateConflictError} (409) `not_pending`, or `hash_mismatch` when `seenHash` is not the content's hash.
 * @example
 * ```ts
 * const approved = await approveVersion({ templateId, version: 2, approver: 'bob', seenHash, now });
 * ```
 */
export async function approveVersion(cmd: { templateId: string; version: number; approver: string; seenHash?: string; now: string }) {
  const transition = await approveTemplateVersion(cmd);
  if (transition.outcome === 'refused') {
    const { current } = transition;
    if (current === undefined) throw new NotFoundError('Unknown template version');
    if (current.author === cmd.approver) throw new FourEyesError();
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
    approvedBy: version.approvedBy!,
    approvedAt: version.approvedAt!,
    contentHash: version.approvedHash!,
  };
}
