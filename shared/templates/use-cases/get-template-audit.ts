import { listAudit } from '#shared/data/audit-store.ts';
import { templateAuditSubject } from '#shared/data/template-store.ts';
import { NotFoundError } from '#shared/errors.ts';

export type AuditView = { at: string; actor: string; action: string; version?: number; contentHash?: string; details?: Record<string, unknown> };

/**
 * A template's audit trail, oldest first: every transition with who did it, the version and the hash
 * involved. Every template has at least its `created` entry, so an empty trail means no such template.
 *
 * @throws {NotFoundError} unknown template.
 * @example
 * ```ts
 * const entries = await getTemplateAudit('tpl_…'); // [{ at, actor, action: 'created', version: 1, contentHash }, …]
 * ```
 */
export async function getTemplateAudit(templateId: string): Promise<AuditView[]> {
  const entries = await listAudit(templateAuditSubject(templateId));
  if (entries.length === 0) throw new NotFoundError('Unknown template');
  return entries.map(({ at, actor, action, details = {} }) => {
    const { version, contentHash, ...rest } = details;
    return {
      at,
      actor,
      action,
      ...(typeof version === 'number' ? { version } : {}),
      ...(typeof contentHash === 'string' ? { contentHash } : {}),
      ...(Object.keys(rest).length > 0 ? { details: rest } : {}),
    };
  });
}
