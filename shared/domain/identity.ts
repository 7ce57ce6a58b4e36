import { parsePhoneNumberFromString } from 'libphonenumber-js';
import * as z from 'zod/mini';
import type { IdentityRef } from '#shared/domain/message.ts';
import { ValidationError } from '#shared/errors.ts';

/**
 * A phone number in E.164, or a {@link ValidationError}. Numbers come from providers that already
 * routed them, so "possible" (right length for the country) is the test rather than "allocated".
 *
 * @example
 * ```ts
 * normalizePhone('+1 (415) 555-0100') // '+14155550100'
 * ```
 */
export function normalizePhone(raw: string): string {
  const parsed = parsePhoneNumberFromString(raw.trim());
  if (!parsed?.isPossible() || !raw.trim().startsWith('+')) throw new ValidationError('Phone number must be in international format');
  return parsed.number;
}

const emailSchema = z.email();

/**
 * An email address, trimmed and lower-cased, or a {@link ValidationError}.
 *
 * @example
 * ```ts
 * normalizeEmail(' Jane@Example.COM ') // 'jane@example.com'
 * ```
 */
export function normalizeEmail(raw: string): string {
  const value = raw.trim().toLowerCase();
  if (value.length > 254 || !emailSchema.safeParse(value).success) throw new ValidationError('Invalid email address');
  return value;
}

/**
 * A chat app's user id, kept as sent (case matters to the app), 1–128 printable characters.
 *
 * @example
 * ```ts
 * normalizeChatUserId('u_123') // 'u_123'
 * ```
 */
export function normalizeChatUserId(raw: string): string {
  if (!/^[\x21-\x7e]{1,128}$/.test(raw)) throw new ValidationError('Invalid chat userId');
  return raw;
}

/** Identity refs from each kind's raw value. */
export const identity = {
  phone: (raw: string): IdentityRef => ({ kind: 'phone', value: normalizePhone(raw) }),
  email: (raw: string): IdentityRef => ({ kind: 'email', value: normalizeEmail(raw) }),
  chat: (raw: string): IdentityRef => ({ kind: 'chat', value: normalizeChatUserId(raw) }),
};
