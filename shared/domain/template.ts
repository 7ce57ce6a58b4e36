import type { Channel } from '#shared/domain/message.ts';

/** A template version's lifecycle. Only `draft` may change; a submitted version is immutable. */
export const templateStatuses = ['draft', 'pending_approval', 'approved', 'rejected', 'revoked'] as const;
export type TemplateStatus = (typeof templateStatuses)[number];

/**
 * A declared variable. `maxLength`: the most characters a value may have (default
 * {@link DEFAULT_VARIABLE_MAX_LENGTH}): part of the approved content, so the approver sees how much text
 * an agent can put into an automated message through it.
 */
export type TemplateVariable = { readonly name: string; readonly required: boolean; readonly maxLength?: number };

/** A value's limit when the template declares none: names, dates, amounts and references, not paragraphs. */
export const DEFAULT_VARIABLE_MAX_LENGTH = 200;
/** The most a template may allow one variable. */
export const MAX_VARIABLE_MAX_LENGTH = 1000;

/** Per-channel content (see CONTRACT.md). Placeholders are `{{name}}`. */
export type TemplateContent = {
  sms?: { body: string };
  email?: { subject: string; text: string; html?: string };
  chat?: { body: string };
  voice?: { say: string };
};

/** What an editor writes: `POST /templates` and `POST /templates/{id}/versions` take this. */
export type TemplateDraft = {
  name: string;
  locale?: string;
  variables: TemplateVariable[];
  content: TemplateContent;
};

export type TemplateVersion = TemplateDraft & {
  templateId: string;
  version: number;
  status: TemplateStatus;
  /** SHA-256 (hex) of the canonical JSON of {name, locale, variables, content}: what approvers approve. */
  contentHash: string;
  author: string;
  createdAt: string;
  submittedAt?: string;
  approvedBy?: string;
  approvedAt?: string;
  /** The hash the approver saw when approving (equals contentHash: approval is refused otherwise). */
  approvedHash?: string;
  rejectedBy?: string;
  rejectedAt?: string;
  rejectReason?: string;
  revokedBy?: string;
  revokedAt?: string;
  revokeReason?: string;
};

/** A rendered message for one channel, ready for a provider. */
export type RenderedContent = {
  channel: Channel;
  /** SMS/chat body, email text, or the voice `say` text. */
  body: string;
  subject?: string;
  html?: string;
};

/** How an SMS body will travel: encoding and number of segments (GSM-7: 160/153, UCS-2: 70/67). */
export type SmsInfo = { encoding: 'GSM-7' | 'UCS-2'; segments: number; characters: number };

/** One entry of an append-only audit trail (per template or per customer). */
export type AuditEntry = {
  subject: string;
  entryId: string;
  at: string;
  actor: string;
  action: string;
  details?: Record<string, unknown>;
};
