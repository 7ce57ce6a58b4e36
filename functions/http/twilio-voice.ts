import { voiceWebhookSchema } from '#shared/channels/twilio/twilio-schemas.ts';
import { greetingTwiml, recordedTwiml } from '#shared/channels/twilio/voice-twiml.ts';
import { verifiedTwilioForm } from '#shared/channels/twilio/twilio-webhook.ts';
import { requireEnv } from '#shared/config.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { twiml } from '#shared/http/responses.ts';

/**
 * Twilio Voice webhook: discloses the automated, recorded call and how to reach a person, then records
 * with transcription. Nothing is stored here: the transcription callback writes the `voice` message.
 * Callers who withhold their number (`From` = `Anonymous`) hear the same disclosure.
 */
export const handler = httpHandler(async (event) => {
  const params = await verifiedTwilioForm(event, voiceWebhookSchema);
  return twiml(params.RecordingSid ? recordedTwiml() : greetingTwiml(requireEnv('PUBLIC_BASE_URL')));
});
