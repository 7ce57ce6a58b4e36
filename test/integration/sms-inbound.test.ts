import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { baseUrl, postTwilioForm, signTwilio, stackEnv, waitFor } from '#test/helpers/index.ts';
import { allMessages, customerBy, expectError, expectNothingWritten, freshPhone, sid, staffGet } from './support.ts';

const path = '/webhooks/twilio/sms';

function smsParams(from: string, body: string, extra: Record<string, string> = {}) {
  return { MessageSid: sid('SM'), AccountSid: sid('AC'), From: from, To: '+16285550000', Body: body, NumMedia: '0', ...extra };
}

function post(params: Record<string, string>, options: { signature?: string; signedUrl?: string } = {}) {
  return postTwilioForm(baseUrl(), path, params, { authToken: stackEnv().TWILIO_AUTH_TOKEN, ...options });
}

describe('Twilio SMS webhook → the sender’s thread', () => {
  it('stores an SMS in the thread of the sender, found by phone in any format', async () => {
    // Prepare
    const phone = freshPhone();
    // Act
    const res = await post(smsParams(phone, 'My card was declined'));
    // Assess
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/xml');
    expect(await res.text()).toContain('<Response');
    const customer = await customerBy(`phone=${encodeURIComponent(`${phone.slice(0, 2)} (${phone.slice(2, 5)}) ${phone.slice(5, 8)}-${phone.slice(8)}`)}`);
    expect(customer.identities).toEqual([{ kind: 'phone', value: phone }]);
    const messages = await allMessages(customer.conversationId);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ channel: 'sms', direction: 'inbound', body: 'My card was declined', conversationId: customer.conversationId });
    expect(Date.parse(messages[0]!.createdAt as string)).not.toBeNaN();
  });

  it('answers a retried delivery (same MessageSid) the same and adds nothing, also when the copies arrive at once', async () => {
    const phone = freshPhone();
    const params = smsParams(phone, 'once');
    const first = await post(params);
    const firstBody = await first.text();
    await expectNothingWritten(async () => {
      const copies = await Promise.all(Array.from({ length: 8 }, () => post(params)));
      for (const copy of copies) {
        expect(copy.status).toBe(200);
        expect(await copy.text()).toBe(firstBody);
      }
    });
    const customer = await customerBy(`phone=${encodeURIComponent(phone)}`);
    expect(await allMessages(customer.conversationId)).toHaveLength(1);
  });

  it('creates one customer when a new number’s first messages arrive concurrently', async () => {
    const phone = freshPhone();
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => post(smsParams(phone, `burst ${i}`))));
    expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
    const customer = await customerBy(`phone=${encodeURIComponent(phone)}`);
    const messages = await allMessages(customer.conversationId);
    expect(messages.map((m) => m.body).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `burst ${i}`).sort());
    const times = messages.map((m) => m.createdAt as string);
    expect([...times].sort()).toEqual(times);
  });

  describe('MMS media', () => {
    let media: Server;
    let mediaBase = '';
    const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
    beforeAll(async () => {
      media = createServer((req, res) => {
        if (req.url === '/media/ok.png') {
          res.writeHead(200, { 'content-type': 'image/png' });
          res.end(png);
        } else {
          res.writeHead(404).end();
        }
      });
      await new Promise<void>((r) => media.listen(0, '127.0.0.1', r));
      mediaBase = `http://127.0.0.1:${(media.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((r) => media.close(() => r())));

    it('keeps media as attachments and copies them to the blob store through the inbound-work queue', async () => {
      const phone = freshPhone();
      const params = smsParams(phone, '', {
        MessageSid: sid('MM'),
        NumMedia: '2',
        MediaUrl0: `${mediaBase}/media/ok.png`,
        MediaContentType0: 'image/png',
        MediaUrl1: `${mediaBase}/media/gone.png`,
        MediaContentType1: 'image/png',
      });
      expect((await post(params)).status).toBe(200);
      const customer = await customerBy(`phone=${encodeURIComponent(phone)}`);
      const attachments = await waitFor(
        async () => {
          const [message] = await allMessages(customer.conversationId);
          const list = (message?.attachments ?? []) as Array<Record<string, unknown>>;
          return list.every((a) => a.status !== 'pending') ? list : false;
        },
        { timeoutMs: 20_000 },
      );
      expect(attachments[0]).toMatchObject({ contentType: 'image/png', status: 'stored', size: png.length });
      expect(attachments[1]).toMatchObject({ contentType: 'image/png', status: 'failed' });
      const stored = join(stackEnv().ATTACHMENTS_DIR, attachments[0]!.storageKey as string);
      expect(existsSync(stored)).toBe(true);
      expect(readFileSync(stored).equals(png)).toBe(true);
    });
  });

  describe('bad input: a clear 4xx and nothing written', () => {
    it.each([
      ['no signature', (p: Record<string, string>) => post(p, { signature: '' }), 403],
      ['a forged signature', (p: Record<string, string>) => post(p, { signature: 'bm90IGEgc2lnbmF0dXJl' }), 403],
      ['a signature over another URL', (p: Record<string, string>) => post(p, { signedUrl: 'https://evil.example.com/webhooks/twilio/sms' }), 403],
      ['a tampered body', (p: Record<string, string>) => post({ ...p, Body: 'changed' }, { signature: signTwilio(`${baseUrl()}${path}`, p, stackEnv().TWILIO_AUTH_TOKEN) }), 403],
    ])('%s → %i', async (_name, send, status) => {
      const phone = freshPhone();
      await expectNothingWritten(async () => expectError(await send(smsParams(phone, 'x')), status));
      expect((await staffGet(`/customers?phone=${encodeURIComponent(phone)}`)).status).toBe(404);
    });

    it.each([
      ['a missing From', { From: '' }],
      ['a From that is not a phone number', { From: 'not-a-number' }],
      ['a malformed MessageSid', { MessageSid: 'SM123' }],
      ['NumMedia without its MediaUrl', { NumMedia: '1' }],
      ['NumMedia out of range', { NumMedia: '11' }],
    ])('a signed body with %s → 400', async (_name, change) => {
      const params = Object.fromEntries(Object.entries({ ...smsParams(freshPhone(), 'x'), ...change }).filter(([, v]) => v !== ''));
      await expectNothingWritten(async () => expectError(await post(params), 400));
    });

    it('a body that is not form-encoded → 415; broken escapes → 400; oversized → 413', async () => {
      const env = stackEnv();
      await expectNothingWritten(async () => {
        const json = await fetch(`${baseUrl()}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-twilio-signature': 'x' }, body: '{}' });
        await expectError(json, 415);
        const broken = await fetch(`${baseUrl()}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'x' }, body: 'Body=%zz' });
        await expectError(broken, 400);
        const huge = await post(smsParams(freshPhone(), 'x'.repeat(6 * 1024 * 1024)));
        expect(huge.status).toBe(413);
        expect(env.TWILIO_AUTH_TOKEN).toBeTruthy();
      });
    });

    it('random and mutated bodies never crash the handler, always answer 4xx and write nothing (property)', async () => {
      const env = stackEnv();
      const url = `${baseUrl()}${path}`;
      const valid = smsParams(freshPhone(), 'valid');
      await expectNothingWritten(async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.oneof(
              // Unsigned garbage.
              fc.record({ body: fc.string({ maxLength: 300 }), signed: fc.constant(false) }),
              // Correctly signed, but with fields dropped or replaced by random strings.
              fc
                .record({
                  drop: fc.subarray(Object.keys(valid)),
                  replace: fc.dictionary(fc.constantFrom(...Object.keys(valid), 'MediaUrl0', 'NumMedia'), fc.string({ maxLength: 40 })),
                })
                .filter(({ drop, replace }) => drop.includes('MessageSid') || drop.includes('From') || 'MessageSid' in replace || 'From' in replace)
                .map(({ drop, replace }) => {
                  const params: Record<string, string> = { ...valid, ...replace };
                  for (const key of drop) delete params[key];
                  if ('MessageSid' in replace || !('MessageSid' in params)) return { body: new URLSearchParams(params).toString(), signed: true, params };
                  params.From = `x${params.From ?? ''}`; // still invalid: a From that is not a phone
                  return { body: new URLSearchParams(params).toString(), signed: true, params };
                }),
            ),
            async (sample) => {
              const params = 'params' in sample ? (sample.params as Record<string, string>) : undefined;
              const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
              headers['x-twilio-signature'] = params ? signTwilio(url, params, env.TWILIO_AUTH_TOKEN) : 'AAAA';
              const res = await fetch(url, { method: 'POST', headers, body: sample.body });
              await res.arrayBuffer();
              expect(res.status).toBeGreaterThanOrEqual(400);
              expect(res.status).toBeLessThan(500);
            },
          ),
          { numRuns: 1500 },
        );
      });
    });
  });
});
