/** What callers hear about reaching a person when `VOICE_HUMAN_CONTACT` is not set (the local stack prints it). */
export const DEFAULT_HUMAN_CONTACT =
  'A member of our support team, a real person, will listen to your message and call you back. To reach a person sooner, message us in the app or by email.';
