import type { Channel } from '#shared/domain/message.ts';
import { DEFAULT_VARIABLE_MAX_LENGTH, type RenderedContent, type TemplateVersion } from '#shared/domain/template.ts';
import { UnprocessableError, ValidationError } from '#shared/errors.ts';
import { namesMessage, parsePlaceholders } from '#shared/templates/placeholders.ts';

type Renderable = Pick<TemplateVersion, 'variables' | 'content'>;
type Escape = (value: string) => string;

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };
const asHtml: Escape = (value) => value.replace(/[&<>"'`]/g, (c) => HTML_ESCAPES[c]!);
const asText: Escape = (value) => value;

/**
 * One channel's message from an approved template version. Logic-less and single-pass: each
 * placeholder is replaced by its value, and values are never read as templates, so a value holding
 * `{{x}}` or `<script>` arrives as written (html-escaped in email html, where the template's own markup
 * is kept; the other fields are plain text channels and get the value as is — the Twilio adapter
 * escapes for TwiML). Every declared required variable must have a non-blank value whatever the
 * channel (the template, not the channel, declares what it needs); an optional one left out renders as
 * ''; variables the template does not declare are ignored. No value may be longer than its variable's
 * `maxLength` (default {@link DEFAULT_VARIABLE_MAX_LENGTH}): an agent fills a template in, it does not
 * write an unapproved message into one. The sender renders a queued message again with
 * `checkLengths: false`: its values were held to the limits when it was queued, and a message queued
 * before a limit existed must still go out as it was accepted.
 *
 * @throws {UnprocessableError} `channel_not_in_template`; `missing_variable` naming every missing one;
 *   `variable_too_long` naming every value over its limit;
 *   `malformed_placeholder`/`undeclared_placeholder` should a stored version not have passed checkDraft.
 * @throws {ValidationError} a variable value is not a string (callers validate types first).
 * @example
 * ```ts
 * renderTemplate(version, 'sms', { first_name: 'Ada' }); // { channel: 'sms', body: 'Hi Ada' }
 * ```
 */
export function renderTemplate(version: Renderable, channel: Channel, variables: Record<string, string>, options: { checkLengths?: boolean } = {}): RenderedContent {
  const checkLengths = options.checkLengths ?? true;
  const { content } = version;
  const present = channel === 'email' ? content.email : channel === 'sms' ? content.sms : channel === 'chat' ? content.chat : content.voice;
  if (present === undefined) throw new UnprocessableError('channel_not_in_template', `Template has no ${channel} content`);

  const values = new Map<string, string>();
  const missing: string[] = [];
  const tooLong: string[] = [];
  for (const { name, required, maxLength = DEFAULT_VARIABLE_MAX_LENGTH } of version.variables) {
    const value = ownValue(variables, name);
    if (value !== undefined && typeof value !== 'string') throw new ValidationError(`Variable ${name} must be a string`);
    if (required && (value === undefined || value.trim() === '')) missing.push(name);
    else if (checkLengths && value !== undefined && value.length > maxLength) tooLong.push(`${name} (at most ${maxLength} characters)`);
    else values.set(name, value ?? '');
  }
  if (missing.length > 0) throw new UnprocessableError('missing_variable', namesMessage('Missing required variable', missing));
  // The approver approved the template with its variables' limits: no longer text goes into the message.
  if (tooLong.length > 0) throw new UnprocessableError('variable_too_long', namesMessage('Variable too long', tooLong));

  const fill = (source: string, field: string, escape: Escape) => substitute(source, field, values, escape);
  switch (channel) {
    case 'sms':
      return { channel, body: fill(content.sms!.body, 'content.sms.body', asText) };
    case 'chat':
      return { channel, body: fill(content.chat!.body, 'content.chat.body', asText) };
    case 'voice':
      return { channel, body: fill(content.voice!.say, 'content.voice.say', asText) };
    case 'email': {
      const email = content.email!;
      return {
        channel,
        subject: fill(email.subject, 'content.email.subject', asText),
        body: fill(email.text, 'content.email.text', asText),
        ...(email.html === undefined ? {} : { html: fill(email.html, 'content.email.html', asHtml) }),
      };
    }
  }
}

/** The caller's own value only: `constructor` or `toString` must not resolve to Object.prototype's. */
function ownValue(variables: Record<string, string>, name: string): unknown {
  return Object.hasOwn(variables, name) ? Object.getOwnPropertyDescriptor(variables, name)?.value : undefined;
}

function substitute(source: string, field: string, values: ReadonlyMap<string, string>, escape: Escape): string {
  let out = '';
  const undeclared: string[] = [];
  for (const part of parsePlaceholders(source, field)) {
    if (part.kind === 'text') {
      out += part.text;
      continue;
    }
    const value = values.get(part.name);
    if (value === undefined) undeclared.push(part.name);
    else out += escape(value);
  }
  if (undeclared.length > 0) throw new UnprocessableError('undeclared_placeholder', namesMessage('Undeclared placeholder', [...new Set(undeclared)]));
  return out;
}
