import { randomUUID } from 'node:crypto';
import { sqsOutboundQueue, type OutboundQueue } from '#shared/adapters/sqs/outbound-queue.adapter.ts';
import { parseIdentityLabel } from '#shared/data/conversation-store.ts';
import { appendOutboundMessage, lastWroteFrom, refuseUnclaimed, replyThreading } from '#shared/data/outbound-store.ts';
import { getTemplateVersion, latestApprovedVersion } from '#shared/data/template-store.ts';
import { customerIdOf } from '#shared/domain/ids.ts';
import type { Channel, EmailThreading, IdentityKind } from '#shared/domain/message.ts';
import type { RenderedContent, SmsInfo, TemplateVersion } from '#shared/domain/template.ts';
import { NotFoundError, StateConflictError, UnprocessableError } from '#shared/errors.ts';
import { liveCustomerWithConsent } from '#shared/ingest/resolve-customer.ts';
import { logger } from '#shared/logger.ts';
import { renderTemplate } from '#shared/templates/render.ts';
import { smsInfo } from '#shared/templates/sms-segments.ts';

export type SendMessageCommand = {
  conversationId: string;
  channel: Channel;
  /** Staff user (or `broadcast:<id>`) on whose behalf the message goes out. */
  sentBy: string;
  templateId?: string;
  /** A given version must be approved; absent: the latest approved version. */
  version?: number;
  variables?: Record<string, string>;
  /** An agent's own words (no template, no approval: a person wrote them). */
  body?: string;
  subject?: string;
  broadcastId?: string;
  /** Broadcast pacing: the sender holds the message until then (ISO 8601). */
  notBefore?: string;
};

export type SendMessageResult = { messageId: string; conversationId: string; status: 'queued'; sms?: SmsInfo };

export type SendMessageDeps = { queue: OutboundQueue; now: () => Date };

const defaultDeps: SendMessageDeps = { queue: sqsOutboundQueue, now: () => new Date() };

/** Twilio refuses longer SMS bodies (error 21617): refused here, before anything is queued. */
export const MAX_SMS_CHARS = 1600;

/** Twilio's limit on a call's inline `Twiml` parameter (error 32018 beyond it). */
export const MAX_TWIML_CHARS = 4000;
/** What of it the `<Say>` text may take: the rest is the XML declaration and `<Response><Say>` around it. */
export const MAX_VOICE_SAY_CHARS = MAX_TWIML_CHARS - 100;

/** What twilio's TwiML builder (xmlbuilder) writes for a character of element text, where it is not itself. */
const XML_TEXT_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '\r': '&#xD;' };

/** The length of a text once XML-escaped as element content. */
function escapedXmlLength(text: string): number {
  let length = text.length;
  for (const c of text) length += (XML_TEXT_ESCAPES[c]?.length ?? 1) - 1;
  return length;
}
/** Longest text an agent may send in one message (any channel). */
export const MAX_BODY_CHARS = 10_000;

const addressKind: Record<Channel, IdentityKind> = { sms: 'phone', voice: 'phone', email: 'email', chat: 'chat' };

/** The channels whose inbound messages say which of a customer's addresses of a kind is in use. */
const channelsOfKind: Record<IdentityKind, readonly Channel[]> = { phone: ['sms', 'voice'], email: ['email'], chat: ['chat'] };

/**
 * Which of the customer's addresses for the channel a message goes to. One: that one. Several (linked
 * over time: an old number may belong to someone else by now): the one being answered (an email reply),
 * else the one the customer last wrote from on a channel of that kind, else the first (no message in
 * the thread's last pages says; messages stored before senders' addresses were kept say nothing).
 */
async function addressToSend(conversationId: string, channel: Channel, addresses: readonly string[], answering: string | undefined): Promise<string> {
  if (addresses.length === 1) return addresses[0]!;
  if (answering !== undefined && addresses.includes(answering)) return answering;
  const last = await lastWroteFrom(conversationId, channelsOfKind[addressKind[channel]]);
  return last !== undefined && addresses.includes(last) ? last : addresses[0]!;
}

/**
 * A new outbound message id: `msg_` and 32 random hex digits.
 *
 * @example
 * ```ts
 * newOutboundMessageId(); // 'msg_3f2a…'
 * ```
 */
export function newOutboundMessageId(): string {
  return `msg_${randomUUID().replaceAll('-', '')}`;
}

/**
 * Queues one outbound message into a customer's thread, templated or written by an agent.
 *
 * 1. the conversation's live customer (after merges) and its address on the channel
 * 2. consent for that channel
 * 3. the content: an approved template version rendered with the variables, or the agent's body
 * 4. the message into the thread as `queued`, then the send job onto the outbound FIFO queue
 *
 * Nothing is written when a check fails. The sender checks approval, hash and consent again at send time.
 *
 * @example
 * ```ts
 * const { messageId } = await sendMessage({ conversationId, channel: 'sms', sentBy: 'alice', templateId: 'tpl_…', variables: { name: 'Jo' } });
 * ```
 */
export async function sendMessage(cmd: SendMessageCommand, deps: SendMessageDeps = defaultDeps): Promise<SendMessageResult> {
  const createdAt = deps.now().toISOString();
  const customerId = customerIdOf(cmd.conversationId);
  if (!customerId) throw new NotFoundError('Unknown conversation');
  // The template's version is read alongside the customer (one round trip less); its refusals still
  // come after the customer's, in the order below.
  const versionRead = cmd.templateId !== undefined ? settled(approvedVersionOf(cmd as SendMessageCommand & { templateId: string })) : undefined;
  // Merged: the survivor holds the thread and the consent (opt-outs are copied to it as the merge ends;
  // until then the merged customer's own count too).
  const { customer, consent } = await liveCustomerWithConsent(customerId, cmd.channel);
  if (!customer) throw new NotFoundError('Unknown conversation');

  const kind = addressKind[cmd.channel];
  const addresses = customer.identities.map(parseIdentityLabel).filter((ref) => ref.kind === kind).map((ref) => ref.value);
  if (addresses.length === 0) throw new UnprocessableError('no_address', `The customer has no ${kind} to reach them on ${cmd.channel}`);

  if (consent === 'opted_out') throw new StateConflictError('opted_out', `The customer opted out of ${cmd.channel}`);

  const threading = cmd.channel === 'email' ? await replyThreading(customer.conversationId) : undefined;
  const to = await addressToSend(customer.conversationId, cmd.channel, addresses, threading?.from);
  const content = versionRead ? templatedContent(await versionRead, cmd) : agentContent(cmd, threading?.subject);
  if (cmd.channel === 'sms' && content.rendered.body.length > MAX_SMS_CHARS) {
    throw new UnprocessableError('body_too_long', `An SMS body may not exceed ${MAX_SMS_CHARS} characters`);
  }
  if (cmd.channel === 'voice' && escapedXmlLength(content.rendered.body) > MAX_VOICE_SAY_CHARS) {
    throw new UnprocessableError('body_too_long', `A voice message may not exceed ${MAX_VOICE_SAY_CHARS} characters once XML-escaped (Twilio takes ${MAX_TWIML_CHARS} of TwiML)`);
  }

  const messageId = newOutboundMessageId();
  const email: EmailThreading | undefined = threading ? { inReplyTo: threading.inReplyTo, references: threading.references } : undefined;
  await appendOutboundMessage({
    messageId,
    conversationId: customer.conversationId,
    customerId: customer.customerId,
    channel: cmd.channel,
    direction: 'outbound',
    body: content.rendered.body,
    createdAt,
    to,
    sentBy: cmd.sentBy,
    automated: content.version !== undefined,
    ...(content.rendered.subject !== undefined ? { subject: content.rendered.subject } : {}),
    ...(content.version
      ? { templateId: content.version.templateId, templateVersion: content.version.version, contentHash: content.version.contentHash, variables: { ...(cmd.variables ?? {}) } }
      : {}),
    ...(email ? { email } : {}),
    ...(cmd.broadcastId ? { broadcastId: cmd.broadcastId } : {}),
    ...(cmd.notBefore ? { notBefore: cmd.notBefore } : {}),
  });

  try {
    await deps.queue.enqueue({ messageId, conversationId: customer.conversationId }, cmd.notBefore !== undefined ? { pacedOn: cmd.channel } : {});
  } catch (err) {
    // The message is in the thread already: it must not stay `queued` with no job to send it. Only while
    // still `queued`: a send the queue took after all (an answer lost on the way back) may be out already.
    await refuseUnclaimed(customer.conversationId, messageId, 'enqueue_failed', deps.now().toISOString(), { status: 'queued' }).catch((markErr: unknown) =>
      logger.error('could not mark an unqueued message failed', { conversationId: customer.conversationId, messageId, error: markErr }),
    );
    throw new Error('Could not queue the outbound message', { cause: err });
  }

  logger.info('outbound message queued', {
    conversationId: customer.conversationId,
    messageId,
    channel: cmd.channel,
    templateId: content.version?.templateId,
    templateVersion: content.version?.version,
  });
  return {
    messageId,
    conversationId: customer.conversationId,
    status: 'queued',
    ...(cmd.channel === 'sms' ? { sms: smsInfo(content.rendered.body) } : {}),
  };
}

type Content = { rendered: RenderedContent; version?: TemplateVersion };

/** A promise's outcome as a value, so that it may be awaited later without going unhandled meanwhile. */
type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settled<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** The approved version read for the send, rendered for the channel (or the read's refusal, thrown). */
function templatedContent(read: Settled<TemplateVersion>, cmd: SendMessageCommand): Content {
  if (!read.ok) throw read.error;
  return { rendered: renderTemplate(read.value, cmd.channel, cmd.variables ?? {}), version: read.value };
}

/** The version to send: the one given, which must be approved, or the latest approved. */
async function approvedVersionOf(cmd: SendMessageCommand & { templateId: string }): Promise<TemplateVersion> {
  let version: TemplateVersion | undefined;
  if (cmd.version !== undefined) {
    version = await getTemplateVersion(cmd.templateId, cmd.version);
    if (!version) throw new NotFoundError(`Template ${cmd.templateId} has no version ${cmd.version}`);
    if (version.status !== 'approved') throw new StateConflictError('not_approved', `Version ${cmd.version} of template ${cmd.templateId} is ${version.status}, not approved`);
  } else {
    version = await latestApprovedVersion(cmd.templateId);
    if (!version) {
      // Every template has a version 1: without it, the template does not exist.
      if (!(await getTemplateVersion(cmd.templateId, 1))) throw new NotFoundError(`Unknown template ${cmd.templateId}`);
      throw new StateConflictError('not_approved', `Template ${cmd.templateId} has no approved version`);
    }
  }
  return version;
}

/** An agent's own words. An email needs a subject: the one given, or `Re:` the email being answered. */
function agentContent(cmd: SendMessageCommand, answeredSubject: string | undefined): Content {
  const body = cmd.body ?? '';
  if (body.trim() === '') throw new UnprocessableError('empty_body', 'The message body is empty');
  if (body.length > MAX_BODY_CHARS) throw new UnprocessableError('body_too_long', `A message body may not exceed ${MAX_BODY_CHARS} characters`);
  if (cmd.channel !== 'email') return { rendered: { channel: cmd.channel, body } };
  const subject = cmd.subject ?? (answeredSubject !== undefined ? (/^re:/i.test(answeredSubject) ? answeredSubject : `Re: ${answeredSubject}`) : undefined);
  if (subject === undefined || subject.trim() === '') throw new UnprocessableError('missing_subject', 'An email needs a subject');
  return { rendered: { channel: 'email', body, subject } };
}
