import { setTimeout as sleep } from 'node:timers/promises';
import { TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient, getTableName } from '#shared/data/client.ts';
import { DEFAULT_CONSENT, type ConsentStatus } from '#shared/data/consent-store.ts';
import { appendMessage, getMessage, isConditionFailure, listThreadPage, type StoredMessage } from '#shared/data/conversation-store.ts';
import { PK, SK, consentKey, customerKey, messageKey, revised, templateVersionKey } from '#shared/data/keys.ts';
import { toVersion, type StoredTemplateVersion } from '#shared/data/template-store.ts';
import type { Channel, EmailThreading } from '#shared/domain/message.ts';
import { deliveryStatusRank, type DeliveryResult, type DeliveryStatus } from '#shared/ports/channel-sender.ts';

/**
 * Outbound messages in the thread: the same item as an inbound message (so the thread stays one list in
 * time order), plus the delivery state machine. Every status change is a conditional update on the
 * numeric `statusRank` (queued 0, sending 1, sent 2, delivered/undelivered/failed 3), so a status only
 * ever moves forward, whatever order the sender and the providers' callbacks arrive in.
 */

/** An outbound message as stored: the staff-visible message plus what the sender needs at send time. */
export type OutboundMessage = StoredMessage & {
  direction: 'outbound';
  status: DeliveryStatus;
  statusRank: number;
  /** The variables the template was rendered with: the sender renders again from the approved version. */
  variables?: Record<string, string>;
  statusUpdatedAt?: string;
  /**
   * Set while a send attempt's outcome is unknown (no answer in time): the message stays `sending`, and
   * the retry claims it again only if no status callback has named it since.
   */
  outcomeUnknownAt?: string;
  /**
   * Failed `provider_outcome_unknown` after a retry: why that retry did not send (`opted_out`,
   * `template_not_approved`, a provider code…). An earlier try got no answer and may have gone out.
   */
  retryFailureReason?: string;
  /** When the sender last claimed it (`queued` → `sending`) to call its provider. */
  sendingAt?: string;
  /**
   * How many times the sender has claimed the message to call its provider. Counted on the message, not
   * by the queue's receive count, which also grows each time the message waits behind an earlier one of
   * its conversation that is being retried.
   */
  sendAttempts?: number;
};

/** How many thread pages (newest first) to look through for the inbound email a reply answers. */
const THREADING_PAGES = 4;
const THREADING_PAGE_SIZE = 50;
/** RFC 5322 does not bound References; a reply keeps the thread's first id and the latest ones. */
const MAX_REFERENCES = 20;

const exists = `attribute_exists(${PK})`;

/**
 * Writes a new outbound message into its thread as `queued` (rank 0). The id is new, so a clash means a
 * bug rather than a retry: it throws.
 *
 * @example
 * ```ts
 * await appendOutboundMessage({ messageId, conversationId, customerId, channel: 'sms', direction: 'outbound', body, createdAt, automated: true, sentBy, to });
 * ```
 */
export async function appendOutboundMessage(message: Omit<OutboundMessage, 'status' | 'statusRank'>): Promise<OutboundMessage> {
  const item: OutboundMessage = { ...message, status: 'queued', statusRank: deliveryStatusRank.queued, statusUpdatedAt: message.createdAt };
  const outcome = await appendMessage(item);
  if (outcome !== 'created') throw new Error('Outbound message id already in use');
  return item;
}

/**
 * One outbound message (strongly consistent), or undefined when there is none with that id in that
 * conversation (an inbound message with that id does not count).
 *
 * @example
 * ```ts
 * const message = await getOutboundMessage('conv_…', 'msg_…');
 * ```
 */
export async function getOutboundMessage(conversationId: string, messageId: string): Promise<OutboundMessage | undefined> {
  return asOutboundMessage(await getMessage(conversationId, messageId));
}

/**
 * A stored message read as an outbound one (its `statusRank` filled in from its status when missing), or
 * undefined when it is not outbound.
 *
 * @example
 * ```ts
 * const message = asOutboundMessage(await findMessageFollowingMerge(conversationId, messageId));
 * ```
 */
export function asOutboundMessage(message: StoredMessage | undefined): OutboundMessage | undefined {
  if (message?.direction !== 'outbound') return undefined;
  const stored = message as OutboundMessage;
  return { ...stored, statusRank: typeof stored.statusRank === 'number' ? stored.statusRank : deliveryStatusRank[stored.status] };
}

/**
 * The condition that a message is still as the sender read it before any claim of its own: `queued`, or
 * (a retry after an unknown outcome) still `sending` under that very outcome with no provider id. Both
 * the claim and a refusal before it write only on it, so neither overtakes another copy of the job.
 */
function unclaimedAsRead(asRead: Pick<OutboundMessage, 'status' | 'outcomeUnknownAt'>): { condition: string; values: Record<string, unknown> } {
  const again = asRead.status === 'sending' && asRead.outcomeUnknownAt !== undefined;
  return again
    ? { condition: `${exists} AND #status = :sending AND outcomeUnknownAt = :unknownAt AND attribute_not_exists(providerMessageId)`, values: { ':sending': 'sending', ':unknownAt': asRead.outcomeUnknownAt } }
    : { condition: `${exists} AND #status = :queued`, values: { ':queued': 'queued' } };
}

/**
 * The sender's claim: `queued` → `sending`, only if still `queued`, counting the message's `sendAttempts`. The one write that makes a send
 * happen at most once: of two copies of a job, one wins, the other sees `taken`. The claim is one
 * transaction with the checks that must still hold at that instant: the customer whose consent counts
 * (`customerId`: the message's, or the live one after a merge, with the message's own customer and
 * `mergedOnTheWay`, the customers merged on the way there) has not opted out of the channel (an opt-out
 * that commits first makes the claim fail, `opted_out`; one that commits later finds the message
 * already `sending`) and has not been merged into another meanwhile (`customer_merged`: an opt-out may
 * now be recorded on the survivor; decide again with its consent); for a templated message, the
 * template version is still `approved` with the hash the message was rendered from (`template_not_approved`).
 *
 * @example
 * ```ts
 * const claim = await claimForSending(message, now); // 'claimed' | 'taken' | 'opted_out' | 'customer_merged' | 'template_not_approved'
 * ```
 */
export async function claimForSending(
  message: Pick<OutboundMessage, 'conversationId' | 'messageId' | 'customerId' | 'channel' | 'templateId' | 'templateVersion' | 'contentHash' | 'status' | 'outcomeUnknownAt'>,
  now: string,
  customerId: string = message.customerId,
  mergedOnTheWay: readonly string[] = [],
): Promise<'claimed' | 'taken' | 'opted_out' | 'customer_merged' | 'template_not_approved'> {
  // The message's own customer's opt-outs count too, and those of every customer merged on the way to
  // the live one (a merge copies them to the survivor, but only as it finishes); the live customer must
  // not have been merged meanwhile.
  const consentHolders = [...new Set([message.customerId, ...mergedOnTheWay, customerId])];
  // A retry after an unknown outcome claims the message it left `sending`, only while no callback has
  // named it (no provider id) and no other retry has claimed it since (the same outcomeUnknownAt).
  const asRead = unclaimedAsRead(message);
  const claim = revised({
    TableName: getTableName(),
    Key: messageKey(message.conversationId, message.messageId),
    UpdateExpression:
      'SET #status = :sending, statusRank = :sendingRank, statusUpdatedAt = :now, sendingAt = :now, sendAttempts = if_not_exists(sendAttempts, :noAttempts) + :oneAttempt REMOVE outcomeUnknownAt',
    ConditionExpression: asRead.condition,
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: { ...asRead.values, ':sending': 'sending', ':sendingRank': deliveryStatusRank.sending, ':now': now, ':noAttempts': 0, ':oneAttempt': 1 },
  });
  const notOptedOut = consentHolders.map((holder) => ({
    ConditionCheck: {
      TableName: getTableName(),
      Key: consentKey(holder, message.channel),
      ConditionExpression: `attribute_not_exists(${PK}) OR #status <> :optedOut`,
      ExpressionAttributeNames: { '#status': 'status' },
      ExpressionAttributeValues: { ':optedOut': 'opted_out' satisfies ConsentStatus },
    },
  }));
  const notMerged = { TableName: getTableName(), Key: customerKey(customerId), ConditionExpression: 'attribute_not_exists(mergedInto)' };
  const templated = message.templateId !== undefined && message.templateVersion !== undefined;
  const approved = templated
    ? [
        {
          ConditionCheck: {
            TableName: getTableName(),
            Key: templateVersionKey(message.templateId!, message.templateVersion!),
            ConditionExpression: `${exists} AND #status = :approved AND contentHash = :hash`,
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':approved': 'approved', ':hash': message.contentHash ?? '' },
          },
        },
      ]
    : [];
  for (let attempt = 1; ; attempt++) {
    try {
      await documentClient.send(new TransactWriteCommand({ TransactItems: [{ Update: claim }, ...notOptedOut, { ConditionCheck: notMerged }, ...approved] }));
      return 'claimed';
    } catch (err) {
      const codes = cancellationCodes(err);
      if (codes[0] === 'ConditionalCheckFailed') return 'taken';
      const merged = 1 + notOptedOut.length;
      if (codes.slice(1, merged).includes('ConditionalCheckFailed')) return 'opted_out';
      if (codes[merged] === 'ConditionalCheckFailed') return 'customer_merged';
      if (codes[merged + 1] === 'ConditionalCheckFailed') return 'template_not_approved';
      // Another transaction (an approval decision, a consent change) held an item: nothing was written, try again.
      if (!codes.includes('TransactionConflict') || attempt >= MAX_CLAIM_ATTEMPTS) throw err;
      await sleep(Math.random() * 20 * 2 ** attempt);
    }
  }
}

const MAX_CLAIM_ATTEMPTS = 5;

function cancellationCodes(err: unknown): string[] {
  if ((err as { name?: string } | undefined)?.name !== 'TransactionCanceledException') return [];
  return ((err as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? []).map((r) => r.Code ?? 'None');
}

/**
 * Gives a claim back after a transient provider failure: `sending` → `queued`, so the retried job may
 * claim it again. The only backward move, and only the sender's own.
 *
 * @example
 * ```ts
 * await releaseClaim('conv_…', 'msg_…', now); // false when the message was no longer `sending`
 * ```
 */
export async function releaseClaim(conversationId: string, messageId: string, now: string): Promise<boolean> {
  return conditionalUpdate({
    Key: messageKey(conversationId, messageId),
    UpdateExpression: 'SET #status = :queued, statusRank = :queuedRank, statusUpdatedAt = :now',
    ConditionExpression: `${exists} AND #status = :sending`,
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: { ':sending': 'sending', ':queued': 'queued', ':queuedRank': deliveryStatusRank.queued, ':now': now },
  });
}

/** Why a send may have gone out although it ends `failed`: a try got no answer from the provider. */
const OUTCOME_UNKNOWN_REASON = 'provider_outcome_unknown';

/**
 * The failure attributes of a message. After a try whose outcome is unknown, the message may have gone
 * out whatever stopped the retry (an opt-out since, a revoked version, the provider refusing the retry):
 * its `failureReason` says so (`provider_outcome_unknown`), and the retry's own reason is kept beside it
 * (`retryFailureReason`), so that neither the thread nor the audit of it claims a message was not sent
 * when it may have been.
 */
function failureFields(reason: string, afterUnknownOutcome: boolean): { set: string; remove: string; values: Record<string, string> } {
  // `outcomeUnknownAt` belongs to a `sending` message (the retry's wait): a failed one no longer has it.
  const remove = ' REMOVE outcomeUnknownAt';
  if (!afterUnknownOutcome || reason === OUTCOME_UNKNOWN_REASON) return { set: 'failureReason = :reason', remove, values: { ':reason': reason } };
  return { set: 'failureReason = :reason, retryFailureReason = :retryReason', remove, values: { ':reason': OUTCOME_UNKNOWN_REASON, ':retryReason': reason } };
}

/**
 * `failed` with `reason` for a message refused before any claim, only while it is as it was read: still
 * `queued` or, for a retry after an unknown outcome, still `sending` under that very outcome
 * (`outcomeUnknownAt`) with no provider id. A copy of the job that claimed or sent it meanwhile is left alone.
 * The retry's refusal then fails it `provider_outcome_unknown`, its own reason kept beside (see
 * {@link failureFields}).
 *
 * @returns `updated`, `stale` (claimed, sent or moved on meanwhile) or `missing` (no such outbound message there).
 * @example
 * ```ts
 * await refuseUnclaimed(conversationId, messageId, 'channel_not_configured', now, message);
 * ```
 */
export async function refuseUnclaimed(
  conversationId: string,
  messageId: string,
  reason: string,
  now: string,
  asRead: Pick<OutboundMessage, 'status' | 'outcomeUnknownAt'>,
): Promise<'updated' | 'stale' | 'missing'> {
  const unclaimed = unclaimedAsRead(asRead);
  const afterUnknown = asRead.status === 'sending' && asRead.outcomeUnknownAt !== undefined;
  const failure = failureFields(reason, afterUnknown);
  const updated = await conditionalUpdate({
    Key: messageKey(conversationId, messageId),
    UpdateExpression: `SET #status = :failed, statusRank = :failedRank, statusUpdatedAt = :now, ${failure.set}${failure.remove}`,
    ConditionExpression: unclaimed.condition,
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: { ...unclaimed.values, ...failure.values, ':failed': 'failed', ':failedRank': deliveryStatusRank.failed, ':now': now },
  });
  if (updated) return 'updated';
  return (await getOutboundMessage(conversationId, messageId)) ? 'stale' : 'missing';
}

/**
 * `failed` with `reason` for a send whose outcome is unknown, only while it is `sending` and no status
 * callback has named it (no provider id): a callback that did says the provider has it, and it stays.
 * A reason other than `provider_outcome_unknown` (the retry's) is kept as `retryFailureReason`, and the
 * message fails `provider_outcome_unknown` (see {@link failureFields}).
 *
 * @returns `updated`, `stale` (named or moved on meanwhile) or `missing` (no such outbound message there).
 * @example
 * ```ts
 * await failUnnamedSend(conversationId, messageId, 'provider_outcome_unknown', now);
 * ```
 */
export async function failUnnamedSend(conversationId: string, messageId: string, reason: string, now: string): Promise<'updated' | 'stale' | 'missing'> {
  const failure = failureFields(reason, true);
  const updated = await conditionalUpdate({
    Key: messageKey(conversationId, messageId),
    UpdateExpression: `SET #status = :failed, statusRank = :failedRank, statusUpdatedAt = :now, ${failure.set}${failure.remove}`,
    ConditionExpression: `${exists} AND #status = :sending AND attribute_not_exists(providerMessageId)`,
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: { ...failure.values, ':sending': 'sending', ':failed': 'failed', ':failedRank': deliveryStatusRank.failed, ':now': now },
  });
  if (updated) return 'updated';
  return (await getOutboundMessage(conversationId, messageId)) ? 'stale' : 'missing';
}

/**
 * Notes that a send attempt's outcome is unknown (the provider may have the message): the message stays
 * `sending` for the retry to decide. False when a status callback already moved it on. With
 * `abandonedClaim` (the claim as read), only that very claim is marked, and only once.
 *
 * @example
 * ```ts
 * await markOutcomeUnknown('conv_…', 'msg_…', now);
 * ```
 */
export async function markOutcomeUnknown(conversationId: string, messageId: string, now: string, abandonedClaim?: { sendingAt?: string }): Promise<boolean> {
  // An abandoned claim (its try ended without a word: see deliverOutbound) is marked only as it was read:
  // the same claim, not marked yet by another copy of the job.
  const claimedAt = abandonedClaim?.sendingAt;
  const sameClaim = claimedAt === undefined ? 'attribute_not_exists(sendingAt)' : 'sendingAt = :claimedAt';
  const abandoned = abandonedClaim ? ` AND ${sameClaim} AND attribute_not_exists(outcomeUnknownAt)` : '';
  // Since when the outcome is unknown: the abandoned try's claim, else this failure.
  return conditionalUpdate({
    Key: messageKey(conversationId, messageId),
    UpdateExpression: `SET outcomeUnknownAt = ${claimedAt === undefined ? ':now' : ':claimedAt'}, statusUpdatedAt = :now`,
    ConditionExpression: `${exists} AND #status = :sending AND attribute_not_exists(providerMessageId)${abandoned}`,
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: { ':sending': 'sending', ':now': now, ...(claimedAt !== undefined ? { ':claimedAt': claimedAt } : {}) },
  });
}

/**
 * Records a provider's acceptance: `sent` with the provider's id, unless a callback already moved the
 * message further (then only the provider facts are added). False when there is no such message there
 * (a merge moved it meanwhile).
 *
 * @example
 * ```ts
 * await recordSent(conversationId, messageId, { provider: 'twilio', providerMessageId: 'SM…' }, now);
 * ```
 */
export async function recordSent(conversationId: string, messageId: string, result: DeliveryResult, now: string): Promise<boolean> {
  const facts = { ':provider': result.provider, ':pid': result.providerMessageId, ':now': now };
  const advanced = await conditionalUpdate({
    Key: messageKey(conversationId, messageId),
    UpdateExpression: 'SET #status = :sent, statusRank = :sentRank, statusUpdatedAt = :now, provider = :provider, providerMessageId = :pid, sentAt = :now',
    ConditionExpression: `${exists} AND statusRank < :sentRank`,
    ExpressionAttributeNames: { '#status': 'status' },
    ExpressionAttributeValues: { ...facts, ':sent': 'sent', ':sentRank': deliveryStatusRank.sent },
  });
  if (advanced) return true;
  return conditionalUpdate({
    Key: messageKey(conversationId, messageId),
    UpdateExpression: 'SET provider = :provider, providerMessageId = :pid, sentAt = if_not_exists(sentAt, :now)',
    ConditionExpression: exists,
    ExpressionAttributeValues: facts,
  });
}

/**
 * Moves a message's status forward, never back: the write happens only when the stored rank is lower
 * than the new status's rank. With `providerMessageId`, only a message the provider sent under that id
 * moves (or one still `sending`, whose id the sender has not recorded yet: a fast callback).
 *
 * @returns `updated`, `stale` (the message is already at that rank or beyond, or the provider id does not
 *   match), or `missing` (no such outbound message).
 *
 * @example
 * ```ts
 * await advanceStatus(conversationId, messageId, { status: 'delivered', providerMessageId: 'SM…', now });
 * await advanceStatus(conversationId, messageId, { status: 'failed', failureReason: 'template_not_approved', now });
 * ```
 */
export async function advanceStatus(
  conversationId: string,
  messageId: string,
  change: { status: Exclude<DeliveryStatus, 'queued' | 'sending'>; failureReason?: string; providerMessageId?: string; now: string },
): Promise<'updated' | 'stale' | 'missing'> {
  const names: Record<string, string> = { '#status': 'status' };
  const values: Record<string, unknown> = { ':status': change.status, ':rank': deliveryStatusRank[change.status], ':now': change.now, ':outbound': 'outbound' };
  const sets = ['#status = :status', 'statusRank = :rank', 'statusUpdatedAt = :now'];
  let condition = `${exists} AND direction = :outbound AND statusRank < :rank`;
  if (change.failureReason !== undefined) {
    sets.push('failureReason = :reason');
    values[':reason'] = change.failureReason;
  }
  if (change.status === 'delivered') sets.push('deliveredAt = :now');
  if (change.providerMessageId !== undefined) {
    sets.push('providerMessageId = if_not_exists(providerMessageId, :pid)');
    values[':pid'] = change.providerMessageId;
    values[':sending'] = 'sending';
    condition += ' AND (providerMessageId = :pid OR (attribute_not_exists(providerMessageId) AND #status = :sending))';
  }
  const updated = await conditionalUpdate({
    Key: messageKey(conversationId, messageId),
    UpdateExpression: `SET ${sets.join(', ')}`,
    ConditionExpression: condition,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  });
  if (updated) return 'updated';
  return (await getOutboundMessage(conversationId, messageId)) ? 'stale' : 'missing';
}

/**
 * The threading headers of a reply to the newest inbound email of a thread (`In-Reply-To` its
 * Message-ID, `References` its references then its id), or undefined when the thread has none with a
 * Message-ID among its newest messages.
 *
 * @example
 * ```ts
 * const email = await replyThreading('conv_…'); // { inReplyTo: '<m@x>', references: ['<a@x>', '<m@x>'] }
 * ```
 */
export async function replyThreading(conversationId: string): Promise<(EmailThreading & { subject?: string; from?: string }) | undefined> {
  const answered = await latestInbound(conversationId, (m) => m.channel === 'email' && m.email?.messageId !== undefined);
  if (!answered) return undefined;
  const id = answered.email!.messageId!;
  const chain = [...(answered.email?.references ?? []).filter((r) => r !== id), id];
  // Too long: the thread's first id and the most recent ones (RFC 5322 §3.6.4: mail clients thread on both).
  const references = chain.length <= MAX_REFERENCES ? chain : [chain[0]!, ...chain.slice(-(MAX_REFERENCES - 1))];
  return { inReplyTo: id, references, ...(answered.subject ? { subject: answered.subject } : {}), ...(answered.from ? { from: answered.from } : {}) };
}

/**
 * The address the customer last wrote from on these channels (the newest inbound message of theirs that
 * kept one, within the thread's last {@link THREADING_PAGES} pages), or undefined.
 *
 * @example
 * ```ts
 * const phone = await lastWroteFrom('conv_…', ['sms', 'voice']); // '+14155550100'
 * ```
 */
export async function lastWroteFrom(conversationId: string, channels: readonly Channel[]): Promise<string | undefined> {
  return (await latestInbound(conversationId, (m) => channels.includes(m.channel) && m.from !== undefined))?.from;
}

/** The newest inbound message that `wanted` takes, within the thread's last pages (newest first). */
async function latestInbound(conversationId: string, wanted: (message: StoredMessage) => boolean): Promise<StoredMessage | undefined> {
  let cursor: string | undefined;
  for (let page = 0; page < THREADING_PAGES; page++) {
    const { items, nextCursor } = await listThreadPage(conversationId, { limit: THREADING_PAGE_SIZE, newestFirst: true, ...(cursor ? { cursor } : {}) });
    const found = items.find((m) => m.direction === 'inbound' && wanted(m));
    if (found) return found;
    if (!nextCursor) return undefined;
    cursor = nextCursor;
  }
  return undefined;
}

/** Message updates only: each counts the message's revision. */
type ConditionalUpdateInput = Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName'>;

async function conditionalUpdate(input: ConditionalUpdateInput): Promise<boolean> {
  try {
    await documentClient.send(new UpdateCommand(revised({ TableName: getTableName(), ...input })));
    return true;
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw err;
  }
}
