import type { SendgridEvent } from '#shared/channels/sendgrid/event-webhook.ts';
import { setConsent } from '#shared/data/consent-store.ts';
import { findIdentityOwners, identityLabel } from '#shared/data/conversation-store.ts';
import { advanceStatus, asOutboundMessage, type OutboundMessage } from '#shared/data/outbound-store.ts';
import { findMessageFollowingMerge, writeFollowingMerge } from '#shared/ingest/follow-merge.ts';
import { rootCustomer } from '#shared/ingest/resolve-customer.ts';
import { logger } from '#shared/logger.ts';
import type { DeliveryStatus } from '#shared/ports/channel-sender.ts';

/** A status a provider reported, in the product's words. */
export type ReportedStatus = { status: Exclude<DeliveryStatus, 'queued' | 'sending'>; failureReason?: string };

/**
 * A Twilio Messages status (`MessageStatus`) in the product's words. The in-between statuses
 * (`accepted`, `queued`, `scheduled`, `sending`) say Twilio has the message: `sent` (as the sender records
 * on Twilio's answer). That matters when the sender never heard that answer: the callback names the
 * message, so the sender's retry does not send it again. Undefined for anything else (inbound statuses).
 *
 * @example
 * ```ts
 * twilioMessageStatus('undelivered', '30003'); // { status: 'undelivered', failureReason: 'twilio:30003' }
 * ```
 */
export function twilioMessageStatus(status: string, errorCode?: string): ReportedStatus | undefined {
  const reason = `twilio:${errorCode || status}`;
  switch (status) {
    case 'accepted':
    case 'queued':
    case 'scheduled':
    case 'sending':
    case 'sent':
      return { status: 'sent' };
    case 'delivered':
    case 'read':
      return { status: 'delivered' };
    case 'undelivered':
      return { status: 'undelivered', failureReason: reason };
    case 'failed':
    case 'canceled':
      return { status: 'failed', failureReason: reason };
    default:
      return undefined;
  }
}

/**
 * A Twilio Voice call status (`CallStatus`) in the product's words: a call under way (`queued`,
 * `initiated`, `ringing`, `in-progress`) is `sent`, so that a sender that never heard Twilio's answer does
 * not place the call twice (the voice sender subscribes to `initiated` for this); a completed call
 * delivered the message; busy, no answer, failed or canceled did not.
 *
 * @example
 * ```ts
 * twilioCallStatus('no-answer'); // { status: 'undelivered', failureReason: 'twilio:no-answer' }
 * ```
 */
export function twilioCallStatus(status: string): ReportedStatus | undefined {
  switch (status) {
    case 'queued':
    case 'initiated':
    case 'ringing':
    case 'in-progress':
      return { status: 'sent' };
    case 'completed':
      return { status: 'delivered' };
    case 'busy':
    case 'no-answer':
    case 'failed':
    case 'canceled':
      return { status: 'undelivered', failureReason: `twilio:${status}` };
    default:
      return undefined;
  }
}

/**
 * Applies a provider's status report to an outbound message, forward only: a late `sent` never
 * overwrites `delivered`, a repeated report changes nothing. With `providerMessageId`, only the message
 * the provider sent under that id moves. Follows a merge that moved the thread since the send.
 *
 * @returns `updated`, `stale` (nothing to move, or a different provider id) or `missing`.
 *
 * @example
 * ```ts
 * await applyDeliveryStatus({ conversationId, messageId, providerMessageId: 'SM…', status: 'delivered' });
 * ```
 */
export async function applyDeliveryStatus(
  report: ReportedStatus & { conversationId: string; messageId: string; providerMessageId?: string },
  now: Date = new Date(),
): Promise<'updated' | 'stale' | 'missing'> {
  const change = {
    status: report.status,
    ...(report.failureReason !== undefined ? { failureReason: report.failureReason } : {}),
    ...(report.providerMessageId !== undefined ? { providerMessageId: report.providerMessageId } : {}),
    now: now.toISOString(),
  };
  return writeFollowingMerge(report, (at) => advanceStatus(at, report.messageId, change), (outcome) => outcome !== 'missing');
}

const sendgridStatus: Record<string, ReportedStatus | undefined> = {
  processed: { status: 'sent' },
  delivered: { status: 'delivered' },
  bounce: { status: 'failed', failureReason: 'sendgrid:bounce' },
  dropped: { status: 'failed', failureReason: 'sendgrid:dropped' },
};

/** The status an event reports, if it is one we act on (own keys only: an event is any string). */
const reportedBy = (event: string): ReportedStatus | undefined => (Object.hasOwn(sendgridStatus, event) ? sendgridStatus[event] : undefined);

const optOutEvents = new Set(['unsubscribe', 'group_unsubscribe', 'spamreport']);

/** Events handled at once: SendGrid batches up to thousands; the table takes them in small waves. */
const EVENT_CONCURRENCY = 8;

/**
 * Applies a batch of verified SendGrid events: `processed` → sent, `delivered` → delivered,
 * `bounce`/`dropped` → failed (`sendgrid:<event>`); `unsubscribe`, `group_unsubscribe` and
 * `spamreport` opt the customer out of email, whatever send they name. Delivery events of messages we
 * do not know or of another send than the one SendGrid accepted for us, and the engagement events
 * (`open`, `click`, `deferred`) are ignored.
 *
 * @example
 * ```ts
 * await applySendgridEvents([{ event: 'delivered', messageId, conversationId, sg_message_id }]);
 * ```
 */
export async function applySendgridEvents(events: readonly SendgridEvent[], now: Date = new Date()): Promise<void> {
  // Only the events that change something, and the opt-outs first: should a large batch run out of time
  // (its retry applies it all again, idempotently), the customers' wishes are recorded already. The
  // engagement events (`open`, `click`…), most of a batch, cost no read at all.
  const optOuts = events.filter((e) => optOutEvents.has(e.event));
  const deliveries = events.filter((e) => reportedBy(e.event) !== undefined);
  for (const wave of [optOuts, deliveries]) {
    for (let i = 0; i < wave.length; i += EVENT_CONCURRENCY) {
      await Promise.all(wave.slice(i, i + EVENT_CONCURRENCY).map((e) => applySendgridEvent(e, now)));
    }
  }
}

async function applySendgridEvent(event: SendgridEvent, now: Date): Promise<void> {
  const message = event.messageId && event.conversationId ? asOutboundMessage(await findMessageFollowingMerge(event.conversationId, event.messageId)) : undefined;
  // An opt-out counts whichever send it came from (the batch is signed; the customer asked): it is not
  // subject to the same-send check that keeps another send's delivery events off this message.
  if (optOutEvents.has(event.event)) {
    const customerId = message ? await rootCustomer(message.customerId) : await customerOfEmail(event.email);
    if (!customerId) return;
    const changed = await setConsent({ customerId, channel: 'email', status: 'opted_out', source: `sendgrid:${event.event}`, actor: 'sendgrid', now: now.toISOString() });
    if (changed) logger.info('email opt-out recorded', { customerId, source: event.event });
    return;
  }
  const reported = reportedBy(event.event);
  if (!reported || !message) return;
  if (!isSameSend(message, event)) {
    logger.warn('SendGrid event for another send ignored', { messageId: message.messageId, event: event.event });
    return;
  }
  await applyDeliveryStatus({ conversationId: message.conversationId, messageId: message.messageId, ...reported }, now);
}

/**
 * SendGrid's `sg_message_id` is the `X-Message-Id` it answered the send with, plus a suffix: when both
 * are known they must agree. (The custom args alone are trusted: the batch's signature is verified.) A
 * send that SendGrid accepted without an `X-Message-Id` is recorded under our own message id: no
 * SendGrid id is known then.
 */
function isSameSend(message: OutboundMessage, event: SendgridEvent): boolean {
  if (message.channel !== 'email') return false;
  const sendgridId = message.provider === 'sendgrid' && message.providerMessageId !== message.messageId ? message.providerMessageId : undefined;
  if (!sendgridId || !event.sg_message_id) return true;
  return event.sg_message_id === sendgridId || event.sg_message_id.startsWith(`${sendgridId}.`);
}

/** An opt-out without our custom args (e.g. a list-wide unsubscribe): found by the address. */
async function customerOfEmail(address: string | undefined): Promise<string | undefined> {
  if (!address) return undefined;
  const ref = { kind: 'email', value: address.trim().toLowerCase() } as const;
  const owner = (await findIdentityOwners([ref])).get(identityLabel(ref));
  return owner ? rootCustomer(owner) : undefined;
}
