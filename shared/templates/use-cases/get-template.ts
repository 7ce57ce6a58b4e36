import { getTemplateWithVersions, type StoredTemplateVersion } from '#shared/data/template-store.ts';
import { NotFoundError } from '#shared/errors.ts';

/** A version as staff see it (the template id is the parent's). */
export function versionView(version: StoredTemplateVersion): Omit<StoredTemplateVersion, 'templateId'> {
  const { templateId: _templateId, ...view } = version;
  return view;
}

/**
 * A template with every version: status, author, approver, hashes (one Query).
 *
 * @throws {NotFoundError} unknown template.
 * @example
 * ```ts
 * const { latestVersion, versions } = await getTemplate('tpl_…');
 * ```
 */
export async function getTemplate(templateId: string) {
  const found = await getTemplateWithVersions(templateId);
  if (!found) throw new NotFoundError('Unknown template');
  const { template, versions } = found;
  return {
    templateId,
    name: template.name,
    latestVersion: template.latestVersion,
    createdAt: template.createdAt,
    createdBy: template.createdBy,
    versions: versions.map(versionView),
  };
}
