import VoiceResponse from 'twilio/lib/twiml/VoiceResponse.js';
import { requireEnv } from '#shared/config.ts';

/**
 * What a caller hears before recording: automation disclosed, recording disclosed, a way to a person
 * (`VOICE_HUMAN_CONTACT`: a stack parameter in the cloud, a printed default locally).
 */
export function greetingTwiml(publicBaseUrl: string): string {
  const humanContact = requireEnv('VOICE_HUMAN_CONTACT');
  const response = new VoiceResponse();
  response.say(
    { language: 'en-US' },
    `You have reached an automated system. This call will be recorded and transcribed. ${humanContact} Please leave your message after the tone.`,
  );
  const base = publicBaseUrl.replace(/\/+$/, '');
  response.record({
    action: `${base}/webhooks/twilio/voice?step=recorded`,
    method: 'POST',
    maxLength: 120,
    playBeep: true,
    transcribe: true,
    transcribeCallback: `${base}/webhooks/twilio/voice/transcription`,
  });
  response.say({ language: 'en-US' }, 'We did not receive a message. Goodbye.');
  return response.toString();
}

/** After the recording: thank the caller and hang up (a `<Record>` without this would start over). */
export function recordedTwiml(): string {
  const response = new VoiceResponse();
  response.say({ language: 'en-US' }, 'Thank you. Your message has been recorded and a person from our support team will get back to you. Goodbye.');
  response.hangup();
  return response.toString();
}

/**
 * What a caller who withholds their number hears: the automated system disclosed, and that no message
 * can be taken, since a voicemail with no number belongs to no customer and nobody could call back.
 * Nothing is recorded, so nobody is told a message was taken that no person will ever see.
 */
export function withheldNumberTwiml(): string {
  const response = new VoiceResponse();
  response.say(
    { language: 'en-US' },
    'You have reached an automated system. Your number is withheld, so we cannot take a message or call you back. To reach a person, call again from a number we can call back, or message us in the app or by email. Goodbye.',
  );
  response.hangup();
  return response.toString();
}
