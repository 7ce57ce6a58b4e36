import { randomUUID } from 'node:crypto';
import { createTemplate as storeNewTemplate } from '#shared/data/template-store.ts';
import type { TemplateDraft, TemplateStatus } from '#shared/domain/template.ts';
import { contentHash } from '#shared/templates/content-hash.ts';
import { checkDraft } from '#shared/templates/draft-schema.ts';

/** A new template id: `tpl_` and 32 random hex digits. */
export const newTemplateId = (): string => `tpl_${randomUUID().replaceAll('-', '')}`;

export type VersionCreated = { templateId: string; version: number; status: TemplateStatus; contentHash: string };

/**
 * Creates a template whose version 1 is the given draft, authored by the caller.
 *
 * 1. Check the draft's rules again (the use case trusts no caller): 422 on an undeclared placeholder…
 * 2. Hash the content: the hash is what approvers will approve.
 * 3. Write the template, version 1 (`draft`) and the `created` audit entry in one transaction.
 *
 * @example
 * ```ts
 * const { templateId } = await createTemplate({ draft, author: 'alice', now: new Date().toISOString() });
 * ```
 */
export async function createTemplate(cmd: { draft: TemplateDraft; author: string; now: string }): Promise<VersionCreated> {
  checkDraft(cmd.draft);
  const { name, locale, variables, content } = cmd.draft;
  const hash = contentHash(cmd.draft);
  const templateId = newTemplateId();
  await storeNewTemplate({
    templateId,
    version: 1,
    status: 'draft',
    name,
    ...(locale !== undefined ? { locale } : {}),
    variables,
    content,
    contentHash: hash,
    author: cmd.author,
    createdAt: cmd.now,
  });
  return { templateId, version: 1, status: 'draft', contentHash: hash };
}
