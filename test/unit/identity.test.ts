import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseMailbox } from '#shared/channels/email/address.ts';
import { normalizeChatUserId, normalizeEmail, normalizePhone } from '#shared/domain/identity.ts';
import { ValidationError } from '#shared/errors.ts';

describe('identity normalization', () => {
  it('writes phones in E.164 whatever the formatting', () => {
    expect(normalizePhone('+1 (415) 555-0100')).toBe('+14155550100');
    expect(normalizePhone('+44 7700 900123')).toBe('+447700900123');
    expect(normalizePhone(' +4915112345678 ')).toBe('+4915112345678');
  });

  it.each(['4155550100', '+1', 'hello', '', '+12345', '+0123456789', '+1234567890123456', '+1 415 555 01x0', '++14155550100'])('refuses the phone %j', (raw) => {
    expect(() => normalizePhone(raw)).toThrow(ValidationError);
  });

  it('writes Mexico’s old +521 mobiles the current way, and keeps any other E.164 number its metadata does not know as possible as its digits, so its messages are not lost', () => {
    // Mexico's old mobile form is the same phone as its current one: one identity.
    expect(normalizePhone('+5215512345678')).toBe('+525512345678');
    expect(normalizePhone('+52 1 55 1234 5678')).toBe('+525512345678');
    expect(normalizePhone('+525512345678')).toBe('+525512345678');
    expect(normalizePhone(normalizePhone('+52 1 55 1234 5678'))).toBe('+525512345678');
    // Whatever a provider sends in E.164 is taken (libphonenumber may drop a national prefix digit).
    fc.assert(
      fc.property(fc.stringMatching(/^\+[1-9]\d{6,14}$/), (e164) => {
        expect(normalizePhone(e164)).toMatch(/^\+[1-9]\d+$/);
      }),
      { numRuns: 2000 },
    );
  });

  it('lower-cases and trims emails, refuses what is not an address', () => {
    expect(normalizeEmail(' Jane.Doe@Example.COM ')).toBe('jane.doe@example.com');
    for (const bad of ['jane', 'jane@', '@example.com', 'a b@example.com', `${'a'.repeat(250)}@example.com`]) {
      expect(() => normalizeEmail(bad)).toThrow(ValidationError);
    }
  });

  it('accepts every address an inbound email can come from, so staff can look its sender up and chat can link it', () => {
    expect(normalizeEmail('"Jane Doe"@Example.com')).toBe('"jane doe"@example.com');
    expect(normalizeEmail('jane@localhost')).toBe('jane@localhost');
    expect(normalizeEmail('jane@[192.0.2.1]')).toBe('jane@[192.0.2.1]');
    // The email parser and the identity agree on every address: what one keeps, the other accepts as is.
    fc.assert(
      fc.property(fc.oneof(fc.emailAddress(), fc.string({ maxLength: 40 })), (raw) => {
        const parsed = parseMailbox(`<${raw}>`);
        if (parsed) expect(normalizeEmail(parsed.address)).toBe(parsed.address);
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps chat user ids as sent and refuses empty, long or control-character ids', () => {
    expect(normalizeChatUserId('User_42')).toBe('User_42');
    for (const bad of ['', 'a'.repeat(129), 'with space', 'tab\t', 'nul\u0000']) expect(() => normalizeChatUserId(bad)).toThrow(ValidationError);
  });
});
