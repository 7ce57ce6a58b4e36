import { parsePhoneNumberFromString } from 'libphonenumber-js';
import type { IdentityRef } from '#shared/domain/message.ts';
import { ValidationError } from '#shared/errors.ts';

/** E.164: `+`, a country code not starting with 0, at most 15 digits in all (at least 7 here). */
const E164 = /^\+[1-9]\d{6,14}$/;
/** `+52 1` and ten digits: a Mexican mobile number as written before 2019. */
const OLD_MEXICAN_MOBILE = /^\+521\d{10}$/;
/** What people write between the digits of a phone number. */
const PHONE_PUNCTUATION = /[\s().\-\u00A0]/g;

/**
 * A phone number in E.164, or a {@link ValidationError}. Numbers come from providers that already
 * routed them, so "possible" (right length for the country) is the test rather than "allocated". A
 * Mexican mobile written the old way (`+52 1 …`) is written the current way (`+52 …`), so both are one
 * identity. A number libphonenumber's metadata does not know as possible (a new range) but that is
 * E.164-shaped is kept as its digits: the provider delivered it, and a message from it must not be lost.
 *
 * @example
 * ```ts
 * normalizePhone('+1 (415) 555-0100') // '+14155550100'
 * normalizePhone('+52 1 55 1234 5678') // '+525512345678'
 * ```
 */
export function normalizePhone(raw: string): string {
  const trimmed = raw.trim();
  if (!trimmed.startsWith('+')) throw new ValidationError('Phone number must be in international format');
  const digits = trimmed.replace(PHONE_PUNCTUATION, '');
  // Mexico dropped the `1` of mobile numbers in 2019; both forms name one phone, written the new way.
  const current = OLD_MEXICAN_MOBILE.test(digits) ? `+52${digits.slice(4)}` : trimmed;
  const parsed = parsePhoneNumberFromString(current);
  if (parsed?.isPossible()) return parsed.number;
  if (E164.test(digits)) return digits;
  throw new ValidationError('Phone number must be in international format');
}

/** Local part: dot-atom or quoted-string. Domain: dot-atom with at least one dot-free label, or a literal. */
const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~\\u0080-\\uFFFF-]";
const DOT_ATOM = `${ATEXT}+(?:\\.${ATEXT}+)*`;
const QUOTED_LOCAL = '"(?:[^"\\\\\\r\\n]|\\\\.)*"';
const DOMAIN_LITERAL = '\\[[^\\[\\]\\\\\\s]*\\]';
const ADDRESS_RE = new RegExp(`^(?:${DOT_ATOM}|${QUOTED_LOCAL})@(?:${DOT_ATOM}|${DOMAIN_LITERAL})$`);

/** Longest address SMTP allows (RFC 5321 path limit). */
const MAX_ADDRESS_LENGTH = 254;

/**
 * Whether `address` is an RFC 5322 addr-spec (dot-atom or quoted local part; dot-atom or literal
 * domain), at most 254 characters: the one rule for email identities, so every address an inbound
 * email can come from is also one staff can look up and a chat message can link.
 *
 * @example
 * ```ts
 * isEmailAddress('"jane doe"@example.com'); // true
 * isEmailAddress('jane@'); // false
 * ```
 */
export function isEmailAddress(address: string): boolean {
  return address.length > 0 && address.length <= MAX_ADDRESS_LENGTH && ADDRESS_RE.test(address);
}

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
  if (!isEmailAddress(value)) throw new ValidationError('Invalid email address');
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
