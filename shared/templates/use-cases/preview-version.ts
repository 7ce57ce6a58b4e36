import { getTemplateVersion } from '#shared/data/template-store.ts';
import type { Channel } from '#shared/domain/message.ts';
import type { SmsInfo } from '#shared/domain/template.ts';
import { NotFoundError } from '#shared/errors.ts';
import { renderTemplate } from '#shared/templates/render.ts';
import { smsInfo } from '#shared/templates/sms-segments.ts';

/**
 * What a version would send on one channel with these variables, whatever its status (approvers
 * preview what they approve), with the SMS encoding and segment count for SMS.
 *
 * @throws {NotFoundError} unknown template or version.
 * @throws {UnprocessableError} (422) `missing_variable` naming it, `channel_not_in_template`.
 * @example
 * ```ts
 * const { rendered, sms } = await previewVersion({ templateId, version: 1, channel: 'sms', variables: { first_name: 'Ada' } });
 * ```
 */
export async function previewVersion(cmd: { templateId: string; version: number; channel: Channel; variables: Record<string, string> }) {
  const version = await getTemplateVersion(cmd.templateId, cmd.version);
  if (!version) throw new NotFoundError('Unknown template version');
  const { body, subject, html } = renderTemplate(version, cmd.channel, cmd.variables);
  const sms: SmsInfo | undefined = cmd.channel === 'sms' ? smsInfo(body) : undefined;
  return {
    templateId: version.templateId,
    version: version.version,
    status: version.status,
    contentHash: version.contentHash,
    channel: cmd.channel,
    rendered: { body, ...(subject !== undefined ? { subject } : {}), ...(html !== undefined ? { html } : {}) },
    ...(sms ? { sms } : {}),
  };
}
