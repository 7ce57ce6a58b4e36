import { transcriptionSchema } from '#shared/channels/twilio/twilio-schemas.ts';
import { verifiedTwilioForm } from '#shared/channels/twilio/twilio-webhook.ts';
import { identity } from '#shared/domain/identity.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { twiml } from '#shared/http/responses.ts';
import { ingestInbound } from '#shared/ingest/ingest-inbound.ts';

/** Twilio transcription callback: the caller's words become a `voice` message in their thread. */
export const handler = httpHandler(async (event) => {
  const params = await verifiedTwilioForm(event, transcriptionSchema);
  const transcribed = params.TranscriptionStatus === 'completed';
  await ingestInbound({
    channel: 'voice',
    dedupeKey: params.TranscriptionSid,
    from: identity.phone(params.From),
    body: transcribed ? params.TranscriptionText : '[voice message: transcription failed]',
    ...(params.RecordingUrl
      ? { attachments: [{ name: `${params.RecordingSid}.wav`, contentType: 'audio/wav', sourceUrl: params.RecordingUrl, status: 'pending' as const }] }
      : {}),
  });
  return twiml('<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
});
