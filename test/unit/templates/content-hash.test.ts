import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { TemplateDraft, TemplateVersion } from '#shared/domain/template.ts';
import { contentHash } from '#shared/templates/content-hash.ts';
import { sampleDraft } from '#test/unit/templates/support.ts';

describe('contentHash', () => {
  it('is the SHA-256 hex of the canonical JSON of name, locale, variables and content', () => {
    // Prepare
    const draft: TemplateDraft = { name: 'Hi', variables: [{ required: true, name: 'a' }], content: { sms: { body: '{{a}}' } } };
    const canonical = '{"content":{"sms":{"body":"{{a}}"}},"locale":null,"name":"Hi","variables":[{"name":"a","required":true}]}';

    // Act
    const hash = contentHash(draft);

    // Assess
    expect(hash).toBe(createHash('sha256').update(canonical).digest('hex'));
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is the same whatever order the keys were written in, at every depth', () => {
    // Prepare
    const draft = sampleDraft();
    const reordered: TemplateDraft = {
      content: {
        voice: { say: draft.content.voice!.say },
        email: { html: draft.content.email!.html!, text: draft.content.email!.text, subject: draft.content.email!.subject },
        chat: { body: draft.content.chat!.body },
        sms: { body: draft.content.sms!.body },
      },
      variables: draft.variables.map(({ name, required }) => ({ required, name })),
      locale: draft.locale!,
      name: draft.name,
    };

    // Act
    const [a, b] = [contentHash(draft), contentHash(reordered)];

    // Assess
    expect(b).toBe(a);
  });

  it('ignores what is not content: version metadata and absent optional fields', () => {
    // Prepare
    const draft = sampleDraft();
    const version: TemplateVersion = { ...draft, templateId: 't1', version: 3, status: 'approved', contentHash: 'x', author: 'ed', createdAt: '2025-01-01T00:00:00.000Z' };
    const withoutLocale: TemplateDraft = { name: 'n', variables: [], content: { chat: { body: 'b' } } };
    const undefinedLocale: TemplateDraft = { ...withoutLocale, locale: undefined as unknown as string, content: { chat: { body: 'b' }, sms: undefined } };

    // Act & Assess
    expect(contentHash(version)).toBe(contentHash(draft));
    expect(contentHash(undefinedLocale)).toBe(contentHash(withoutLocale));
  });

  it.each<[string, (d: TemplateDraft) => void]>([
    ['the name', (d) => (d.name = 'Outage notice!')],
    ['the locale', (d) => (d.locale = 'en-US')],
    ['a removed locale', (d) => delete d.locale],
    ['a variable made optional', (d) => (d.variables[0] = { name: 'first_name', required: false })],
    ['a variable added', (d) => d.variables.push({ name: 'x', required: false })],
    ['the order of variables', (d) => d.variables.reverse()],
    ['one character of the SMS body', (d) => (d.content.sms!.body = d.content.sms!.body.replace('down', 'Down'))],
    ['a trailing space in the email html', (d) => (d.content.email!.html += ' ')],
    ['a removed email html', (d) => delete d.content.email!.html],
    ['a removed channel', (d) => delete d.content.voice],
    ['the email subject', (d) => (d.content.email!.subject = 'Notice')],
  ])('changes with %s', (_, change) => {
    // Prepare
    const draft = sampleDraft();
    const changed = structuredClone(draft);
    change(changed);

    // Act
    const [before, after] = [contentHash(draft), contentHash(changed)];

    // Assess
    expect(after).not.toBe(before);
  });

  it('does not confuse text moved between fields', () => {
    // Prepare
    const a: TemplateDraft = { name: 'n', variables: [], content: { email: { subject: 'ab', text: 'c' } } };
    const b: TemplateDraft = { name: 'n', variables: [], content: { email: { subject: 'a', text: 'bc' } } };

    // Act & Assess
    expect(contentHash(a)).not.toBe(contentHash(b));
  });
});
