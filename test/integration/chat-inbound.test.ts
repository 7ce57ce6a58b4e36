import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { baseUrl, postChat, postTwilioForm, signChat, stackEnv } from '#test/helpers/index.ts';
import { allMessages, customerBy, expectError, expectNothingWritten, freshId, freshPhone, sid, staffGet } from './support.ts';

const chat = (body: unknown, options: { secret?: string; timestamp?: number | string; signature?: string; headers?: Record<string, string> } = {}) =>
  postChat(baseUrl(), body, { secret: stackEnv().CHAT_WEBHOOK_SECRET, ...options });

const message = (userId: string, text: string, extra: Record<string, string> = {}) => ({ messageId: freshId('m'), userId, text, sentAt: new Date().toISOString(), ...extra });

const sms = (phone: string, body: string) =>
  postTwilioForm(baseUrl(), '/webhooks/twilio/sms', { MessageSid: sid('SM'), From: phone, To: '+16285550000', Body: body, NumMedia: '0' }, { authToken: stackEnv().TWILIO_AUTH_TOKEN });

describe('chat webhook', () => {
  it('stores a signed chat message and answers its conversation and message ids; a retry answers the same and adds nothing', async () => {
    const userId = freshId('user');
    const body = message(userId, 'Where is my refund?');
    const res = await chat(body);
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { conversationId: string; messageId: string };
    expect(answer.conversationId).toMatch(/^conv_/);
    expect(answer.messageId).toMatch(/^msg_/);
    const customer = await customerBy(`chatUserId=${userId}`);
    expect(customer.conversationId).toBe(answer.conversationId);
    expect(await allMessages(answer.conversationId)).toMatchObject([{ messageId: answer.messageId, channel: 'chat', direction: 'inbound', body: 'Where is my refund?' }]);
    await expectNothingWritten(async () => {
      const retries = await Promise.all([chat(body), chat(body), chat(body)]);
      for (const retry of retries) expect(await retry.json()).toEqual(answer);
    });
  });

  it('links the email and phone a chat message carries: one customer, one thread, every message once', async () => {
    // Prepare: the same person already wrote by SMS (customer A) and by chat under another app account (customer B).
    const phone = freshPhone();
    const email = `${freshId('jane')}@Example.com`;
    await sms(phone, 'sms before linking');
    const other = freshId('user');
    await chat(message(other, 'chat from the email account', { email }));
    const a = await customerBy(`phone=${encodeURIComponent(phone)}`);
    const b = await customerBy(`email=${encodeURIComponent(email.toLowerCase())}`);
    expect(a.customerId).not.toBe(b.customerId);

    // Act: a chat user whose app knows both.
    const userId = freshId('user');
    const res = await chat(message(userId, 'linking message', { email, phone }));
    expect(res.status).toBe(200);
    const { conversationId } = (await res.json()) as { conversationId: string };

    // Assess
    const byPhone = await customerBy(`phone=${encodeURIComponent(phone)}`);
    const byEmail = await customerBy(`email=${encodeURIComponent(email)}`);
    const byChat = await customerBy(`chatUserId=${userId}`);
    const byOther = await customerBy(`chatUserId=${other}`);
    expect(new Set([byPhone.customerId, byEmail.customerId, byChat.customerId, byOther.customerId]).size).toBe(1);
    expect(byChat.conversationId).toBe(conversationId);
    expect(byChat.identities).toEqual(
      expect.arrayContaining([
        { kind: 'phone', value: phone },
        { kind: 'email', value: email.toLowerCase() },
        { kind: 'chat', value: userId },
        { kind: 'chat', value: other },
      ]),
    );
    const bodies = (await allMessages(conversationId)).map((m) => m.body);
    expect(bodies.sort()).toEqual(['chat from the email account', 'linking message', 'sms before linking']);

    // The absorbed conversation's id leads to the surviving one.
    const absorbed = [a, b].find((c) => c.conversationId !== conversationId)!;
    const old = await staffGet(`/conversations/${absorbed.conversationId}`);
    expect(old.status).toBe(200);
    expect(await old.json()).toMatchObject({ conversationId, mergedFrom: absorbed.conversationId });

    // Messages after the merge, on any channel, land in the one thread.
    await sms(phone, 'sms after linking');
    expect((await allMessages(conversationId)).map((m) => m.body)).toContain('sms after linking');
  });

  it('merges correctly when links of the same customers race', async () => {
    const phone = freshPhone();
    const email = `${freshId('race')}@example.com`;
    await sms(phone, 'from phone');
    await chat(message(freshId('user'), 'from email account', { email }));
    const users = Array.from({ length: 4 }, () => freshId('user'));
    const results = await Promise.all(users.map((u) => chat(message(u, `link by ${u}`, { email, phone }))));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const customers = await Promise.all([...users.map((u) => customerBy(`chatUserId=${u}`)), customerBy(`phone=${encodeURIComponent(phone)}`), customerBy(`email=${email}`)]);
    expect(new Set(customers.map((c) => c.customerId)).size).toBe(1);
    const bodies = (await allMessages(customers[0]!.conversationId)).map((m) => m.body);
    expect(bodies).toHaveLength(6);
    expect(new Set(bodies).size).toBe(6);
  });

  describe('bad input: a clear 4xx and nothing written', () => {
    const now = () => Math.floor(Date.now() / 1000);
    // Options are built when the test runs: a timestamp taken when the file loads would age meanwhile.
    it.each([
      ['a stale timestamp', () => ({ timestamp: now() - 301 }), 403],
      ['a timestamp from the future', () => ({ timestamp: now() + 302 }), 403],
      ['no signature', () => ({ signature: '' }), 403],
      ['a signature of the very body with another secret', () => ({ secret: 'another-secret' }), 403],
      ['a signature with the right secret over another body', () => ({ signature: signChat(stackEnv().CHAT_WEBHOOK_SECRET, now(), '{}') }), 403],
      ['a timestamp that is not a number', () => ({ timestamp: 'yesterday' }), 403],
    ])('%s → 403', async (_name, options, status) => {
      const userId = freshId('user');
      await expectNothingWritten(async () => expectError(await chat(message(userId, 'x'), options()), status));
      expect((await staffGet(`/customers?chatUserId=${userId}`)).status).toBe(404);
    });

    it.each([
      ['invalid JSON', '{"messageId":'],
      ['a JSON array', '[]'],
      ['a missing text', JSON.stringify({ messageId: 'm', userId: 'u', sentAt: new Date().toISOString() })],
      ['an empty text', JSON.stringify({ messageId: 'm', userId: 'u', text: '', sentAt: new Date().toISOString() })],
      ['an unknown field', JSON.stringify({ ...message('u', 'x'), admin: true })],
      ['a sentAt that is not a date', JSON.stringify({ ...message('u', 'x'), sentAt: 'tuesday' })],
      ['an invalid email link', JSON.stringify(message('u', 'x', { email: 'not-an-email' }))],
      ['an invalid phone link', JSON.stringify(message('u', 'x', { phone: '12' }))],
      ['a userId with spaces', JSON.stringify(message('user one', 'x'))],
    ])('a signed body with %s → 400', async (_name, raw) => {
      await expectNothingWritten(async () => expectError(await chat(raw), 400));
    });

    it('a body that is not JSON → 415; an oversized body → 413', async () => {
      await expectNothingWritten(async () => {
        await expectError(await chat(JSON.stringify(message('u', 'x')), { headers: { 'content-type': 'text/plain' } }), 415);
        expect((await chat(message('u', 'x'.repeat(140_000)))).status).toBe(413);
      });
    });

    it('accepts null for the optional fields, as many JSON serializers write unset ones, and links nothing for them', async () => {
      const userId = freshId('user');
      const res = await chat({ ...message(userId, 'Hello'), email: null, phone: null, name: null });
      expect(res.status).toBe(200);
      const customer = await customerBy(`chatUserId=${userId}`);
      expect(customer.identities).toEqual([{ kind: 'chat', value: userId }]);
    });

    it('accepts a 20,000-character text that its encoder wrote as \\u escapes (120 KB on the wire)', async () => {
      const userId = freshId('user');
      const text = 'é'.repeat(20_000);
      const raw = JSON.stringify(message(userId, text)).replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
      expect(raw.length).toBeGreaterThan(120_000);
      expect((await chat(raw)).status).toBe(200);
      const customer = await customerBy(`chatUserId=${userId}`);
      expect((await allMessages(customer.conversationId)).map((m) => m.body)).toEqual([text]);
    });

    it('random signed and unsigned bodies never crash the handler and write nothing unless valid (property)', async () => {
      await expectNothingWritten(async () => {
        await fc.assert(
          fc.asyncProperty(
            fc.oneof(
              fc.string({ maxLength: 300 }),
              fc.json({ maxDepth: 3 }),
              fc.record({ messageId: fc.string(), userId: fc.string(), text: fc.constant(''), sentAt: fc.string() }).map((o) => JSON.stringify(o)),
            ),
            fc.boolean(),
            async (raw, signed) => {
              const res = await chat(raw, signed ? {} : { signature: 'v1=' + '0'.repeat(64) });
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
