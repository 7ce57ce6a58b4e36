import type { TemplateContent } from '#shared/domain/template.ts';
import { UnprocessableError } from '#shared/errors.ts';

/** A declared variable's name, and therefore the only thing a placeholder may hold. */
export const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

/**
 * A valid placeholder starting exactly at `lastIndex` (sticky): `{{`, optional blanks, a name, optional
 * blanks, `}}`, and no third `}` (`{{x}}}` is a typo, not a placeholder followed by a brace).
 */
const PLACEHOLDER_AT = /\{\{[ \t]*([A-Za-z_][A-Za-z0-9_]{0,63})[ \t]*\}\}(?!\})/y;

/** Longest excerpt of a malformed placeholder quoted back to the editor. */
const MAX_EXCERPT = 80;

/** A parsed template string: literal text and the placeholders between it, in order. */
export type TemplatePart = { readonly kind: 'text'; readonly text: string } | { readonly kind: 'variable'; readonly name: string };

/**
 * Splits a template string into literal text and `{{name}}` placeholders. Logic-less on purpose: there
 * are no sections, helpers or escapes, so anything else that looks like a placeholder (`{{`/`}}` not
 * part of a valid one, `{{ 1x }}`, `{{{x}}}`, nesting, `{{#if}}`) is refused rather than guessed at.
 * A single `{` or `}` is ordinary text. `field` names where the string sits, for the error message.
 *
 * @throws {UnprocessableError} `malformed_placeholder`, naming the field and quoting the culprit.
 * @example
 * ```ts
 * parsePlaceholders('Hi {{ first_name }}!', 'content.sms.body');
 * // [{ kind: 'text', text: 'Hi ' }, { kind: 'variable', name: 'first_name' }, { kind: 'text', text: '!' }]
 * ```
 */
export function parsePlaceholders(source: string, field: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let textStart = 0;
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (c !== '{' && c !== '}') {
      i += 1;
      continue;
    }
    let run = 1;
    while (source[i + run] === c) run += 1;
    if (run === 1) {
      i += 1;
      continue;
    }
    if (c === '{' && run === 2) {
      PLACEHOLDER_AT.lastIndex = i;
      const match = PLACEHOLDER_AT.exec(source);
      if (match) {
        if (i > textStart) parts.push({ kind: 'text', text: source.slice(textStart, i) });
        parts.push({ kind: 'variable', name: match[1]! });
        i = PLACEHOLDER_AT.lastIndex;
        textStart = i;
        continue;
      }
    }
    throw new UnprocessableError('malformed_placeholder', `Malformed placeholder in ${field}: ${JSON.stringify(excerpt(source, i))}`);
  }
  if (textStart < source.length) parts.push({ kind: 'text', text: source.slice(textStart) });
  return parts;
}

/** From `start` to the end of the brace run that closes it, or a short prefix when nothing closes nearby. */
function excerpt(source: string, start: number): string {
  let end = source.indexOf('}}', start + 1);
  if (end === -1 || end - start > MAX_EXCERPT) return `${source.slice(start, start + 20)}${source.length > start + 20 ? '…' : ''}`;
  while (source[end] === '}') end += 1;
  return source.slice(start, end);
}

/** One text field of a template's content, with its path as the API client wrote it. */
export type TemplateField = { readonly field: string; readonly source: string };

/**
 * Every text field of the content that may hold placeholders, in a fixed order (sms, email subject,
 * text, html, chat, voice), each with its path for error messages.
 *
 * @example
 * ```ts
 * templateFields({ sms: { body: 'Hi {{name}}' } }); // [{ field: 'content.sms.body', source: 'Hi {{name}}' }]
 * ```
 */
export function templateFields(content: TemplateContent): TemplateField[] {
  const fields: TemplateField[] = [];
  if (content.sms) fields.push({ field: 'content.sms.body', source: content.sms.body });
  if (content.email) {
    fields.push({ field: 'content.email.subject', source: content.email.subject });
    fields.push({ field: 'content.email.text', source: content.email.text });
    if (content.email.html !== undefined) fields.push({ field: 'content.email.html', source: content.email.html });
  }
  if (content.chat) fields.push({ field: 'content.chat.body', source: content.chat.body });
  if (content.voice) fields.push({ field: 'content.voice.say', source: content.voice.say });
  return fields;
}

/**
 * `Variable: a` or `Variables: a, b`: messages that name every culprit, worded for one or several.
 *
 * @example
 * ```ts
 * namesMessage('Missing required variable', ['a', 'b']); // 'Missing required variables: a, b'
 * ```
 */
export function namesMessage(prefix: string, names: readonly string[]): string {
  return `${prefix}${names.length > 1 ? 's' : ''}: ${names.join(', ')}`;
}
