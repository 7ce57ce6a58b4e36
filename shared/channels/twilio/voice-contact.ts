/** The local default of `VOICE_HUMAN_CONTACT`, what callers hear about reaching a person (`npm start` prints it; the cloud takes a parameter). */
export const DEFAULT_HUMAN_CONTACT =
  'A member of our support team, a real person, will listen to your message and call you back. To reach a person sooner, message us in the app or by email.';
