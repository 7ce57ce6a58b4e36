import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createChatDeliverySender, type ChatDeliverySettings } from '#shared/adapters/providers/chat-delivery.adapter.ts';
import { startChatBackendFake, type ChatBackendFake } from '#test/fakes/chat-backend.fake.ts';
import { refusedUrl } from '#test/fakes/http-server.ts';
import { signChat } from '#test/helpers/index.ts';
import { delivery, expectConfigFault, expectPermanent, expectTransient, freshId } from './support.ts';

const SECRET = 'chat-delivery-contract-secret';

describe('chat delivery adapter against a customer app backend (contract)', () => {
  let backend: ChatBackendFake;
  let backendWithIds: ChatBackendFake;
  const chat = (overrides: Partial<ChatDeliverySettings> = {}) => createChatDeliverySender({ url: backend.url, secret: async () => SECRET, ...overrides });

  beforeAll(async () => {
    backend = await startChatBackendFake({ secret: SECRET });
    backendWithIds = await startChatBackendFake({ secret: SECRET, answerId: true });
  });
  afterAll(async () => {
    await backend.close();
    await backendWithIds.close();
  });

  it('POSTs {messageId, conversationId, userId, text, sentAt} signed like inbound chat; the backend verifies it; answers our messageId', async () => {
    // Prepare
    const userId = freshId('user');
    const message = delivery({ channel: 'chat', to: userId, body: 'Hi! Your ticket is resolved ✅' });
    const rejectedBefore = backend.rejected;

    // Act
    const result = await chat().send(message);

    // Assess
    const received = backend.deliveries.at(-1)!;
    expect(backend.rejected).toBe(rejectedBefore);
    expect(received.status).toBe(204);
    expect(received.contentType).toBe('application/json');
    expect(received.body).toEqual({ messageId: message.messageId, conversationId: message.conversationId, userId, text: 'Hi! Your ticket is resolved ✅', sentAt: expect.any(String) });
    expect(Math.abs(Date.parse(received.body.sentAt as string) - Number(received.timestamp) * 1000)).toBeLessThan(1000);
    expect(result).toEqual({ provider: 'chat', providerMessageId: message.messageId });
  });

  it('answers the backend\'s own id when it answers JSON with one', async () => {
    const result = await chat({ url: backendWithIds.url }).send(delivery({ channel: 'chat', to: freshId('user') }));
    expect(result).toEqual({ provider: 'chat', providerMessageId: `chat_${backendWithIds.deliveries.length}` });
  });

  it('the backend rejects a delivery signed with another secret, and a body changed after signing', async () => {
    // Prepare
    const rejectedBefore = backend.rejected;
    const body = JSON.stringify({ messageId: freshId('msg'), conversationId: 'c', userId: 'u', text: 'hi', sentAt: new Date().toISOString() });
    const ts = String(Math.floor(Date.now() / 1000));

    // Act
    const wrongSecret = chat({ secret: async () => 'not-the-secret' }).send(delivery({ channel: 'chat', to: freshId('user') }));
    const tampered = await fetch(backend.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-chat-timestamp': ts, 'x-chat-signature': signChat(SECRET, ts, body) },
      body: body.replace('"hi"', '"pay me"'),
    });

    // Assess: a refused signature is the backend's 401: our secret is wrong, not the message, which goes
    // out once the secret is fixed.
    await expectConfigFault(wrongSecret, 'chat:401');
    expect(tampered.status).toBe(401);
    expect(backend.rejected).toBe(rejectedBefore + 2);
  });

  it('a stale timestamp (clock 10 minutes behind) is rejected by the backend', async () => {
    const rejectedBefore = backend.rejected;
    await expectConfigFault(chat({ now: () => Date.now() - 600_000 }).send(delivery({ channel: 'chat', to: freshId('user') })), 'chat:401');
    expect(backend.rejected).toBe(rejectedBefore + 1);
  });

  it('400 is permanent `chat:400`', async () => {
    backend.failNext({ status: 400 });
    await expectPermanent(chat().send(delivery({ channel: 'chat', to: freshId('user') })), 'chat:400');
  });

  it.each([408, 429, 500, 503])('%i is transient', async (status) => {
    backend.failNext({ status });
    await expectTransient(chat().send(delivery({ channel: 'chat', to: freshId('user') })));
    expect(backend.deliveries.at(-1)!.status).toBe(status);
  });

  it('503 then success: the retry is delivered once', async () => {
    const message = delivery({ channel: 'chat', to: freshId('user') });
    backend.failNext({ status: 503 });
    await expectTransient(chat().send(message));
    await chat().send(message);
    expect(backend.deliveries.filter((d) => d.body.messageId === message.messageId).map((d) => d.status)).toEqual([503, 204]);
  });

  it('a refused connection and no answer within the timeout are transient; only the late answer leaves the outcome unknown', async () => {
    expect((await expectTransient(chat({ url: `${await refusedUrl()}/chat/deliveries` }).send(delivery({ channel: 'chat', to: freshId('user') })))).outcomeUnknown).toBe(false);
    backend.delayNext(1_000);
    expect((await expectTransient(chat({ timeoutMs: 200 }).send(delivery({ channel: 'chat', to: freshId('user') })))).outcomeUnknown).toBe(true);
  });
});
