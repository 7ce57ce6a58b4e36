import VoiceResponse from 'twilio/lib/twiml/VoiceResponse.js';
import { optionalEnv } from '#shared/config.ts';

/** What a caller hears before recording: automation disclosed, recording disclosed, a way to a person. */
export function greetingTwiml(publicBaseUrl: string): string {
  const humanContact =
    optionalEnv('VOICE_HUMAN_CONTACT') ??
    'A member of our support team, a real person, will listen to your message and call you back. To reach a person sooner, message us in the app or by email.';
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
