import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { startFakeServer, type FakeAnswer, type RunningServer } from '#test/fakes/http-server.ts';
import { applyStackEnv, baseUrl, postTwilioForm, signTwilio, stackEnv, waitFor } from '#test/helpers/index.ts';
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
    expect(messages[0]!.createdAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('accepts a signed SMS whatever its extra field names, object built-ins (toString, constructor, hasOwnProperty, valueOf) included', async () => {
    // Prepare
    const phone = freshPhone();
    // Act
    const res = await post(smsParams(phone, 'Fields with odd names', { toString: 'x', constructor: 'y', hasOwnProperty: 'w', valueOf: 'v' }));
    // Assess
    expect(res.status).toBe(200);
    const customer = await customerBy(`phone=${encodeURIComponent(phone)}`);
    expect((await allMessages(customer.conversationId)).map((m) => m.body)).toEqual(['Fields with odd names']);
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
    /** Whether `/media/locked.png` refuses our credentials (401), as Twilio does with a wrong API key. */
    let locked = true;
    const png = Buffer.from('89504e470d0a1a0a0000000d4948445200000001000000010806000000', 'hex');
    type Seen = { path: string; search: string; authorization?: string };
    /**
     * A media host: `/media/ok.png` answers the image, `/media/redirect?to=<url>` a 302 there, `/media/loop`
     * a 307 to itself (a relative location); it keeps what it was asked.
     */
    async function mediaHost(): Promise<RunningServer & { seen: Seen[] }> {
      const seen: Seen[] = [];
      const server = await startFakeServer((req): FakeAnswer => {
        seen.push({ path: req.path, search: req.query.toString(), ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
        if (req.path === '/media/ok.png') return { status: 200, headers: { 'content-type': 'image/png' }, body: png };
        if (req.path === '/media/redirect') return { status: 302, headers: { location: req.query.get('to') ?? '' } };
        if (req.path === '/media/loop') return { status: 307, headers: { location: `/media/loop?${req.query.toString()}` } };
        if (req.path === '/media/locked.png') return locked ? { status: 401 } : { status: 200, headers: { 'content-type': 'image/png' }, body: png };
        if (req.path === '/media/forbidden.png') return { status: 403 };
        return { status: 404 };
      });
      return Object.assign(server, { seen });
    }
    const redirect = (host: RunningServer | string, to: string) => `${typeof host === 'string' ? host : host.baseUrl}/media/redirect?to=${encodeURIComponent(to)}`;
    /** A token that marks one test's requests in a host's log. */
    const token = () => randomBytes(8).toString('hex');
    const askedFor = (host: { seen: Seen[] }, tok: string) => host.seen.filter((r) => r.search.includes(tok));

    // `media` and `cdn` are both on 127.0.0.1 (in the test stack's MEDIA_HOSTS); `outside` listens on
    // 127.0.0.1 too but is reached as `localhost`, a host the test stack does not allow.
    let media: Awaited<ReturnType<typeof mediaHost>>;
    let cdn: Awaited<ReturnType<typeof mediaHost>>;
    let outside: Awaited<ReturnType<typeof mediaHost>>;
    let outsideBase = '';
    // For the tests that import the use case: the data module reads its settings at import.
    let restoreEnv: () => void;
    beforeAll(async () => {
      restoreEnv = applyStackEnv();
      [media, cdn, outside] = await Promise.all([mediaHost(), mediaHost(), mediaHost()]);
      outsideBase = outside.baseUrl.replace('127.0.0.1', 'localhost');
    });
    afterAll(async () => {
      restoreEnv();
      await Promise.all([media.close(), cdn.close(), outside.close()]);
    });

    /** Posts an MMS with these media URLs and waits until the consumer settled every attachment. */
    async function mmsAttachments(urls: string[]): Promise<Array<Record<string, unknown>>> {
      const phone = freshPhone();
      const mediaParams = Object.fromEntries(urls.flatMap((url, i) => [[`MediaUrl${i}`, url], [`MediaContentType${i}`, 'image/png']]));
      expect((await post(smsParams(phone, '', { MessageSid: sid('MM'), NumMedia: String(urls.length), ...mediaParams }))).status).toBe(200);
      const customer = await customerBy(`phone=${encodeURIComponent(phone)}`);
      return waitFor(
        async () => {
          const [message] = await allMessages(customer.conversationId);
          const list = (message?.attachments ?? []) as Array<Record<string, unknown>>;
          return list.length === urls.length && list.every((a) => a.status !== 'pending') ? list : false;
        },
        { timeoutMs: 20_000 },
      );
    }

    /** An SMS stored straight in the stack's table with one attachment still to copy from `sourceUrl`. */
    async function messageWithPendingMedia(sourceUrl: string): Promise<{ conversationId: string; messageId: string }> {
      const { appendMessage } = await import('#shared/data/conversation-store.ts');
      const { newCustomerIds } = await import('#shared/domain/ids.ts');
      const { customerId, conversationId } = newCustomerIds();
      const messageId = `msg_${randomBytes(16).toString('hex')}`;
      await appendMessage({
        conversationId,
        customerId,
        messageId,
        channel: 'sms',
        direction: 'inbound',
        body: '',
        createdAt: new Date().toISOString(),
        attachments: [{ name: 'photo.png', contentType: 'image/png', sourceUrl, status: 'pending' }],
      });
      return { conversationId, messageId };
    }

    function expectStoredPng(attachment: Record<string, unknown> | undefined) {
      expect(attachment).toMatchObject({ contentType: 'image/png', status: 'stored', size: png.length });
      const stored = join(stackEnv().ATTACHMENTS_DIR, attachment!.storageKey as string);
      expect(existsSync(stored)).toBe(true);
      expect(readFileSync(stored).equals(png)).toBe(true);
    }

    it('keeps media as attachments and copies them to the blob store through the inbound-work queue', async () => {
      const attachments = await mmsAttachments([`${media.baseUrl}/media/ok.png`, `${media.baseUrl}/media/gone.png`]);
      expectStoredPng(attachments[0]);
      expect(attachments[1]).toMatchObject({ contentType: 'image/png', status: 'failed' });
    });

    it('answers 5xx when the media job cannot be queued (the message stays, its media pending), and Twilio’s retry queues it: the media is stored', async () => {
      // Prepare: the SMS handler in this process, its inbound-work queue URL naming no queue (a queue failure)
      const { handler } = await import('#functions/http/twilio-sms.ts');
      const { createLambdaContext } = await import('#local/lambda-context.ts');
      const phone = freshPhone();
      const params = smsParams(phone, '', { MessageSid: sid('MM'), NumMedia: '1', MediaUrl0: `${media.baseUrl}/media/ok.png`, MediaContentType0: 'image/png' });
      const body = new URLSearchParams(params).toString();
      const url = `${stackEnv().PUBLIC_BASE_URL}${path}`;
      const queueUrl = process.env.INBOUND_WORK_QUEUE_URL!;
      process.env.INBOUND_WORK_QUEUE_URL = queueUrl.replace(/[^/]+$/, 'no-such-queue');
      let first: { statusCode?: number };
      try {
        first = (await handler(
          {
            version: '2.0',
            routeKey: `POST ${path}`,
            rawPath: path,
            rawQueryString: '',
            headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signTwilio(url, params, stackEnv().TWILIO_AUTH_TOKEN) },
            body,
            isBase64Encoded: false,
            requestContext: { http: { method: 'POST', path } } as never,
          },
          createLambdaContext('TwilioSmsWebhook', 10_000),
        )) as { statusCode?: number };
      } finally {
        process.env.INBOUND_WORK_QUEUE_URL = queueUrl;
      }
      // Assess: a 5xx, so Twilio retries; the message is stored, its media still to copy
      expect(first.statusCode).toBe(500);
      const customer = await customerBy(`phone=${encodeURIComponent(phone)}`);
      const [stored] = await allMessages(customer.conversationId);
      expect(stored?.attachments).toEqual([expect.objectContaining({ contentType: 'image/png', status: 'pending' })]);
      // Act: Twilio's retry of the same MMS, through the stack
      expect((await post(params)).status).toBe(200);
      // Assess: one message, its media copied
      const attachments = await waitFor(
        async () => {
          const messages = await allMessages(customer.conversationId);
          const list = (messages[0]?.attachments ?? []) as Array<Record<string, unknown>>;
          return messages.length === 1 && list.every((a) => a.status !== 'pending') ? list : false;
        },
        { timeoutMs: 20_000 },
      );
      expectStoredPng(attachments[0]);
    });

    it('follows a redirect within MEDIA_HOSTS and stores what it leads to', async () => {
      const tok = token();
      const attachments = await mmsAttachments([redirect(media, `${cdn.baseUrl}/media/ok.png?t=${tok}`)]);
      expectStoredPng(attachments[0]);
      expect(askedFor(media, tok)).toHaveLength(1);
      expect(askedFor(cdn, tok)).toEqual([{ path: '/media/ok.png', search: `t=${tok}` }]);
    });

    it('marks the attachment failed when a redirect leads outside MEDIA_HOSTS, at any hop, and never asks that host', async () => {
      const tok = token();
      const outsideUrl = `${outsideBase}/media/ok.png?t=${tok}`;
      const attachments = await mmsAttachments([
        redirect(media, outsideUrl), // the first hop leaves MEDIA_HOSTS
        redirect(media, redirect(cdn, outsideUrl)), // the second one does, after an allowed first
        redirect(media, `http://api.twilio.com/2010-04-01/Accounts/AC/Messages/MM/Media/ME?t=${tok}`), // an allowed host, but plain http
      ]);
      expect(attachments.map((a) => a.status)).toEqual(['failed', 'failed', 'failed']);
      expect(attachments.every((a) => a.storageKey === undefined)).toBe(true);
      expect(askedFor(media, tok)).toHaveLength(3);
      expect(askedFor(cdn, tok)).toHaveLength(1);
      expect(askedFor(outside, tok)).toEqual([]);
    });

    it('gives up on a redirect loop after a few redirects: failed, not retried', async () => {
      const tok = token();
      const { MAX_MEDIA_REDIRECTS } = await import('#shared/ingest/fetch-media.ts');
      const attachments = await mmsAttachments([`${media.baseUrl}/media/loop?t=${tok}`]);
      expect(attachments[0]).toMatchObject({ status: 'failed' });
      expect(askedFor(media, tok)).toHaveLength(MAX_MEDIA_REDIRECTS + 1);
    });

    it('keeps media pending and retries while the media host refuses our credentials (401), and stores it once they work', async () => {
      const { getMessage } = await import('#shared/data/conversation-store.ts');
      const { fetchMedia } = await import('#shared/ingest/fetch-media.ts');
      const { conversationId, messageId } = await messageWithPendingMedia(`${media.baseUrl}/media/locked.png`);
      locked = true;
      // The job fails (the queue retries it, then keeps it in the DLQ), the attachment stays pending.
      await expect(fetchMedia({ type: 'fetch-media', conversationId, messageId })).rejects.toThrow('media answered 401');
      expect((await getMessage(conversationId, messageId))?.attachments?.[0]).toMatchObject({ status: 'pending' });
      // The API key is fixed: the retry (or a redrive) stores it.
      locked = false;
      await fetchMedia({ type: 'fetch-media', conversationId, messageId });
      expectStoredPng((await getMessage(conversationId, messageId))?.attachments?.[0]);
    });

    it('marks media failed when the pre-signed CDN hop answers 403 (S3’s “no such object”), not retried', async () => {
      const attachments = await mmsAttachments([redirect(media, `${cdn.baseUrl}/media/forbidden.png`)]);
      expect(attachments[0]).toMatchObject({ status: 'failed' });
    });

    it('sends the Twilio credentials to the media URL’s own origin only, never to the host a redirect leads to', async () => {
      // The test stack runs without a Twilio account SID (no credentials at all), so the use case runs
      // here, against the stack's table and blob store, with an account SID set and `localhost` allowed.
      const saved = { TWILIO_API_KEY_SID: process.env.TWILIO_API_KEY_SID, TWILIO_API_KEY_SECRET: process.env.TWILIO_API_KEY_SECRET, MEDIA_HOSTS: process.env.MEDIA_HOSTS };
      const keySid = `SK${randomBytes(16).toString('hex')}`;
      process.env.TWILIO_API_KEY_SID = keySid;
      process.env.TWILIO_API_KEY_SECRET = 'api-key-secret-under-test';
      process.env.MEDIA_HOSTS = '127.0.0.1,localhost';
      try {
        const { getMessage } = await import('#shared/data/conversation-store.ts');
        const { fetchMedia } = await import('#shared/ingest/fetch-media.ts');
        const tok = token();
        // Twilio-like: the API host redirects on itself, then to a pre-signed URL on another host.
        const { conversationId, messageId } = await messageWithPendingMedia(redirect(media, redirect(media, `${outsideBase}/media/ok.png?t=${tok}`)));

        await fetchMedia({ type: 'fetch-media', conversationId, messageId });

        // The API key, never the account's Auth Token.
        const basic = `Basic ${Buffer.from(`${keySid}:api-key-secret-under-test`).toString('base64')}`;
        expect(askedFor(media, tok).map((r) => r.authorization)).toEqual([basic, basic]);
        expect(askedFor(outside, tok)).toEqual([{ path: '/media/ok.png', search: `t=${tok}` }]);
        expectStoredPng((await getMessage(conversationId, messageId))?.attachments?.[0]);
      } finally {
        for (const [name, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[name];
          else process.env[name] = value;
        }
      }
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
        await expectError(huge, 413);
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
