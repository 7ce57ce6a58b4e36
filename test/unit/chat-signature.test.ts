import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { chatSignature, verifyChatSignature } from '#shared/channels/chat/chat-signature.ts';
import { SignatureError } from '#shared/errors.ts';

const secret = 'chat-secret';
const body = Buffer.from('{"messageId":"m1","userId":"u1","text":"hi","sentAt":"2026-11-23T10:00:00Z"}');
const now = 1_795_000_000;

describe('chat webhook signature: v1=HMAC-SHA256(secret, timestamp + "." + rawBody), 300 s window', () => {
  it('matches an independently computed HMAC', () => {
    const expected = createHmac('sha256', secret).update(`${now}.${body.toString()}`).digest('hex');
    expect(chatSignature(secret, String(now), body)).toBe(`v1=${expected}`);
  });

  it('accepts a fresh signature, and one among several (secret rotation)', () => {
    const sig = chatSignature(secret, String(now), body);
    expect(() => verifyChatSignature({ secret, timestamp: String(now), signature: sig, rawBody: body, nowSeconds: now + 299 })).not.toThrow();
    const rotated = `${chatSignature('old', String(now), body)}, ${sig}`;
    expect(() => verifyChatSignature({ secret, timestamp: String(now), signature: rotated, rawBody: body, nowSeconds: now })).not.toThrow();
  });

  it.each([
    ['a stale timestamp', String(now), now + 301, undefined],
    ['a future timestamp', String(now + 301), now, undefined],
    ['a missing timestamp', undefined, now, undefined],
    ['a non-numeric timestamp', '17e8', now, undefined],
    ['a missing signature', String(now), now, ''],
    ['a signature of another body', String(now), now, chatSignature(secret, String(now), Buffer.from('{}'))],
    ['a signature with another secret', String(now), now, chatSignature('nope', String(now), body)],
    ['a signature without the v1= prefix', String(now), now, chatSignature(secret, String(now), body).slice(3)],
    ['a truncated signature', String(now), now, chatSignature(secret, String(now), body).slice(0, 40)],
  ])('refuses %s', (_name, timestamp, nowSeconds, signature) => {
    const sig = signature ?? (timestamp ? chatSignature(secret, timestamp, body) : 'v1=00');
    expect(() => verifyChatSignature({ secret, timestamp, signature: sig, rawBody: body, nowSeconds })).toThrow(SignatureError);
  });

  it('refuses every mutated signature or body (property)', () => {
    const good = chatSignature(secret, String(now), body);
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), fc.uint8Array({ maxLength: 200 }), (sig, bytes) => {
        fc.pre(sig !== good);
        expect(() => verifyChatSignature({ secret, timestamp: String(now), signature: sig, rawBody: body, nowSeconds: now })).toThrow(SignatureError);
        const other = Buffer.from(bytes);
        fc.pre(!other.equals(body));
        expect(() => verifyChatSignature({ secret, timestamp: String(now), signature: good, rawBody: other, nowSeconds: now })).toThrow(SignatureError);
      }),
      { numRuns: 2000 },
    );
  });
});
