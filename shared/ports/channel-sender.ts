import type { Channel } from '#shared/domain/message.ts';

/** One outbound message, rendered, addressed and ready for a provider. */
export type OutboundDelivery = {
  readonly messageId: string;
  readonly conversationId: string;
  readonly channel: Channel;
  /** Phone in E.164 (sms, voice), email address (email), chat userId (chat). */
  readonly to: string;
  /** SMS/chat body, email text, or the voice `say` text. */
  readonly body: string;
  readonly subject?: string;
  readonly html?: string;
  /** Email threading: the inbound Message-ID being answered and its references. */
  readonly inReplyTo?: string;
  readonly references?: readonly string[];
  /** RFC 8058 one-click unsubscribe URL (email). */
  readonly unsubscribeUrl?: string;
  /** Where the provider reports delivery status (Twilio statusCallback). */
  readonly statusCallbackUrl?: string;
};

export type DeliveryResult = {
  /** Twilio Message/Call SID, SendGrid X-Message-Id, chat backend id, or the outbox entry id. */
  readonly providerMessageId: string;
  readonly provider: 'twilio' | 'sendgrid' | 'chat' | 'outbox';
};

/**
 * The provider refused for good (e.g. Twilio 21610 opted out, 21211 invalid number): never retried.
 * `recipientOptedOut`: the provider's own record says the recipient opted out of the channel (Twilio
 * 21610: they texted STOP to this sender), which the consent ledger then records too.
 */
export class PermanentDeliveryError extends Error {
  readonly reason: string;
  readonly recipientOptedOut: boolean;
  constructor(reason: string, options?: { cause?: unknown; recipientOptedOut?: boolean }) {
    super(`Delivery refused: ${reason}`, options);
    this.name = 'PermanentDeliveryError';
    this.reason = reason;
    this.recipientOptedOut = options?.recipientOptedOut ?? false;
  }
}

/**
 * The provider refused our credentials or configuration (401, 403, 404: a wrong or rotated API key, an
 * unverified sender, a wrong account or URL), not the message. Logged as an error and retried like a
 * "not now"; after the message's last try it ends `failed` with `reason`, for a person to send again
 * once the setting is fixed.
 */
export class ProviderConfigError extends Error {
  readonly reason: string;
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`Provider refused our credentials or settings: ${reason}`, options);
    this.name = 'ProviderConfigError';
    this.reason = reason;
  }
}

/**
 * A failure worth retrying (5xx, timeout, 429): the queue retries with backoff, then the DLQ keeps it.
 * `outcomeUnknown`: the request may have reached the provider and been accepted (no answer in time, a
 * connection lost mid-call, a 2xx we could not read), so a retry must first wait for the provider's
 * own word: the sender retries only if no status callback named the message in the meantime.
 */
export class TransientDeliveryError extends Error {
  readonly outcomeUnknown: boolean;
  constructor(message: string, options?: { cause?: unknown; outcomeUnknown?: boolean }) {
    super(message, options);
    this.name = 'TransientDeliveryError';
    this.outcomeUnknown = options?.outcomeUnknown ?? false;
  }
}

/**
 * Port: one adapter per provider and channel (Twilio SMS, Twilio voice, SendGrid email, chat backend,
 * local outbox). `send` throws {@link PermanentDeliveryError}, {@link TransientDeliveryError} or
 * {@link ProviderConfigError}.
 */
export type ChannelSender = {
  send(delivery: OutboundDelivery): Promise<DeliveryResult>;
};

/** Delivery statuses the product shows, in the order they may move (forward only). */
export const deliveryStatusRank = { queued: 0, sending: 1, sent: 2, delivered: 3, undelivered: 3, failed: 3 } as const;
export type DeliveryStatus = keyof typeof deliveryStatusRank;
