import { createHash } from 'node:crypto';
import type { TemplateDraft } from '#shared/domain/template.ts';

/**
 * The fingerprint of what an approver approves: SHA-256 (hex) of the canonical JSON of
 * `{name, locale, variables, content}` (absent locale as null). Canonical means object keys sorted
 * (UTF-16 code unit order, as RFC 8785) at every depth, arrays in order, `undefined` members dropped:
 * the same draft gives the same hash however its keys were ordered, and any change to what it says
 * gives another. Everything under those four fields is hashed, not a projection of known fields, so a
 * field added later can never change unseen by an approved hash. Other version metadata (status,
 * author…) is not content and is left out.
 *
 * @example
 * ```ts
 * contentHash({ name: 'Welcome', variables: [], content: { sms: { body: 'Hi' } } }); // '3f…' (64 hex digits)
 * ```
 */
export function contentHash(draft: TemplateDraft): string {
  const { name, locale, variables, content } = draft;
  return createHash('sha256')
    .update(canonicalJson({ name, locale: locale ?? null, variables, content }), 'utf8')
    .digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const members = Object.keys(value)
      .sort()
      .flatMap((key) => {
        const member: unknown = (value as Record<string, unknown>)[key];
        return member === undefined ? [] : [`${JSON.stringify(key)}:${canonicalJson(member)}`];
      });
    return `{${members.join(',')}}`;
  }
  // Drafts are JSON data; anything JSON cannot say (a function, a symbol) hashes as null, as JSON would.
  return JSON.stringify(value) ?? 'null';
}
