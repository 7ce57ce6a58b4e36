import * as z from 'zod/mini';
import { channels, type Channel } from '#shared/domain/message.ts';
import { NotFoundError, ValidationError } from '#shared/errors.ts';

/**
 * Validation of what the template routes take besides a draft (which `parseDraft` checks): template
 * ids, version numbers, JSON bodies, reasons, preview requests. Handlers call these before the use case.
 */

/** `tpl_` and 32 hex digits, as {@link newTemplateId} makes them. */
const TEMPLATE_ID = /^tpl_[0-9a-f]{32}$/;

/** Versions are stored under a 6-digit sort key. */
const VERSION = /^[1-9][0-9]{0,5}$/;

/** A reason (reject, revoke) is free text for people: bounded, not blank. */
export const MAX_REASON_LENGTH = 1000;

/** Staff bodies are small JSON documents; a draft's largest field is 200 KB of email html. */
export const MAX_TEMPLATE_BODY_BYTES = 512 * 1024;

/**
 * A template id from a path. Anything that is not one cannot name a template: 404, like an unknown one.
 *
 * @example
 * ```ts
 * const templateId = parseTemplateId(event.pathParameters?.templateId);
 * ```
 */
export function parseTemplateId(raw: string | undefined): string {
  if (raw === undefined || !TEMPLATE_ID.test(raw)) throw new NotFoundError('Unknown template');
  return raw;
}

/**
 * A version number from a path: a positive integer (400 otherwise).
 *
 * @example
 * ```ts
 * const version = parseVersion(event.pathParameters?.version); // 3
 * ```
 */
export function parseVersion(raw: string | undefined): number {
  if (raw === undefined || !VERSION.test(raw)) throw new ValidationError('version must be a positive integer');
  return Number(raw);
}

function fieldsOf(error: z.core.$ZodError): string {
  return [...new Set(error.issues.map((i) => i.path.join('.') || '(body)'))].join(', ');
}

const contentHash = z.string().check(z.regex(/^[0-9a-f]{64}$/));
const reason = z.string().check(z.trim(), z.minLength(1), z.maxLength(MAX_REASON_LENGTH));

const approveSchema = z.optional(z.strictObject({ contentHash: z.optional(contentHash) }));
const reasonSchema = z.strictObject({ reason, contentHash: z.optional(contentHash) });
const previewSchema = z.strictObject({
  channel: z.enum(channels),
  variables: z._default(z.record(z.string().check(z.maxLength(64)), z.string().check(z.maxLength(10_000))), {}),
});

/**
 * The approve body: optional, `{"contentHash"}` = the hash the approver saw.
 *
 * @example
 * ```ts
 * const { contentHash } = parseApproveBody(parseJsonBody(raw, { optional: true }));
 * ```
 */
export function parseApproveBody(json: unknown): { contentHash?: string } {
  const parsed = approveSchema.safeParse(json);
  if (!parsed.success) throw new ValidationError(`Invalid approval fields: ${fieldsOf(parsed.error)} (contentHash is 64 hex digits)`);
  return parsed.data?.contentHash === undefined ? {} : { contentHash: parsed.data.contentHash };
}

/**
 * The reject and revoke body: `{"reason"}` (1–1000 characters), optionally `{"contentHash"}` seen.
 *
 * @example
 * ```ts
 * const { reason } = parseReasonBody(parseJsonBody(raw));
 * ```
 */
export function parseReasonBody(json: unknown): { reason: string; contentHash?: string } {
  const parsed = reasonSchema.safeParse(json);
  if (!parsed.success) throw new ValidationError(`Invalid fields: ${fieldsOf(parsed.error)} (reason is required, 1–${MAX_REASON_LENGTH} characters)`);
  return { reason: parsed.data.reason, ...(parsed.data.contentHash === undefined ? {} : { contentHash: parsed.data.contentHash }) };
}

/**
 * The preview body: `{"channel", "variables"?}`.
 *
 * @example
 * ```ts
 * const { channel, variables } = parsePreviewBody(parseJsonBody(raw));
 * ```
 */
export function parsePreviewBody(json: unknown): { channel: Channel; variables: Record<string, string> } {
  const parsed = previewSchema.safeParse(json);
  if (!parsed.success) throw new ValidationError(`Invalid preview fields: ${fieldsOf(parsed.error)}`);
  return parsed.data;
}
