import MessagingResponse from 'twilio/lib/twiml/MessagingResponse.js';
import { smsWebhookSchema } from '#shared/channels/twilio/twilio-schemas.ts';
import { verifiedTwilioForm } from '#shared/channels/twilio/twilio-webhook.ts';
import { requireEnv } from '#shared/config.ts';
import { setConsent } from '#shared/data/consent-store.ts';
import { identity } from '#shared/domain/identity.ts';
import type { Attachment } from '#shared/domain/message.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { twiml } from '#shared/http/responses.ts';
import { findMessageFollowingMerge } from '#shared/ingest/follow-merge.ts';
import { defaultIngestDeps, ingestInbound } from '#shared/ingest/ingest-inbound.ts';
import { liveCustomerWithConsent } from '#shared/ingest/resolve-customer.ts';
import { logger } from '#shared/logger.ts';
import { classifySmsKeyword } from '#shared/outbound/consent-keywords.ts';
import { recordAutomatedReply } from '#shared/outbound/automated-reply.ts';

const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';

/**
 * Twilio Messaging webhook: an SMS/MMS into the sender's thread (media is fetched later by the queue),
 * then the consent keywords:
 *
 * 1. store the message in the thread, keyword or not (an agent sees the STOP)
 * 2. STOP/STOPALL/UNSUBSCRIBE/CANCEL/END/QUIT (or `OptOutType=STOP`) opts the customer out of SMS;
 *    START/YES/UNSTOP (or `OptOutType=START`) opts them back in. The change is dated by the message
 *    (its stored `createdAt`, which a retried delivery reads back), so a STOP that Twilio retries after
 *    the customer's START changes nothing, while a retry of one whose first attempt stopped before the
 *    consent write still applies it.
 * 3. HELP or INFO is answered with `SMS_HELP_TEXT` in the TwiML, but only when Twilio did not handle the keyword
 *    itself: a webhook carrying `OptOutType` means Twilio's opt-out management already replied. The
 *    reply is recorded in the thread as an automated outbound message (operator-configured text).
 *
 * STOP and START get no reply from us: Twilio's own confirmation is the one carriers expect, and a reply
 * to a number that just opted out would be refused (error 21610) anyway.
 */
export const handler = httpHandler(async (event) => {
  const params = await verifiedTwilioForm(event, smsWebhookSchema);
  const attachments: Attachment[] = Array.from({ length: params.NumMedia }, (_, i) => ({
    contentType: params[`MediaContentType${i}`] ?? 'application/octet-stream',
    sourceUrl: params[`MediaUrl${i}`],
    status: 'pending' as const,
  }));
  // The time the message is stored with: ingestInbound dates a new message by `now`.
  const receivedAt = new Date();
  const { customerId, conversationId, messageId, duplicate } = await ingestInbound(
    {
      channel: 'sms',
      dedupeKey: params.MessageSid,
      from: identity.phone(params.From),
      body: params.Body,
      ...(attachments.length > 0 ? { attachments } : {}),
    },
    { ...defaultIngestDeps, now: () => receivedAt },
  );

  const keyword = classifySmsKeyword({ body: params.Body, optOutType: params.OptOutType });
  if (keyword === undefined) return twiml(EMPTY_TWIML);
  if (keyword.kind === 'help') {
    if (!keyword.reply) return twiml(EMPTY_TWIML);
    // Twilio blocks every message to a number that texted STOP (21610): a reply would not go out, and the
    // thread would show an automated message `sent` that never was.
    if (await optedOutOfSms(customerId)) return twiml(EMPTY_TWIML);
    const helpText = requireEnv('SMS_HELP_TEXT');
    await recordAutomatedReply({ customerId, inReplyTo: params.MessageSid, to: identity.phone(params.From).value, body: helpText, source: 'system:sms-help' });
    return twiml(helpTwiml(helpText));
  }
  const status = keyword.kind === 'opt_out' ? 'opted_out' : 'opted_in';
  const requestedAt = duplicate ? await storedAt(conversationId, messageId) : receivedAt.toISOString();
  const changed = await setConsent({ customerId, channel: 'sms', status, source: keyword.source, actor: 'customer', now: new Date().toISOString(), requestedAt });
  logger.info('sms consent keyword', { customerId, status, source: keyword.source, changed, requestedAt });
  return twiml(EMPTY_TWIML);
});

/**
 * When a retried delivery's message was first stored. Only if a merge moved it out of reach meanwhile,
 * the time of this delivery (logged: such a retry may override a later keyword).
 */
async function storedAt(conversationId: string, messageId: string): Promise<string> {
  const stored = await findMessageFollowingMerge(conversationId, messageId);
  if (stored) return stored.createdAt;
  logger.warn('retried keyword message not found, dated now', { conversationId, messageId });
  return new Date().toISOString();
}

/** The customer's SMS consent, or, while a merge of it is under way, also the survivor's (opt-outs land there). */
async function optedOutOfSms(customerId: string): Promise<boolean> {
  return (await liveCustomerWithConsent(customerId, 'sms')).consent === 'opted_out';
}

/** `<Response><Message>SMS_HELP_TEXT</Message></Response>`, XML-escaped by twilio's TwiML builder. */
function helpTwiml(helpText: string): string {
  const response = new MessagingResponse();
  response.message(helpText);
  return response.toString();
}
