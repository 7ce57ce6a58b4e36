import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyStackEnv, baseUrl, postChat, stackEnv, staffToken, waitFor } from '#test/helpers/index.ts';
import { unsubscribeToken } from '#shared/outbound/unsubscribe-token.ts';
import { expectError, expectNothingWritten, freshId, freshPhone, staffGet } from './support.ts';

type Consent = {
  channels: Record<'sms' | 'email' | 'chat' | 'voice', 'opted_in' | 'opted_out'>;
  history: Array<{ action: string; actor: string; details: { channel: string; source: string } }>;
};

const ONE_CLICK = 'List-Unsubscribe=One-Click';

/** What a mailbox provider sends when the reader clicks "unsubscribe" (RFC 8058 §3.2). */
function oneClick(url: string, body: string | FormData | null = ONE_CLICK, contentType: string | null = 'application/x-www-form-urlencoded'): Promise<Response> {
  return fetch(url, { method: 'POST', headers: contentType ? { 'content-type': contentType } : {}, body, redirect: 'manual' });
}

async function call(method: 'GET' | 'POST', path: string, as: { sub: string; roles: string[] }, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${await staffToken(as.sub, as.roles)}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${baseUrl()}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
}

async function consentOf(customerId: string): Promise<Consent> {
  const res = await staffGet(`/customers/${customerId}/consent`);
  expect(res.status).toBe(200);
  return (await res.json()) as Consent;
}

async function customerWithEmail(): Promise<{ customerId: string; conversationId: string }> {
  const res = await postChat(
    baseUrl(),
    { messageId: freshId('m'), userId: freshId('user'), text: 'hello', sentAt: new Date().toISOString(), email: `${freshId('jo')}@example.com`, phone: freshPhone() },
    { secret: stackEnv().CHAT_WEBHOOK_SECRET },
  );
  expect(res.status).toBe(200);
  const { conversationId } = (await res.json()) as { conversationId: string };
  return { customerId: `cus_${conversationId.slice('conv_'.length)}`, conversationId };
}

async function urlFor(customerId: string): Promise<string> {
  return `${baseUrl()}/unsubscribe/${await unsubscribeToken(customerId)}`;
}

describe('email one-click unsubscribe (RFC 8058)', () => {
  let restoreEnv: () => void;
  // The test signs tokens with the stack's UNSUBSCRIBE_SIGNING_SECRET, as the sender does.
  beforeAll(() => {
    restoreEnv = applyStackEnv();
  });
  afterAll(() => restoreEnv());

  it('unsubscribes the reader of a delivered email through its List-Unsubscribe link; email sends are then refused', async () => {
    // Prepare: an approved template emailed to the customer (through the local outbox)
    const customer = await customerWithEmail();
    const editor = { sub: freshId('editor'), roles: ['editor'] };
    const created = await call('POST', '/templates', editor, { name: 'Newsletter', variables: [], content: { email: { subject: 'News', text: 'Our news.' } } });
    const { templateId } = (await created.json()) as { templateId: string };
    expect((await call('POST', `/templates/${templateId}/versions/1/submit`, editor)).status).toBe(200);
    expect((await call('POST', `/templates/${templateId}/versions/1/approve`, { sub: freshId('approver'), roles: ['approver'] })).status).toBe(200);
    const agent = { sub: freshId('agent'), roles: ['agent'] };
    const sent = await call('POST', `/conversations/${customer.conversationId}/messages`, agent, { channel: 'email', templateId });
    expect(sent.status).toBe(202);
    const { messageId } = (await sent.json()) as { messageId: string };
    const email = await waitFor(
      async () => {
        const outbox = (await (await fetch(`${baseUrl()}/dev/outbox?limit=500`)).json()) as { items: Array<{ messageId: string; headers?: Record<string, string> }> };
        return outbox.items.find((e) => e.messageId === messageId) ?? false;
      },
      { timeoutMs: 15_000 },
    );
    expect(email.headers?.['List-Unsubscribe-Post']).toBe(ONE_CLICK);
    const link = /^<(.+)>$/.exec(email.headers?.['List-Unsubscribe'] ?? '')?.[1];
    expect(link).toBeDefined();
    // Act
    const res = await oneClick(link!.replace(stackEnv().PUBLIC_BASE_URL, baseUrl()));
    // Assess
    expect(res.status).toBe(200);
    const consent = await consentOf(customer.customerId);
    expect(consent.channels).toEqual({ sms: 'opted_in', email: 'opted_out', chat: 'opted_in', voice: 'opted_in' });
    expect(consent.history).toHaveLength(1);
    expect(consent.history[0]).toMatchObject({ action: 'opted_out', actor: 'customer', details: { channel: 'email', source: 'email:one-click' } });
    const again = await call('POST', `/conversations/${customer.conversationId}/messages`, agent, { channel: 'email', templateId });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { error: { code: string } }).error.code).toBe('opted_out');
  });

  it('accepts the multipart/form-data body RFC 8058 recommends, and a second click changes nothing', async () => {
    // Prepare
    const { customerId } = await customerWithEmail();
    const url = await urlFor(customerId);
    const form = new FormData();
    form.set('List-Unsubscribe', 'One-Click');
    // Act
    const first = await fetch(url, { method: 'POST', body: form });
    // Assess
    expect(first.status).toBe(200);
    expect((await consentOf(customerId)).channels.email).toBe('opted_out');
    // The second click changes no status and adds no audit entry (it only moves the consent item's
    // recorded request time forward, so that an older request retried later stays skipped).
    await expectNothingWritten(async () => {
      expect((await oneClick(url)).status).toBe(200);
    });
    expect((await consentOf(customerId)).channels.email).toBe('opted_out');
    expect((await consentOf(customerId)).history).toHaveLength(1);
  });

  it.each([
    ['a MAC for another customer', async (customerId: string) => `${Buffer.from(customerId).toString('base64url')}.${(await unsubscribeToken(`cus_${'f'.repeat(32)}`)).split('.')[1]}`],
    ['a tampered MAC', async (customerId: string) => `${(await unsubscribeToken(customerId)).slice(0, -2)}${(await unsubscribeToken(customerId)).endsWith('AA') ? 'BA' : 'AA'}`],
    ['no MAC', async (customerId: string) => Buffer.from(customerId).toString('base64url')],
    ['garbage', async () => 'not-a-token'],
  ])('refuses %s with 403 and writes nothing', async (_name, forge) => {
    // Prepare
    const { customerId } = await customerWithEmail();
    const token = await forge(customerId);
    // Act / Assess
    await expectNothingWritten(async () => expectError(await oneClick(`${baseUrl()}/unsubscribe/${token}`), 403));
    expect((await consentOf(customerId)).channels.email).toBe('opted_in');
  });

  it.each([
    ['an empty body', null, null],
    ['another value', 'List-Unsubscribe=Yes', 'application/x-www-form-urlencoded'],
    ['another field', 'unsubscribe=1', 'application/x-www-form-urlencoded'],
    ['a JSON body', JSON.stringify({ 'List-Unsubscribe': 'One-Click' }), 'application/json'],
    ['a text body', ONE_CLICK, 'text/plain'],
  ])('refuses %s with 400 and writes nothing (a link prefetch never unsubscribes)', async (_name, body, contentType) => {
    // Prepare
    const { customerId } = await customerWithEmail();
    const url = await urlFor(customerId);
    // Act / Assess
    await expectNothingWritten(async () => expectError(await oneClick(url, body, contentType), 400));
    expect((await consentOf(customerId)).channels.email).toBe('opted_in');
  });

  describe('the link opened in a browser (GET)', () => {
    it('answers a page whose one button posts the one-click body back to the same URL, and unsubscribes nobody', async () => {
      // Prepare
      const { customerId } = await customerWithEmail();
      const url = await urlFor(customerId);
      // Act: a browser (or a link scanner) opens the link
      let page: Response | undefined;
      await expectNothingWritten(async () => {
        page = await fetch(url, { headers: { accept: 'text/html' } });
      });
      // Assess: a page, with the token kept out of referrers, caches and frames
      expect(page!.status).toBe(200);
      expect(page!.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page!.headers.get('referrer-policy')).toBe('no-referrer');
      expect(page!.headers.get('cache-control')).toBe('no-store');
      expect(page!.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      const html = await page!.text();
      expect(html).toMatch(/<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">/);
      expect(html).not.toContain(customerId);
      expect((await consentOf(customerId)).channels.email).toBe('opted_in');

      // Act: the customer presses the button (the browser posts the form to the page's own URL)
      const pressed = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html,application/xhtml+xml' }, body: ONE_CLICK });

      // Assess: a page saying so, and the customer opted out of email only
      expect(pressed.status).toBe(200);
      expect(pressed.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(await pressed.text()).toContain('You are unsubscribed');
      const consent = await consentOf(customerId);
      expect(consent.channels).toMatchObject({ email: 'opted_out', sms: 'opted_in' });
      expect(consent.history).toEqual([expect.objectContaining({ action: 'opted_out', actor: 'customer', details: { channel: 'email', source: 'email:one-click' } })]);
    });

    it('refuses a forged or tampered token with 403, writing nothing', async () => {
      const { customerId } = await customerWithEmail();
      const genuine = await unsubscribeToken(customerId);
      for (const token of ['not-a-token', `${genuine.slice(0, -2)}${genuine.endsWith('AA') ? 'BA' : 'AA'}`]) {
        await expectNothingWritten(async () => expectError(await fetch(`${baseUrl()}/unsubscribe/${token}`), 403));
      }
    });
  });

  it('answers 404 for a genuine token of a customer that does not exist, writing nothing', async () => {
    const url = await urlFor(`cus_${'0'.repeat(32)}`);
    await expectNothingWritten(async () => expectError(await oneClick(url), 404));
  });
});
