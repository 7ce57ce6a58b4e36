import { smsWebhookSchema } from '#shared/channels/twilio/twilio-schemas.ts';
import { verifiedTwilioForm } from '#shared/channels/twilio/twilio-webhook.ts';
import { identity } from '#shared/domain/identity.ts';
import type { Attachment } from '#shared/domain/message.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { twiml } from '#shared/http/responses.ts';
import { ingestInbound } from '#shared/ingest/ingest-inbound.ts';

const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';

/** Twilio Messaging webhook: an SMS/MMS into the sender's thread; media is fetched later by the queue. */
export const handler = httpHandler(async (event) => {
  const params = await verifiedTwilioForm(event, smsWebhookSchema);
  const attachments: Attachment[] = Array.from({ length: params.NumMedia }, (_, i) => ({
    contentType: params[`MediaContentType${i}`] ?? 'application/octet-stream',
    sourceUrl: params[`MediaUrl${i}`],
    status: 'pending' as const,
  }));
  await ingestInbound({
    channel: 'sms',
    dedupeKey: params.MessageSid,
    from: identity.phone(params.From),
    body: params.Body,
    ...(attachments.length > 0 ? { attachments } : {}),
  });
  return twiml(EMPTY_TWIML);
});
