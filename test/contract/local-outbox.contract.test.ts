import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChannelSender } from '#shared/ports/channel-sender.ts';
import type { OutboxEntry } from '#shared/data/outbox-store.ts';
import { applyStackEnv, baseUrl } from '#test/helpers/index.ts';
import { delivery, freshId, freshPhone } from './support.ts';

type Store = typeof import('#shared/data/outbox-store.ts');
type Handler = (event: APIGatewayProxyEventV2, context: Context) => Promise<APIGatewayProxyStructuredResultV2>;

const context = { getRemainingTimeInMillis: () => 10_000, functionName: 'DevOutbox', awsRequestId: 'req' } as unknown as Context;
const getEvent = (query: Record<string, string> = {}): APIGatewayProxyEventV2 =>
  ({
    version: '2.0',
    routeKey: 'GET /dev/outbox',
    rawPath: '/dev/outbox',
    rawQueryString: new URLSearchParams(query).toString(),
    queryStringParameters: Object.keys(query).length ? query : undefined,
    headers: {},
    isBase64Encoded: false,
    requestContext: { http: { method: 'GET', path: '/dev/outbox' } },
  }) as unknown as APIGatewayProxyEventV2;

describe('local outbox: adapter, store and GET /dev/outbox against the local stack\'s DynamoDB', () => {
  let restoreEnv: () => void;
  let store: Store;
  let outbox: ChannelSender;
  let handler: Handler;

  beforeAll(async () => {
    // The data module reads DYNAMODB_ENDPOINT at import: apply the stack's env first.
    restoreEnv = applyStackEnv();
    store = await import('#shared/data/outbox-store.ts');
    outbox = (await import('#shared/adapters/providers/local-outbox.adapter.ts')).createLocalOutboxSender();
    handler = (await import('#functions/http/dev-outbox.ts')).handler as unknown as Handler;
  });
  afterAll(() => restoreEnv());

  const mine = async (ids: string[]) => (await store.listOutbox(500)).filter((e) => ids.includes(e.messageId));

  it('records an SMS instead of sending it and answers `outbox_<messageId>`', async () => {
    // Prepare
    const to = freshPhone();
    const message = delivery({ channel: 'sms', to, body: 'Your code is 1234', statusCallbackUrl: 'https://x.example/status' });

    // Act
    const result = await outbox.send(message);

    // Assess
    expect(result).toEqual({ provider: 'outbox', providerMessageId: `outbox_${message.messageId}` });
    expect(await mine([message.messageId])).toEqual([
      { messageId: message.messageId, conversationId: message.conversationId, channel: 'sms', to, body: 'Your code is 1234', at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) },
    ]);
  });

  it('records an email with subject, html and the headers SendGrid would have been given', async () => {
    const message = delivery({
      channel: 'email',
      to: `${freshId('jane')}@example.org`,
      subject: 'Re: refund',
      body: 'text',
      html: '<p>text</p>',
      inReplyTo: '<in@mail.example.org>',
      unsubscribeUrl: 'https://support.example.com/unsubscribe/t',
    });
    await outbox.send(message);
    const [entry] = await mine([message.messageId]);
    expect(entry).toMatchObject({
      channel: 'email',
      subject: 'Re: refund',
      html: '<p>text</p>',
      headers: {
        'In-Reply-To': '<in@mail.example.org>',
        References: '<in@mail.example.org>',
        'List-Unsubscribe': '<https://support.example.com/unsubscribe/t>',
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      },
    });
  });

  it('the same messageId sent again (a retry, later) adds nothing and answers the same id', async () => {
    // Prepare
    const message = delivery({ channel: 'chat', to: freshId('user') });
    const first = await outbox.send(message);

    // Act
    const again = await Promise.all([outbox.send(message), outbox.send(message), outbox.send({ ...message, body: 'changed' })]);
    const recordedAgain = await store.recordOutbox({ ...message, at: new Date(Date.now() + 5_000).toISOString() });

    // Assess
    expect(again).toEqual([first, first, first]);
    expect(recordedAgain).toBe(false);
    expect(await mine([message.messageId])).toHaveLength(1);
  });

  it('lists newest first, at most `limit`', async () => {
    // Prepare: three entries one millisecond apart.
    const base = Date.now();
    const ids = [freshId('msg'), freshId('msg'), freshId('msg')];
    for (const [i, messageId] of ids.entries()) {
      await createOutboxAt(messageId, new Date(base + i));
    }

    // Act
    const listed = await mine(ids);
    const two = await store.listOutbox(2);

    // Assess
    expect(listed.map((e) => e.messageId)).toEqual([...ids].reverse());
    expect(two).toHaveLength(2);
    expect(two).toEqual((await store.listOutbox(50)).slice(0, 2));
  });

  it('GET /dev/outbox (handler) answers {items} newest first, honours ?limit=, refuses a bad limit with 400', async () => {
    // Prepare
    const restore = setEnv('LOCAL_OUTBOX', '1');
    const messageId = freshId('msg');
    await createOutboxAt(messageId, new Date());

    try {
      // Act
      const all = await handler(getEvent(), context);
      const one = await handler(getEvent({ limit: '1' }), context);
      const bad = await Promise.all(['0', '501', 'ten', '1.5'].map((limit) => handler(getEvent({ limit }), context)));

      // Assess
      expect(all.statusCode).toBe(200);
      const items = (JSON.parse(all.body!) as { items: OutboxEntry[] }).items;
      expect(items.length).toBeGreaterThanOrEqual(1);
      expect(items.map((i) => i.at)).toEqual([...items.map((i) => i.at)].sort().reverse());
      expect(items.some((i) => i.messageId === messageId)).toBe(true);
      expect(JSON.parse(one.body!)).toEqual({ items: [items[0]] });
      for (const res of bad) {
        expect(res.statusCode).toBe(400);
        expect(JSON.parse(res.body!)).toMatchObject({ error: { code: 'bad_request' } });
      }
    } finally {
      restore();
    }
  });

  it('GET /dev/outbox (handler) is a 404 unless LOCAL_OUTBOX=1, even when mounted', async () => {
    for (const value of [undefined, '0', 'true']) {
      const restore = setEnv('LOCAL_OUTBOX', value);
      try {
        const res = await handler(getEvent(), context);
        expect(res.statusCode).toBe(404);
        expect(JSON.parse(res.body!)).toMatchObject({ error: { code: 'not_found' } });
      } finally {
        restore();
      }
    }
  });

  it('GET /dev/outbox over HTTP on the local stack lists what the outbox recorded', async () => {
    // Prepare
    const message = delivery({ channel: 'sms', to: freshPhone() });
    await outbox.send(message);

    // Act
    const res = await fetch(`${baseUrl()}/dev/outbox?limit=500`);

    // Assess
    expect(res.status).toBe(200);
    const { items } = (await res.json()) as { items: OutboxEntry[] };
    expect(items.find((i) => i.messageId === message.messageId)).toMatchObject({ channel: 'sms', to: message.to, body: message.body });
  });

  function setEnv(name: string, value: string | undefined): () => void {
    const previous = process.env[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
    return () => {
      if (previous === undefined) delete process.env[name];
      else process.env[name] = previous;
    };
  }

  async function createOutboxAt(messageId: string, at: Date): Promise<void> {
    const sender = (await import('#shared/adapters/providers/local-outbox.adapter.ts')).createLocalOutboxSender({ now: () => at });
    await sender.send(delivery({ channel: 'sms', to: freshPhone(), messageId }));
  }
});
