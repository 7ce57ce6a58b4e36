/** Channels a customer reaches us on. */
export const channels = ['sms', 'voice', 'email', 'chat'] as const;
export type Channel = (typeof channels)[number];

/** Kinds of identity that name a customer: phone in E.164, lower-cased email, chat app user id. */
export const identityKinds = ['phone', 'email', 'chat'] as const;
export type IdentityKind = (typeof identityKinds)[number];

export type IdentityRef = { readonly kind: IdentityKind; readonly value: string };

/** Metadata of an attachment; its content lives in the blob store (S3 in the cloud, `.data/` locally). */
export type Attachment = {
  name?: string;
  contentType: string;
  size?: number;
  /** Where the provider holds the media (Twilio MMS), until the inbound-work consumer copies it. */
  sourceUrl?: string;
  /** Key in the blob store once the content is ours. */
  storageKey?: string;
  status: 'stored' | 'pending' | 'failed';
};

/** One DKIM signature's verdict as SendGrid reported it: the signing domain (`d=`) and its result. */
export type DkimVerdict = { domain: string; result: string };

/**
 * How an inbound email's sender was authenticated (see `#shared/channels/email/sender-authentication.ts`).
 * `senderVerified` is true when DKIM or SPF passed for a domain aligned with the `From` address; false
 * mail is kept all the same, flagged, since a refusal would lose the customer's message.
 */
export type EmailAuthentication = {
  /** SendGrid's `SPF` result (`pass`, `fail`, `softfail`, `neutral`, `none`, `temperror`, `permerror`); absent when missing or unreadable. */
  spf?: string;
  /** Every DKIM verdict; empty for `none` or an unreadable field. */
  dkim: DkimVerdict[];
  senderVerified: boolean;
};

/** Threading headers of an email, kept to thread replies later; an inbound one also says how its sender was authenticated. */
export type EmailThreading = {
  messageId?: string;
  inReplyTo?: string;
  references?: string[];
  /** Inbound email only (messages stored before it existed have none). */
  authentication?: EmailAuthentication;
};

/**
 * One inbound message as the channel adapters hand it to the ingest use case, after the provider's
 * signature has been verified.
 */
export type InboundMessage = {
  readonly channel: Channel;
  /** The provider's delivery id (MessageSid, chat messageId, email Message-ID, TranscriptionSid): a retry repeats it. */
  readonly dedupeKey: string;
  /** The identity that sent the message. */
  readonly from: IdentityRef;
  /** Further identities the (trusted) sender vouches for, linked to the same customer. */
  readonly links?: readonly IdentityRef[];
  readonly body: string;
  readonly subject?: string;
  readonly attachments?: readonly Attachment[];
  readonly email?: EmailThreading;
  /** When the sender says it sent the message (ISO 8601), kept beside our own receive time. */
  readonly sentAt?: string;
  readonly displayName?: string;
};

/** A message as the staff API shows it (see CONTRACT.md). */
export type Message = {
  messageId: string;
  conversationId: string;
  channel: Channel;
  direction: 'inbound' | 'outbound';
  body: string;
  createdAt: string;
  status?: string;
  subject?: string;
  attachments?: Attachment[];
  templateId?: string;
  templateVersion?: number;
  sentAt?: string;
  email?: EmailThreading;
  /**
   * Inbound only: the address it came from (phone, email address or chat userId), so that an answer goes
   * back where the customer last wrote from. Messages stored before it was kept have none.
   */
  from?: string;
  // Outbound only.
  /** SHA-256 of the approved template version this message was rendered from. */
  contentHash?: string;
  /** True when the text came from a template (automation), false when an agent wrote it. */
  automated?: boolean;
  /** Staff user who queued it. */
  sentBy?: string;
  /** Where it was sent: phone, email address or chat userId. */
  to?: string;
  provider?: 'twilio' | 'sendgrid' | 'chat' | 'outbox';
  providerMessageId?: string;
  /** Why a send failed for good (provider error code or product rule). */
  failureReason?: string;
  /** Failed `provider_outcome_unknown` after a retry: why that retry did not send. */
  retryFailureReason?: string;
  /** Broadcast pacing: not handed to a provider before this instant. */
  notBefore?: string;
  broadcastId?: string;
};

export type IngestResult = {
  readonly customerId: string;
  readonly conversationId: string;
  readonly messageId: string;
  /** True when this delivery was seen before and nothing new was written. */
  readonly duplicate: boolean;
};
