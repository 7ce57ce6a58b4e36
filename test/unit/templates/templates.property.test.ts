import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TemplateContent, TemplateDraft } from '#shared/domain/template.ts';
import { UnprocessableError, ValidationError } from '#shared/errors.ts';
import { contentHash } from '#shared/templates/content-hash.ts';
import { parseDraft } from '#shared/templates/draft-schema.ts';
import { renderTemplate } from '#shared/templates/render.ts';
import { smsInfo } from '#shared/templates/sms-segments.ts';

const NAMES = ['a', 'b', 'first_name', 'constructor'] as const;

type Part = { text: string } | { name: (typeof NAMES)[number]; spaced: boolean };

/** Literal text that cannot form a placeholder (no braces), optionally restricted to html-safe characters. */
const literal = (htmlSafe: boolean) =>
  htmlSafe ? fc.string({ unit: fc.constantFrom(...'abc XYZ 09.,!\n') }) : fc.string({ unit: 'binary' }).map((s) => s.replace(/[{}]/g, ''));

/** A template string as parts: literal text and placeholders (`{{name}}` or `{{ name }}`). */
const parts = (htmlSafe: boolean): fc.Arbitrary<Part[]> =>
  fc.array(fc.oneof(literal(htmlSafe).map((text) => ({ text })), fc.record({ name: fc.constantFrom(...NAMES), spaced: fc.boolean() })), { maxLength: 12 });

const source = (ps: Part[]) => ps.map((p) => ('text' in p ? p.text : p.spaced ? `{{ ${p.name} }}` : `{{${p.name}}}`)).join('');

/** Variable values a hostile or careless caller could send: anything, placeholders and markup included. */
const value = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('{{a}}', '{{ b }}', '{{{first_name}}}', '<script>alert(1)</script>', '"\'`&<>', '&amp;', '}}{{'),
);
const values = fc.record(Object.fromEntries(NAMES.map((n) => [n, value])) as Record<(typeof NAMES)[number], fc.Arbitrary<string>>);

const allOptional = NAMES.map((name) => ({ name, required: false }));

/** What a plain-text field must become: the literal text, each value exactly where its placeholder stood. */
const expected = (ps: Part[], vs: Record<string, string>, escape = (v: string) => v) => ps.map((p) => ('text' in p ? p.text : escape(vs[p.name]!))).join('');

const unescapeHtml = (html: string) =>
  html.replace(/&(lt|gt|quot|#39|#96|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", '#96': '`', amp: '&' })[e]!);

describe('template properties', () => {
  it('inserts each value verbatim where its placeholder stood, never expanding it, in every plain-text field', () => {
    fc.assert(
      fc.property(fc.tuple(parts(false), parts(false), parts(false)), values, ([body, subject, text], vs) => {
        // Prepare
        const content: TemplateContent = {
          sms: { body: source(body) },
          chat: { body: source(body) },
          voice: { say: source(body) },
          email: { subject: source(subject), text: source(text) },
        };
        const template = { variables: allOptional, content };

        // Act
        const rendered = (['sms', 'chat', 'voice'] as const).map((channel) => renderTemplate(template, channel, vs).body);
        const email = renderTemplate(template, 'email', vs);

        // Assess
        expect(rendered).toEqual([expected(body, vs), expected(body, vs), expected(body, vs)]);
        expect(email.subject).toBe(expected(subject, vs));
        expect(email.body).toBe(expected(text, vs));
      }),
    );
  });

  it('never lets a value put markup into email html: no unescaped < > " \' ` from a value, and the text reads back exactly', () => {
    fc.assert(
      fc.property(parts(true), values, (html, vs) => {
        // Prepare
        const template = { variables: allOptional, content: { email: { subject: 's', text: 't', html: source(html) } } };

        // Act
        const out = renderTemplate(template, 'email', vs).html!;

        // Assess
        expect(out).not.toMatch(/[<>"'`]/);
        expect(out.replace(/&(lt|gt|quot|#39|#96|amp);/g, '')).not.toContain('&');
        expect(unescapeHtml(out)).toBe(expected(html, vs));
      }),
    );
  });

  it('answers any JSON body with a draft or a 400/422, never another error; a draft it accepts renders on each of its channels', () => {
    // Template text: mostly well-formed pieces, now and then a stray brace run or an undeclared name.
    const piece = fc.oneof(
      { weight: 40, arbitrary: fc.constantFrom('Hi ', 'a', ' ', '{{a}}', '{{ b }}', '{{c}}', '{ x }', '\n', 'é', '😀') },
      { weight: 1, arbitrary: fc.constantFrom('{{', '}}', '{{{a}}}', '{{ 1x }}', '{{d}}', '{{#if a}}') },
    );
    const templateText = fc.array(piece, { minLength: 1, maxLength: 8 }).map((ps) => ps.join(''));
    const draftish = fc.record(
      {
        name: fc.oneof(fc.constantFrom('Welcome', 'Outage'), fc.string({ maxLength: 3 })),
        locale: fc.constantFrom('en', 'en-GB', 'es-419', 'x'),
        variables: fc.oneof(
          { weight: 4, arbitrary: fc.tuple(fc.boolean(), fc.boolean(), fc.boolean()).map((req) => ['a', 'b', 'c'].map((name, i) => ({ name, required: req[i]! }))) },
          {
            weight: 1,
            arbitrary: fc.array(fc.record({ name: fc.constantFrom('a', 'b', 'c', '1a', '', '__proto__', 'toString'), required: fc.boolean() }), { maxLength: 4 }),
          },
        ),
        content: fc.record(
          {
            sms: fc.record({ body: templateText }),
            email: fc.record({ subject: templateText, text: templateText, html: templateText }, { requiredKeys: ['subject', 'text'] }),
            chat: fc.record({ body: templateText }),
            voice: fc.record({ say: templateText }),
          },
          { requiredKeys: [] },
        ),
      },
      { requiredKeys: ['name', 'variables', 'content'] },
    );
    /** A draft-like body with one member, at any depth, replaced by arbitrary JSON (or added). */
    const corrupted = fc.tuple(draftish, fc.array(fc.constantFrom('name', 'locale', 'variables', 'content', 'sms', 'email', 'body', 'required', 'fax'), { minLength: 1, maxLength: 3 }), fc.jsonValue()).map(
      ([draft, path, json]) => {
        const copy: Record<string, unknown> = structuredClone(draft);
        let at: Record<string, unknown> = copy;
        for (const key of path.slice(0, -1)) {
          const next = at[key];
          if (next === null || typeof next !== 'object') break;
          at = next as Record<string, unknown>;
        }
        at[path[path.length - 1]!] = json;
        return copy;
      },
    );
    let accepted = 0;
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), draftish, corrupted), (body) => {
        // Act
        let draft: TemplateDraft | undefined;
        try {
          draft = parseDraft(structuredClone(body));
        } catch (err) {
          // Assess: only client errors
          expect([ValidationError, UnprocessableError].some((type) => err instanceof type)).toBe(true);
          return;
        }
        // Assess: an accepted draft always renders when every variable is given
        const given = Object.fromEntries(draft.variables.map((v) => [v.name, 'x']));
        for (const channel of ['sms', 'email', 'chat', 'voice'] as const) {
          if (draft.content[channel] !== undefined) expect(() => renderTemplate(draft, channel, given)).not.toThrow();
        }
        expect(contentHash(draft)).toBe(contentHash(structuredClone(draft)));
        accepted += 1;
      }),
      { numRuns: 500 },
    );
    // The generator must reach the rendering half of the property, not only the refusals.
    expect(accepted).toBeGreaterThan(0);
  });

  const gsmChar = fc.constantFrom(...'@£$¥èéÇ\nØ\rÅΔ_ΦΓ ÆßÉ!"#¤%&\'()*+,-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà', ...'\f^{}\\[~]|€');
  const gsmText = (maxLength: number) => fc.string({ unit: gsmChar, maxLength });

  it('never needs fewer segments for a longer GSM-7 message', () => {
    fc.assert(
      fc.property(gsmText(400), gsmText(200), (start, more) => {
        // Act
        const [short, long] = [smsInfo(start), smsInfo(start + more)];

        // Assess
        expect([short.encoding, long.encoding]).toEqual(['GSM-7', 'GSM-7']);
        expect(long.characters).toBeGreaterThanOrEqual(short.characters);
        expect(long.segments).toBeGreaterThanOrEqual(short.segments);
      }),
    );
  });

  it('counts ceil(septets / 153) segments past 160 when no character straddles a boundary', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'abc XYZ 019.,@£'), maxLength: 1000 }), (body) => {
        // Act
        const info = smsInfo(body);

        // Assess
        expect(info).toEqual({ encoding: 'GSM-7', characters: body.length, segments: body.length <= 160 ? 1 : Math.ceil(body.length / 153) });
      }),
    );
  });
});
