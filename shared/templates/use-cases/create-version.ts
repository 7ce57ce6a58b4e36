import { createTemplateVersion } from '#shared/data/template-store.ts';
import type { TemplateDraft } from '#shared/domain/template.ts';
import { NotFoundError } from '#shared/errors.ts';
import { contentHash } from '#shared/templates/content-hash.ts';
import { checkDraft } from '#shared/templates/draft-schema.ts';
import type { VersionCreated } from '#shared/templates/use-cases/create-template.ts';

/**
 * Editing a template: a new draft version numbered after the latest one. Copy-on-write: earlier
 * versions, submitted or not, never change.
 *
 * @throws {NotFoundError} unknown template.
 * @example
 * ```ts
 * const { version } = await createVersion({ templateId, draft, author: 'alice', now });
 * ```
 */
export async function createVersion(cmd: { templateId: string; draft: TemplateDraft; author: string; now: string }): Promise<VersionCreated> {
  checkDraft(cmd.draft);
  const hash = contentHash(cmd.draft);
  const created = await createTemplateVersion({ templateId: cmd.templateId, draft: cmd.draft, contentHash: hash, author: cmd.author, now: cmd.now });
  if (!created) throw new NotFoundError('Unknown template');
  return { templateId: created.templateId, version: created.version, status: created.status, contentHash: created.contentHash };
}
