import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SignatureError } from '#shared/errors.ts';
import { unsubscribeToken, unsubscribeUrl, verifyUnsubscribeToken } from '#shared/outbound/unsubscribe-token.ts';

const CUSTOMER = `cus_${'ab12'.repeat(8)}`;
const OTHER = `cus_${'cd34'.repeat(8)}`;
const saved = { secret: process.env.UNSUBSCRIBE_SIGNING_SECRET, base: process.env.PUBLIC_BASE_URL };

function withSecret(secret: string) {
  process.env.UNSUBSCRIBE_SIGNING_SECRET = secret;
}

/** Flips one character of a base64url string to another valid one. */
function flip(s: string, at: number): string {
  const c = s[at]!;
  return `${s.slice(0, at)}${c === 'A' ? 'B' : 'A'}${s.slice(at + 1)}`;
}

describe('email unsubscribe token (RFC 8058 one-click URL)', () => {
  beforeEach(() => {
    withSecret('test-unsubscribe-secret');
    process.env.PUBLIC_BASE_URL = 'https://support.example.com/';
  });
  afterEach(() => {
    for (const [name, value] of [['UNSUBSCRIBE_SIGNING_SECRET', saved.secret], ['PUBLIC_BASE_URL', saved.base]] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });

  it('round-trips: the URL carries a token that names the customer', async () => {
    // Act
    const url = await unsubscribeUrl(CUSTOMER);
    // Assess
    const match = /^https:\/\/support\.example\.com\/unsubscribe\/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(url);
    expect(match).not.toBeNull();
    await expect(verifyUnsubscribeToken(match![1]!)).resolves.toEqual({ customerId: CUSTOMER });
  });

  it('is base64url(customerId) "." base64url(HMAC-SHA256(secret, "unsubscribe:email:" + customerId))', async () => {
    const { createHmac } = await import('node:crypto');
    const mac = createHmac('sha256', 'test-unsubscribe-secret').update(`unsubscribe:email:${CUSTOMER}`).digest('base64url');
    expect(await unsubscribeToken(CUSTOMER)).toBe(`${Buffer.from(CUSTOMER).toString('base64url')}.${mac}`);
  });

  it('refuses a token whose customer part was swapped for another customer', async () => {
    // Prepare
    const [, mac] = (await unsubscribeToken(CUSTOMER)).split('.');
    const forged = `${Buffer.from(OTHER).toString('base64url')}.${mac}`;
    // Act / Assess
    await expect(verifyUnsubscribeToken(forged)).rejects.toBeInstanceOf(SignatureError);
  });

  it('refuses a tampered MAC, including in its last character’s spare bits', async () => {
    const token = await unsubscribeToken(CUSTOMER);
    const dot = token.indexOf('.');
    for (const at of [dot + 1, dot + 20, token.length - 1]) {
      await expect(verifyUnsubscribeToken(flip(token, at))).rejects.toBeInstanceOf(SignatureError);
    }
    // The last character of a 43-character base64url MAC carries 2 spare bits: its sibling decodes to
    // the same 32 bytes, and must still be refused.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = alphabet[alphabet.indexOf(token.at(-1)!) ^ 1]!;
    const spelledOtherwise = `${token.slice(0, -1)}${sibling}`;
    expect(Buffer.from(spelledOtherwise.slice(dot + 1), 'base64url')).toEqual(Buffer.from(token.slice(dot + 1), 'base64url'));
    await expect(verifyUnsubscribeToken(spelledOtherwise)).rejects.toBeInstanceOf(SignatureError);
  });

  it('refuses a token signed with another secret (a foreign deployment’s link)', async () => {
    // Prepare
    withSecret('someone-elses-secret');
    const foreign = await unsubscribeToken(CUSTOMER);
    withSecret('test-unsubscribe-secret');
    // Act / Assess
    await expect(verifyUnsubscribeToken(foreign)).rejects.toBeInstanceOf(SignatureError);
  });

  it.each([
    ['empty', ''],
    ['no dot', 'Y3VzX2FiYw'],
    ['empty customer', `.${'A'.repeat(43)}`],
    ['short MAC', `Y3VzX2FiYw.${'A'.repeat(42)}`],
    ['standard base64 characters', `Y3VzX2FiYw==.${'A'.repeat(43)}`],
    ['two dots', `Y3VzX2FiYw.x.${'A'.repeat(43)}`],
    ['oversized', `${'A'.repeat(300)}.${'A'.repeat(43)}`],
  ])('refuses a malformed token (%s)', async (_name, token) => {
    await expect(verifyUnsubscribeToken(token)).rejects.toBeInstanceOf(SignatureError);
  });

  it('refuses a non-canonical spelling of the customer part', async () => {
    // 'YQ' and 'YR' both decode to "a": only the canonical one may name a customer.
    withSecret('test-unsubscribe-secret');
    const token = await unsubscribeToken('a');
    expect(token.startsWith('YQ.')).toBe(true);
    await expect(verifyUnsubscribeToken(`YR${token.slice(2)}`)).rejects.toBeInstanceOf(SignatureError);
  });
});
