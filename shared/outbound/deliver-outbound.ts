import { senderFor } from '#shared/adapters/providers/channel-senders.ts';
import { forgetCachedSecrets, requireEnv } from '#shared/config.ts';
import { ConfigError, SecretUnavailableError } from '#shared/errors.ts';
import {
  advanceStatus,
  asOutboundMessage,
  claimForSending,
  failUnnamedSend,
  markOutcomeUnknown,
  recordSent,
  refuseUnclaimed,
  releaseClaim,
  type OutboundMessage,
} from '#shared/data/outbound-store.ts';
import { versionToSend, type StoredTemplateVersion } from '#shared/data/template-store.ts';
import type { Channel } from '#shared/domain/message.ts';
import type { RenderedContent } from '#shared/domain/template.ts';
import { setConsent } from '#shared/data/consent-store.ts';
import { findMessageFollowingMerge, writeFollowingMerge } from '#shared/ingest/follow-merge.ts';
import { mergeChain } from '#shared/ingest/resolve-customer.ts';
import { logger } from '#shared/logger.ts';
import { consumerTimeoutSeconds, queueConsumers } from '#shared/routes.ts';
import { unsubscribeUrl } from '#shared/outbound/unsubscribe-token.ts';
import { PermanentDeliveryError, ProviderConfigError, TransientDeliveryError, type ChannelSender, type DeliveryResult, type OutboundDelivery } from '#shared/ports/channel-sender.ts';
import { renderTemplate } from '#shared/templates/render.ts';

/** One send job as the sender receives it. */
export type DeliverJob = { readonly messageId: string; readonly conversationId: string };

/**
 * What became of a job: done (`sent`, `failed` for good, or `skipped` because it was handled before or
 * is gone), or `later`: the job must come back after `retryInSeconds` (broadcast pacing or a transient
 * provider failure).
 */
export type DeliverOutcome =
  | { readonly result: 'sent' | 'failed' | 'skipped' }
  | { readonly result: 'later'; readonly retryInSeconds: number; readonly why: 'not_before' | 'transient' | 'claimed' };

export type DeliverDeps = { senderFor: (channel: Channel) => ChannelSender; now: () => Date };

const defaultDeps: DeliverDeps = { senderFor, now: () => new Date() };

/** Longest pause between two retries of a transient failure (SQS allows 12 h; 15 min is plenty). */
export const MAX_BACKOFF_SECONDS = 900;

/**
 * Provider calls per message before it is marked failed (`retries_exhausted`). Counted on the message
 * (`sendAttempts`): the outbound queue's receive count also grows while a message waits behind an
 * earlier one of its conversation, so its maxReceiveCount (shared/routes.ts) is set well above this and
 * only catches jobs that keep failing before any try (a store outage).
 */
export const MAX_SEND_ATTEMPTS = 5;

/**
 * How long a claim can belong to a try still running: the sender's Lambda timeout and a margin. A message
 * left `sending` longer, with no outcome recorded and no callback naming it, was abandoned by its try (the
 * function died or timed out between the claim and its outcome write, or that write failed).
 */
export const CLAIM_LIFETIME_SECONDS = consumerTimeoutSeconds(queueConsumers.find((c) => c.name === 'OutboundSender')!) + 30;

/**
 * How long a retry after an unknown outcome waits for the provider's word first. Twilio sends no callback
 * for a new SMS's first status (`queued`): its first comes as the SMS leaves the number's queue, seconds
 * later, longer when the queue is busy; SendGrid posts its events in batches. A callback naming the message
 * in that time means it went out, and the retry sends nothing.
 */
export const UNKNOWN_OUTCOME_SETTLE_SECONDS = 300;

/** A job re-runs itself after a merge moved its message or a claim was found abandoned; never for ever. */
const MAX_RERUNS = 8;

/**
 * Exponential backoff by attempt: 10 s, 20 s, 40 s, 80 s, 160 s… capped at {@link MAX_BACKOFF_SECONDS}.
 *
 * @example
 * ```ts
 * backoffSeconds(3); // 40
 * ```
 */
export function backoffSeconds(attempt: number): number {
  return Math.min(MAX_BACKOFF_SECONDS, 2 ** Math.max(1, attempt) * 5);
}

/**
 * Delivers one queued outbound message through its channel's provider, at most once.
 *
 * 1. load the message; anything but `queued` was handled already (a duplicate job): done, except a
 *    message an unknown outcome left `sending` that no status callback has named since (step 5), and a
 *    claim abandoned by its try (`sending` with no outcome for longer than {@link CLAIM_LIFETIME_SECONDS}:
 *    the function died or its outcome write failed): a younger one may still be at work, so the job
 *    comes back once it surely is not; then an SMS, call or email that no callback has named within
 *    {@link UNKNOWN_OUTCOME_SETTLE_SECONDS} of its claim ends `failed` (never sent twice), a chat
 *    message (deduplicated by its backend) is an unknown outcome, retried
 * 2. hold it while its `notBefore` (broadcast pacing) is in the future
 * 3. a templated message: render it again from the version with the very hash the message was
 *    rendered from (read once per process: a version's content never changes)
 * 4. claim `queued` → `sending`, conditional (one claimant) and in one transaction with the send-time
 *    checks, so none can change between check and claim: consent again (an opt-out may have arrived
 *    since queueing; the live customer's too when the message's customer was merged into another) and,
 *    for a template, the version still approved with that hash (a version revoked after queueing never
 *    reaches a provider)
 * 5. call the provider, record the outcome:
 *    `sent`; `failed` with the provider's reason (never retried); back to `queued` to retry later when
 *    the provider answered "not now"; or, when its answer never came (the outcome is unknown), left
 *    `sending` for the retry, which comes {@link UNKNOWN_OUTCOME_SETTLE_SECONDS} later at the earliest
 *    and goes ahead only if no status callback has named the message since
 *
 * @example
 * ```ts
 * const outcome = await deliverOutbound({ messageId, conversationId });
 * ```
 */
export async function deliverOutbound(job: DeliverJob, deps: DeliverDeps = defaultDeps): Promise<DeliverOutcome> {
  return deliver(job, deps, 0);
}

async function deliver(job: DeliverJob, deps: DeliverDeps, reruns: number): Promise<DeliverOutcome> {
  if (reruns > MAX_RERUNS) throw new Error('Send job re-ran too often (merges or claims keep changing under it)');
  const again = (next: DeliverJob) => deliver(next, deps, reruns + 1);
  const now = deps.now();
  // Under the job's conversation, or (after a merge moved the thread) under the live one.
  const message = asOutboundMessage(await findMessageFollowingMerge(job.conversationId, job.messageId));
  const log = { conversationId: job.conversationId, messageId: job.messageId };
  if (!message) {
    logger.warn('send job for an unknown message dropped', log);
    return { result: 'skipped' };
  }
  const { conversationId, messageId } = message;
  /**
   * `failed` for a try whose outcome is unknown, only while no callback has named the message (one that
   * did says it went out: then it stays as the callback left it).
   */
  const failUnnamed = async (reason: string): Promise<DeliverOutcome> => {
    const outcome = await writeFollowingMerge(message, (at) => failUnnamedSend(at, messageId, reason, deps.now().toISOString()), (r) => r !== 'missing');
    logger.info('outbound message failed; an earlier try may have gone out', { ...log, reason, applied: outcome === 'updated' });
    return outcome === 'updated' ? { result: 'failed' } : { result: 'skipped' };
  };
  // Anything else was handled already (a duplicate job), unless an attempt's outcome was left unknown
  // and no status callback has named the message since: then the provider shows no sign of it.
  const retryAfterUnknown = message.status === 'sending' && message.outcomeUnknownAt !== undefined && message.providerMessageId === undefined;
  if (message.status === 'sending' && message.outcomeUnknownAt === undefined && message.providerMessageId === undefined) {
    // Claimed, and no outcome recorded. While the claiming try may still run, come back when it surely
    // has ended; after that the claim was abandoned: the function died or timed out between its claim
    // and its outcome write, or that write failed after the provider took the message (and the same
    // store fault may have refused the provider's callback, which Twilio does not retry).
    const claimedAt = Date.parse(message.sendingAt ?? '');
    const ageSeconds = Number.isFinite(claimedAt) ? (now.getTime() - claimedAt) / 1000 : Number.POSITIVE_INFINITY;
    const wait = (until: number) => ({ result: 'later' as const, retryInSeconds: Math.max(1, Math.ceil(until - ageSeconds)), why: 'claimed' as const });
    if (ageSeconds < CLAIM_LIFETIME_SECONDS) return wait(CLAIM_LIFETIME_SECONDS);
    if (message.channel !== 'chat' || (message.sendAttempts ?? 0) >= MAX_SEND_ATTEMPTS) {
      // At most one send: no second call without the provider's word. Its callback has time to name the
      // message first; failing that, it ends failed, for a person to check and send again.
      if (ageSeconds < UNKNOWN_OUTCOME_SETTLE_SECONDS) return wait(UNKNOWN_OUTCOME_SETTLE_SECONDS);
      logger.warn('send claim abandoned by its try; outcome unknown, not sent again', { ...log, claimedAt: message.sendingAt, sendAttempts: message.sendAttempts });
      return failUnnamed('provider_outcome_unknown');
    }
    // Chat has no callbacks, and its backend drops a copy by `messageId`: an unknown outcome, retried.
    logger.warn('send claim abandoned by its try; outcome unknown', { ...log, claimedAt: message.sendingAt, sendAttempts: message.sendAttempts });
    await writeFollowingMerge(message, (at) => markOutcomeUnknown(at, messageId, now.toISOString(), { sendingAt: message.sendingAt }), (applied) => applied);
    // Read again: marked (by this job or another copy), or claimed anew.
    return again({ conversationId, messageId });
  }
  if (message.status !== 'queued' && !retryAfterUnknown) return { result: 'skipped' };
  if (retryAfterUnknown) {
    const waitedSeconds = (now.getTime() - Date.parse(message.outcomeUnknownAt!)) / 1000;
    if (waitedSeconds < UNKNOWN_OUTCOME_SETTLE_SECONDS) return { result: 'later', retryInSeconds: Math.max(1, Math.ceil(UNKNOWN_OUTCOME_SETTLE_SECONDS - waitedSeconds)), why: 'transient' };
  }

  if (message.notBefore) {
    const waitMs = Date.parse(message.notBefore) - now.getTime();
    if (waitMs > 0) return { result: 'later', retryInSeconds: Math.ceil(waitMs / 1000), why: 'not_before' };
  }

  /**
   * A refusal before any claim: `failed` only while the message is as it was read, so that a copy of the
   * job that claimed or sent it meanwhile is never overwritten.
   */
  const refuse = async (reason: string): Promise<DeliverOutcome> => {
    const outcome = await writeFollowingMerge(message, (at) => refuseUnclaimed(at, messageId, reason, deps.now().toISOString(), message), (r) => r !== 'missing');
    logger.info(retryAfterUnknown ? 'outbound message failed; an earlier try may have gone out' : 'outbound message not sent', { ...log, reason, applied: outcome === 'updated' });
    return outcome === 'updated' ? { result: 'failed' } : { result: 'skipped' };
  };
  /** A failure of a claimed message (this job holds the claim). */
  const fail = async (reason: string): Promise<DeliverOutcome> => {
    // After an unanswered try, only while no callback has named the message: that try may have gone out.
    if (retryAfterUnknown) return failUnnamed(reason);
    await writeFollowingMerge(message, (at) => advanceStatus(at, messageId, { status: 'failed', failureReason: reason, now: deps.now().toISOString() }), (r) => r !== 'missing');
    logger.info('outbound message not sent', { ...log, reason });
    return { result: 'failed' };
  };

  if (!message.to) return refuse('no_address');
  // Everything but the provider call is read and checked before the claim: a claim is a try, and a
  // fault of a read leaves nothing claimed (the job is retried). What decides a refusal here does not
  // depend on what this process has kept: the version's content and hash never change; whether it is
  // still approved is the claim's to check.
  const templated = message.templateId !== undefined && message.templateVersion !== undefined;
  const version = templated ? await versionToSend(message.templateId!, message.templateVersion!, message.contentHash) : undefined;
  const content = contentToSend(message, version);
  if (typeof content === 'string') return refuse(content);
  // A channel that is not configured at all (a deployment left its parameters empty) fails the message
  // at once, logged as an error: held, it would hold every later message of the conversation (one FIFO
  // group) until the DLQ. Its secret is read by the adapter on its first call, after the claim: a secret
  // that cannot be had is a settings fault.
  let sender: ChannelSender;
  try {
    sender = deps.senderFor(message.channel);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    logger.error('outbound channel not configured', { ...log, channel: message.channel, error: { name: err.name, message: err.message } });
    return refuse('channel_not_configured');
  }
  // The unsubscribe link's secret is read here, before the claim. Missing or empty (a deployment fault),
  // the message fails at once, logged as an error, rather than hold its conversation; any other fault
  // (the secret store unreachable) fails the job, retried with nothing claimed.
  let delivery: OutboundDelivery;
  try {
    delivery = await deliveryFor(message, content);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    logger.error('outbound setting missing', { ...log, channel: message.channel, error: { name: err.name, message: err.message } });
    return refuse('settings:secret_unavailable');
  }

  // The claim is the one check of consent and approval (in its transaction, so neither can change
  // between check and claim): the customer has not opted out of the channel, and for a template the
  // version is still approved with the message's hash. A customer merged into another (its thread may
  // not have moved yet) is claimed for again with the live customer's consent counting too: an opt-out
  // from any of its identities is recorded there now, while the merge copies the absorbed customer's
  // opt-outs only as it ends.
  let consentOf = message.customerId;
  let claim = await claimForSending(message, deps.now().toISOString(), consentOf);
  if (claim === 'customer_merged') {
    // Every customer on the way counts: one merged into the next may not have passed its opt-outs on yet.
    const chain = await mergeChain(message.customerId);
    const live = chain.at(-1)!;
    if (live !== consentOf) {
      consentOf = live;
      claim = await claimForSending(message, deps.now().toISOString(), consentOf, chain);
    }
  }
  /** This try's number: the claim just counted it. */
  const attempt = (message.sendAttempts ?? 0) + 1;
  if (claim === 'taken') {
    // Taken, or moved by a merge since it was read: then it is sent from where it lives now.
    const moved = await findMessageFollowingMerge(conversationId, messageId);
    return moved && moved.conversationId !== conversationId ? again({ conversationId: moved.conversationId, messageId }) : { result: 'skipped' };
  }
  if (claim === 'template_not_approved' || claim === 'opted_out') return fail(claim);
  // Merged again meanwhile: decide again.
  if (claim === 'customer_merged') return again(job);
  let result: DeliveryResult;
  try {
    result = await sender.send(delivery);
  } catch (err) {
    if (err instanceof PermanentDeliveryError) {
      // The provider knows of an opt-out the ledger missed (a STOP whose webhook never reached us): recorded
      // now, so the next send to the channel is refused (409) before anything is queued.
      const failed = await fail(err.reason);
      if (err.recipientOptedOut) {
        // After the message's own outcome: should this write fail, the next send meets the same refusal
        // and records it then.
        const at = deps.now().toISOString();
        await persistently(() => setConsent({ customerId: consentOf, channel: message.channel, status: 'opted_out', source: err.reason, actor: 'system:provider', now: at, requestedAt: at })).then(
          () => logger.info('provider reported the recipient opted out; recorded', { ...log, channel: message.channel, reason: err.reason }),
          (cause: unknown) => logger.error('provider reported the recipient opted out; not recorded', { ...log, channel: message.channel, reason: err.reason, error: cause instanceof Error ? { name: cause.name, message: cause.message } : { name: typeof cause } }),
        );
      }
      return failed;
    }
    // Our credentials or settings refused (a key rotated badly, a sender not verified): retried like a
    // "not now" for a few minutes, then failed with the provider's reason for a person to send again once
    // fixed. Waiting longer would hold every later message of the conversation (one FIFO group).
    // A secret the adapter could not read (the secret store unreachable) stopped it before any call: the
    // same, and not an unknown outcome.
    const settingsFault = err instanceof ProviderConfigError || err instanceof ConfigError || err instanceof SecretUnavailableError;
    const settingsReason = err instanceof ProviderConfigError ? err.reason : 'settings:secret_unavailable';
    if (settingsFault) logger.error('provider refused our credentials, or a setting is missing', { ...log, channel: message.channel, reason: settingsReason, attempt });
    // Refused credentials may have been rotated since they were cached: the next try reads them again.
    if (err instanceof ProviderConfigError) forgetCachedSecrets();
    // An error of no kind the adapters give (a bug, an answer nobody could read) may have come after the
    // provider took the message: its outcome is unknown too.
    const unexpected = !(err instanceof TransientDeliveryError) && !settingsFault;
    if (unexpected) logger.error('provider call failed in an unexpected way; outcome unknown', { ...log, channel: message.channel, error: err instanceof Error ? { name: err.name, message: err.message } : { name: typeof err } });
    const thisTryUnknown = (err instanceof TransientDeliveryError && err.outcomeUnknown) || unexpected;
    // Unknown also when this try was refused but an earlier one went unanswered: that one may have gone out.
    const outcomeUnknown = thisTryUnknown || retryAfterUnknown;
    if (attempt >= MAX_SEND_ATTEMPTS) {
      // The last try: the message says it failed rather than sitting `queued` for ever (or, outcome
      // unknown, that it may have gone out, unless a callback has named it meanwhile). The job is done:
      // a replay of it would find it failed. This try refused after an unanswered one: `fail` records
      // `provider_outcome_unknown` with this try's own reason beside it.
      if (thisTryUnknown) return failUnnamed('provider_outcome_unknown');
      return fail(settingsFault ? settingsReason : 'retries_exhausted');
    }
    // The provider said no: the claim is given back. It may have said yes unheard: the message stays
    // `sending`, and the retry goes ahead only if no callback has named it by then (at most one send).
    const mark = outcomeUnknown ? markOutcomeUnknown : releaseClaim;
    await writeFollowingMerge(message, (at) => mark(at, messageId, deps.now().toISOString()), (applied) => applied);
    // An unknown outcome waits for the provider's word (a callback) before the retry decides.
    const retryInSeconds = outcomeUnknown ? Math.max(UNKNOWN_OUTCOME_SETTLE_SECONDS, backoffSeconds(attempt)) : backoffSeconds(attempt);
    // Name and message only: a provider's answer (the error's cause) may quote the recipient.
    const error = err instanceof Error ? { name: err.name, message: err.message } : { name: typeof err };
    logger.warn('outbound delivery will be retried', { ...log, attempt, retryInSeconds, error });
    return { result: 'later', retryInSeconds, why: 'transient' };
  }
  // Outside the try: once the provider took the message, no failure here may lead to a second call. The
  // write is tried again within this try (a store fault of a few seconds must not leave it `sending`);
  // should it still fail, the message stays `sending`, and the retried job finds its claim abandoned.
  await persistently(() => writeFollowingMerge(message, (at) => recordSent(at, messageId, result, deps.now().toISOString()), (recorded) => recorded));
  logger.info('outbound message sent', { ...log, channel: message.channel, provider: result.provider });
  return { result: 'sent' };
}

/** Tries of the `sent` write after the provider took a message, 0.2 s apart and doubling (3 s in all). */
const SENT_WRITE_TRIES = 5;

async function persistently<T>(write: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await write();
    } catch (err) {
      if (tries >= SENT_WRITE_TRIES) throw err;
      await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** (tries - 1)));
    }
  }
}

/**
 * The text to send, or why not: a templated message is rendered again from its version, which must carry
 * the hash the message was queued with (the claim checks that it is still approved); an agent's message
 * goes as written.
 */
function contentToSend(message: OutboundMessage, version: StoredTemplateVersion | undefined): RenderedContent | string {
  if (message.templateId === undefined || message.templateVersion === undefined) {
    return { channel: message.channel, body: message.body, ...(message.subject !== undefined ? { subject: message.subject } : {}) };
  }
  // The version it was rendered from, with that very hash (approval is checked in the claim).
  if (!version || version.contentHash !== message.contentHash) return 'template_not_approved';
  try {
    // The values were held to the version's limits when the message was queued.
    return renderTemplate(version, message.channel, message.variables ?? {}, { checkLengths: false });
  } catch (err) {
    logger.error('approved template no longer renders', { templateId: message.templateId, templateVersion: message.templateVersion, error: err });
    return 'render_failed';
  }
}

async function deliveryFor(message: OutboundMessage, content: RenderedContent): Promise<OutboundDelivery> {
  const base = requireEnv('PUBLIC_BASE_URL').replace(/\/+$/, '');
  const viaTwilio = message.channel === 'sms' || message.channel === 'voice';
  const query = new URLSearchParams({ conversationId: message.conversationId, messageId: message.messageId });
  return {
    messageId: message.messageId,
    conversationId: message.conversationId,
    channel: message.channel,
    to: message.to ?? '',
    body: content.body,
    ...(content.subject !== undefined ? { subject: content.subject } : {}),
    ...(content.html !== undefined ? { html: content.html } : {}),
    ...(message.email?.inReplyTo ? { inReplyTo: message.email.inReplyTo, references: message.email.references ?? [] } : {}),
    ...(viaTwilio ? { statusCallbackUrl: `${base}/webhooks/twilio/status?${query.toString()}` } : {}),
    ...(message.channel === 'email' ? { unsubscribeUrl: await unsubscribeUrl(message.customerId) } : {}),
  };
}
