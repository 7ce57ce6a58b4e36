import * as z from 'zod/mini';
import { MAX_VARIABLE_MAX_LENGTH, type TemplateDraft } from '#shared/domain/template.ts';
import { PayloadTooLargeError, UnprocessableError, ValidationError } from '#shared/errors.ts';
import { namesMessage, parsePlaceholders, templateFields, VARIABLE_NAME } from '#shared/templates/placeholders.ts';

/** At most this many declared variables per template. */
export const MAX_VARIABLES = 50;

/**
 * Most bytes (UTF-8, as DynamoDB counts) a draft may take. A version is one item, and DynamoDB items
 * stop at 400 KB; the rest is left for the version's own attributes (ids, hash, author, approval). The
 * field limits count characters (an all-ASCII draft at every limit takes about 311 KB), so 200,000
 * characters of non-Latin html alone can exceed the item. Measured on the draft's JSON, a little more
 * than DynamoDB counts.
 */
export const MAX_DRAFT_BYTES = 350 * 1024;

const text = (min: number, max: number) => z.string().check(z.minLength(min), z.maxLength(max));

/** Language, then optional script/region/variant subtags: `en`, `en-GB`, `es-419`, `zh-Hant-TW`. */
const LOCALE = /^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8}){0,3}$/;

/**
 * The shape of a template draft (`POST /templates`, `POST /templates/{id}/versions`): lengths bounded,
 * unknown keys refused at every level. Rules about placeholders and variable names are
 * {@link checkDraft}'s (a 422, not a 400): the body is well-formed, its content is not acceptable.
 * SMS 1600 is Twilio's limit for one message; 998 is RFC 5322's line limit for a subject.
 *
 * @example
 * ```ts
 * const parsed = templateDraftSchema.safeParse(json);
 * ```
 */
export const templateDraftSchema = z.strictObject({
  name: text(1, 200).check(z.regex(/\S/)),
  locale: z.optional(z.string().check(z.regex(LOCALE))),
  variables: z
    .array(z.strictObject({ name: z.string(), required: z.boolean(), maxLength: z.optional(z.number().check(z.int(), z.minimum(1), z.maximum(MAX_VARIABLE_MAX_LENGTH))) }))
    .check(z.maxLength(MAX_VARIABLES)),
  content: z.strictObject({
    sms: z.optional(z.strictObject({ body: text(1, 1600) })),
    email: z.optional(z.strictObject({ subject: text(1, 998), text: text(1, 100_000), html: z.optional(text(1, 200_000)) })),
    chat: z.optional(z.strictObject({ body: text(1, 4000) })),
    voice: z.optional(z.strictObject({ say: text(1, 4000) })),
  }),
});

/**
 * The rules a well-formed draft must also meet before it is saved: at least one channel's content,
 * variable names that are valid and distinct, placeholders that are well-formed and declared.
 *
 * @throws {UnprocessableError} `empty_template`, `invalid_variable`, `malformed_placeholder` or
 *   `undeclared_placeholder`; the message names the culprit(s).
 * @throws {PayloadTooLargeError} (413) the draft takes more than {@link MAX_DRAFT_BYTES} stored.
 * @example
 * ```ts
 * checkDraft({ name: 'Welcome', variables: [{ name: 'first_name', required: true }], content: { sms: { body: 'Hi {{first_name}}' } } });
 * ```
 */
export function checkDraft(draft: TemplateDraft): void {
  const bytes = Buffer.byteLength(JSON.stringify(draft), 'utf8');
  if (bytes > MAX_DRAFT_BYTES) throw new PayloadTooLargeError(`The template takes ${bytes} bytes stored (UTF-8); at most ${MAX_DRAFT_BYTES}`);
  const fields = templateFields(draft.content);
  if (fields.length === 0) throw new UnprocessableError('empty_template', 'A template needs content for at least one channel');

  const declared = new Set<string>();
  for (const { name } of draft.variables) {
    if (!VARIABLE_NAME.test(name)) {
      throw new UnprocessableError('invalid_variable', `Invalid variable name ${JSON.stringify(name)}: letters, digits and _, not starting with a digit, at most 64`);
    }
    // A JSON object's `__proto__` key never reaches the values a send is rendered with: it could be
    // declared but never filled in.
    if (name === '__proto__') throw new UnprocessableError('invalid_variable', 'The variable name __proto__ is reserved');
    if (declared.has(name)) throw new UnprocessableError('invalid_variable', `Variable declared twice: ${name}`);
    declared.add(name);
  }

  const undeclared = new Set<string>();
  for (const { field, source } of fields) {
    for (const part of parsePlaceholders(source, field)) {
      if (part.kind === 'variable' && !declared.has(part.name)) undeclared.add(part.name);
    }
  }
  if (undeclared.size > 0) throw new UnprocessableError('undeclared_placeholder', namesMessage('Undeclared placeholder', [...undeclared]));
}

/**
 * A request body as a template draft: its shape (400 naming the bad fields), then {@link checkDraft}
 * (422). What it returns is exactly what the editor sent, nothing added or dropped.
 *
 * @throws {ValidationError} the body is not a draft; the message lists the offending fields.
 * @throws {UnprocessableError} see {@link checkDraft}.
 * @example
 * ```ts
 * const draft = parseDraft(JSON.parse(body));
 * ```
 */
export function parseDraft(body: unknown): TemplateDraft {
  const parsed = templateDraftSchema.safeParse(body);
  if (!parsed.success) {
    const fields = new Set<string>();
    for (const issue of parsed.error.issues) {
      const path = issue.path.map(String);
      // An unknown key's issue sits on the object that holds it: name the key itself.
      const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
      for (const key of keys) fields.add([...path, ...(key === undefined ? [] : [key])].join('.') || '(body)');
    }
    throw new ValidationError(`Invalid template fields: ${[...fields].join(', ')}`);
  }
  const draft: TemplateDraft = parsed.data;
  checkDraft(draft);
  return draft;
}
