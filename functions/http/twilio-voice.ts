import { voiceWebhookSchema } from '#shared/channels/twilio/twilio-schemas.ts';
import { greetingTwiml, recordedTwiml, withheldNumberTwiml } from '#shared/channels/twilio/voice-twiml.ts';
import { verifiedTwilioForm } from '#shared/channels/twilio/twilio-webhook.ts';
import { requireEnv } from '#shared/config.ts';
import { normalizePhone } from '#shared/domain/identity.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { twiml } from '#shared/http/responses.ts';

/**
 * Twilio Voice webhook: discloses the automated, recorded call and how to reach a person, then records
 * with transcription. Nothing is stored here: the transcription callback writes the `voice` message.
 * A caller whose number is withheld or not a phone number (`From` = `Anonymous`, a SIP or client
 * address) hears that the system is automated and how to reach a person, and is not recorded: their
 * message could reach no customer's thread, and nobody could call them back.
 */
export const handler = httpHandler(async (event) => {
  const params = await verifiedTwilioForm(event, voiceWebhookSchema);
  if (params.RecordingSid) return twiml(recordedTwiml());
  return twiml(callable(params.From) ? greetingTwiml(requireEnv('PUBLIC_BASE_URL')) : withheldNumberTwiml());
});

/**
 * The words a carrier sends for a withheld caller ID, as Twilio passes them on in digits (each letter as
 * on a phone keypad: ANONYMOUS is +266696687). They parse as phone numbers, but nobody can be called back
 * on them, and every withheld caller would share one customer's thread.
 */
const WITHHELD_CALLER_IDS = new Set(['ANONYMOUS', 'UNAVAILABLE', 'RESTRICTED', 'BLOCKED', 'UNKNOWN', 'PRIVATE', 'WITHHELD'].map(keypadNumber));

function keypadNumber(word: string): string {
  const keys = ['ABC', 'DEF', 'GHI', 'JKL', 'MNO', 'PQRS', 'TUV', 'WXYZ'];
  return `+${[...word].map((letter) => keys.findIndex((k) => k.includes(letter)) + 2).join('')}`;
}

/** A number the transcript can be filed under and called back: E.164 after normalization, not a withheld-ID stand-in. */
function callable(from: string): boolean {
  try {
    return !WITHHELD_CALLER_IDS.has(normalizePhone(from));
  } catch {
    return false;
  }
}
