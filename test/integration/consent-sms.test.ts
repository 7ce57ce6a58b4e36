import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyStackEnv, baseUrl, postChat, postTwilioForm, stackEnv, staffToken, waitFor } from '#test/helpers/index.ts';
import { allMessages, expectError, expectNothingWritten, freshId, freshPhone, sid, staffGet } from './support.ts';

type Consent = {
  customerId: string;
  channels: Record<'sms' | 'email' | 'chat' | 'voice', 'opted_in' | 'opted_out'>;
  history: Array<{ subject: string; at: string; actor: string; action: string; details: { channel: string; source: string } }>;
};

const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';

/** An inbound SMS, signed as Twilio signs it. */
function sms(from: string, body: string, extra: Record<string, string> = {}): Promise<Response> {
  const params = { MessageSid: sid('SM'), AccountSid: sid('AC'), From: from, To: '+16285550000', Body: body, NumMedia: '0', ...extra };
  return postTwilioForm(baseUrl(), '/webhooks/twilio/sms', params, { authToken: stackEnv().TWILIO_AUTH_TOKEN });
}

/** A staff call over HTTP with a JSON body. */
async function call(method: 'GET' | 'POST', path: string, as: { sub: string; roles: string[] }, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${await staffToken(as.sub, as.roles)}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${baseUrl()}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
}

async function consentOf(customerId: string): Promise<Consent> {
  const res = await staffGet(`/customers/${customerId}/consent`);
  expect(res.status, `GET /customers/${customerId}/consent`).toBe(200);
  return (await res.json()) as Consent;
}

/** A customer known by chat, phone and email (the chat backend vouches for both), as most real ones are. */
async function customerWithPhoneAndEmail(): Promise<{ customerId: string; conversationId: string; phone: string; email: string }> {
  const phone = freshPhone();
  const email = `${freshId('jo')}@example.com`;
  const res = await postChat(baseUrl(), { messageId: freshId('m'), userId: freshId('user'), text: 'hello', sentAt: new Date().toISOString(), phone, email }, { secret: stackEnv().CHAT_WEBHOOK_SECRET });
  expect(res.status).toBe(200);
  const { conversationId } = (await res.json()) as { conversationId: string };
  return { customerId: `cus_${conversationId.slice('conv_'.length)}`, conversationId, phone, email };
}

/** A template with SMS and email content: written and submitted by an editor, approved by someone else. */
async function approvedTemplate(): Promise<string> {
  const editor = { sub: freshId('editor'), roles: ['editor'] };
  const created = await call('POST', '/templates', editor, {
    name: 'Appointment reminder',
    variables: [{ name: 'first_name', required: true }],
    content: { sms: { body: 'Hi {{first_name}}, see you tomorrow.' }, email: { subject: 'Your appointment', text: 'Hi {{first_name}}, see you tomorrow.' } },
  });
  expect(created.status, 'POST /templates').toBe(201);
  const { templateId } = (await created.json()) as { templateId: string };
  expect((await call('POST', `/templates/${templateId}/versions/1/submit`, editor)).status, 'submit').toBe(200);
  expect((await call('POST', `/templates/${templateId}/versions/1/approve`, { sub: freshId('approver'), roles: ['approver'] })).status, 'approve').toBe(200);
  return templateId;
}

const agent = () => ({ sub: freshId('agent'), roles: ['agent'] });

type OutboxEntry = { messageId: string; to: string; body: string; at: string; headers?: Record<string, string> };

/**
 * The local outbox's record of a message, once the sender has delivered it. Tests wait for their sends
 * to land, so no delivery is still writing while a later test counts the table.
 */
async function delivered(messageId: string): Promise<OutboxEntry> {
  return waitFor(
    async () => {
      const outbox = (await (await fetch(`${baseUrl()}/dev/outbox?limit=500`)).json()) as { items: OutboxEntry[] };
      return outbox.items.find((e) => e.messageId === messageId) ?? false;
    },
    { timeoutMs: 15_000 },
  );
}

describe('SMS consent keywords and the consent ledger', () => {
  it('STOP opts the customer out of SMS only; the STOP stays in the thread and the history records who, how and when', async () => {
    // Prepare
    const customer = await customerWithPhoneAndEmail();
    const before = Date.now();
    // Act
    const res = await sms(customer.phone, 'STOP');
    // Assess
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/xml');
    expect(await res.text()).toBe(EMPTY_TWIML);
    const consent = await consentOf(customer.customerId);
    expect(consent.customerId).toBe(customer.customerId);
    expect(consent.channels).toEqual({ sms: 'opted_out', email: 'opted_in', chat: 'opted_in', voice: 'opted_in' });
    expect(consent.history).toHaveLength(1);
    expect(consent.history[0]).toMatchObject({ subject: `CUST#${customer.customerId}`, action: 'opted_out', actor: 'customer', details: { channel: 'sms', source: 'sms:keyword' } });
    expect(Date.parse(consent.history[0]!.at)).toBeGreaterThanOrEqual(before - 1000);
    const thread = await allMessages(customer.conversationId);
    expect(thread.map((m) => [m.channel, m.direction, m.body])).toContainEqual(['sms', 'inbound', 'STOP']);
  });

  it('refuses a template send on SMS after STOP with 409 and queues nothing, while email still goes out', async () => {
    // Prepare
    const customer = await customerWithPhoneAndEmail();
    const templateId = await approvedTemplate();
    expect((await sms(customer.phone, ' stop ')).status).toBe(200);
    const path = `/conversations/${customer.conversationId}/messages`;
    // Act / Assess: SMS refused, nothing written
    await expectNothingWritten(async () => {
      const res = await call('POST', path, agent(), { channel: 'sms', templateId, variables: { first_name: 'Jo' } });
      await expectError(res.clone(), 409);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('opted_out');
    });
    expect((await allMessages(customer.conversationId)).filter((m) => m.direction === 'outbound')).toEqual([]);
    // Act / Assess: email accepted and delivered (to the local outbox), with a one-click unsubscribe link
    const email = await call('POST', path, agent(), { channel: 'email', templateId, variables: { first_name: 'Jo' } });
    expect(email.status).toBe(202);
    const { messageId } = (await email.json()) as { messageId: string };
    const entry = await delivered(messageId);
    expect(entry.to).toBe(customer.email);
    expect(entry.headers?.['List-Unsubscribe']).toMatch(new RegExp(`^<${stackEnv().PUBLIC_BASE_URL}/unsubscribe/[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+>$`));
  });

  it('START opts back in: both changes are in the history, and SMS sends are accepted again', async () => {
    // Prepare
    const customer = await customerWithPhoneAndEmail();
    const templateId = await approvedTemplate();
    expect((await sms(customer.phone, 'UNSUBSCRIBE')).status).toBe(200);
    expect((await consentOf(customer.customerId)).channels.sms).toBe('opted_out');
    // Act
    const res = await sms(customer.phone, 'Start');
    // Assess
    expect(await res.text()).toBe(EMPTY_TWIML);
    const consent = await consentOf(customer.customerId);
    expect(consent.channels.sms).toBe('opted_in');
    expect(consent.history.map((e) => [e.action, e.details.channel, e.details.source])).toEqual([
      ['opted_out', 'sms', 'sms:keyword'],
      ['opted_in', 'sms', 'sms:keyword'],
    ]);
    const send = await call('POST', `/conversations/${customer.conversationId}/messages`, agent(), { channel: 'sms', templateId, variables: { first_name: 'Jo' } });
    expect(send.status).toBe(202);
    const { messageId } = (await send.json()) as { messageId: string };
    await delivered(messageId);
  });

  it.each(['help', 'INFO'])('answers %j with the help text in TwiML (XML-escaped), stores it, and changes no consent', async (keyword) => {
    // Prepare
    const phone = freshPhone();
    const helpText = stackEnv().SMS_HELP_TEXT!;
    const escaped = helpText.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
    // Act
    const res = await sms(phone, keyword);
    // Assess
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/xml');
    expect(await res.text()).toBe(`<?xml version="1.0" encoding="UTF-8"?><Response><Message>${escaped}</Message></Response>`);
    const { customerId, conversationId } = (await (await staffGet(`/customers?phone=${encodeURIComponent(phone)}`)).json()) as { customerId: string; conversationId: string };
    // The automated reply is in the thread too, marked as automation, once even if Twilio retries.
    const thread = await allMessages(conversationId);
    expect(thread.map((m) => [m.direction, m.body])).toEqual([
      ['inbound', keyword],
      ['outbound', helpText],
    ]);
    expect(thread[1]).toMatchObject({ automated: true, status: 'sent', channel: 'sms' });
    const consent = await consentOf(customerId);
    expect(consent.channels.sms).toBe('opted_in');
    expect(consent.history).toEqual([]);
  });

  it('does not answer HELP from a customer who opted out (Twilio would block the reply), nor record a reply', async () => {
    // Prepare
    const phone = freshPhone();
    expect((await sms(phone, 'STOP')).status).toBe(200);
    // Act
    const res = await sms(phone, 'HELP');
    // Assess
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(EMPTY_TWIML);
    const { conversationId } = (await (await staffGet(`/customers?phone=${encodeURIComponent(phone)}`)).json()) as { conversationId: string };
    expect((await allMessages(conversationId)).map((m) => [m.direction, m.body])).toEqual([
      ['inbound', 'STOP'],
      ['inbound', 'HELP'],
    ]);
  });

  it('does not answer a HELP that Twilio already answered (OptOutType=HELP)', async () => {
    const res = await sms(freshPhone(), 'HELP', { OptOutType: 'HELP' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(EMPTY_TWIML);
  });

  it('follows Twilio’s OptOutType=STOP whatever the body says ("arret")', async () => {
    // Prepare
    const customer = await customerWithPhoneAndEmail();
    // Act
    const res = await sms(customer.phone, 'arret', { OptOutType: 'STOP' });
    // Assess
    expect(await res.text()).toBe(EMPTY_TWIML);
    const consent = await consentOf(customer.customerId);
    expect(consent.channels).toMatchObject({ sms: 'opted_out', email: 'opted_in' });
    expect(consent.history).toHaveLength(1);
    expect(consent.history[0]).toMatchObject({ action: 'opted_out', actor: 'customer', details: { channel: 'sms', source: 'twilio:OptOutType' } });
  });

  it('makes one change of a STOP however often it arrives (retried delivery, concurrent copies, a second STOP)', async () => {
    // Prepare
    const customer = await customerWithPhoneAndEmail();
    const params = { MessageSid: sid('SM'), AccountSid: sid('AC'), From: customer.phone, To: '+16285550000', Body: 'STOP', NumMedia: '0' };
    const post = () => postTwilioForm(baseUrl(), '/webhooks/twilio/sms', params, { authToken: stackEnv().TWILIO_AUTH_TOKEN });
    expect((await post()).status).toBe(200);
    // Act / Assess: copies of the same delivery write nothing at all
    await expectNothingWritten(async () => {
      const copies = await Promise.all(Array.from({ length: 5 }, post));
      for (const copy of copies) expect(await copy.text()).toBe(EMPTY_TWIML);
    });
    // Act: a new STOP message is stored, but changes no consent
    expect((await sms(customer.phone, 'QUIT')).status).toBe(200);
    // Assess
    const consent = await consentOf(customer.customerId);
    expect(consent.channels.sms).toBe('opted_out');
    expect(consent.history).toHaveLength(1);
    expect((await allMessages(customer.conversationId)).filter((m) => m.channel === 'sms').map((m) => m.body)).toEqual(['STOP', 'QUIT']);
  });

  describe('a keyword retried by Twilio after a later one', () => {
    let restore: () => void;
    beforeAll(() => {
      restore = applyStackEnv();
    });
    afterAll(() => restore());

    /** One delivery, signed; posting it again is Twilio's retry (same MessageSid). */
    const delivery = (from: string, body: string) => {
      const params = { MessageSid: sid('SM'), AccountSid: sid('AC'), From: from, To: '+16285550000', Body: body, NumMedia: '0' };
      return { sid: params.MessageSid, post: () => postTwilioForm(baseUrl(), '/webhooks/twilio/sms', params, { authToken: stackEnv().TWILIO_AUTH_TOKEN }) };
    };

    /** A first attempt that stored the message, then failed (5xx) before its consent write. */
    async function storedOnly(customer: { customerId: string; conversationId: string }, messageSid: string, body: string): Promise<void> {
      const { appendMessage } = await import('#shared/data/conversation-store.ts');
      const { inboundMessageId } = await import('#shared/domain/ids.ts');
      const outcome = await appendMessage({
        conversationId: customer.conversationId,
        customerId: customer.customerId,
        messageId: inboundMessageId('sms', messageSid),
        channel: 'sms',
        direction: 'inbound',
        body,
        createdAt: new Date().toISOString(),
      });
      expect(outcome).toBe('created');
    }

    it('a STOP retried after the customer texted START changes nothing: they stay opted in', async () => {
      // Prepare: STOP (stored and applied, but Twilio saw a 5xx), then START.
      const customer = await customerWithPhoneAndEmail();
      const stop = delivery(customer.phone, 'STOP');
      expect((await stop.post()).status).toBe(200);
      expect((await sms(customer.phone, 'START')).status).toBe(200);
      expect((await consentOf(customer.customerId)).channels.sms).toBe('opted_in');
      // Act: Twilio retries the STOP.
      const res = await stop.post();
      // Assess
      expect(res.status).toBe(200);
      expect(await res.text()).toBe(EMPTY_TWIML);
      const consent = await consentOf(customer.customerId);
      expect(consent.channels.sms).toBe('opted_in');
      expect(consent.history.map((e) => e.action)).toEqual(['opted_out', 'opted_in']);
      expect((await allMessages(customer.conversationId)).filter((m) => m.channel === 'sms').map((m) => m.body)).toEqual(['STOP', 'START']);
    });

    it('the retry of a STOP whose first attempt stopped before the consent write still opts out', async () => {
      // Prepare
      const customer = await customerWithPhoneAndEmail();
      const stop = delivery(customer.phone, 'STOP');
      await storedOnly(customer, stop.sid, 'STOP');
      expect((await consentOf(customer.customerId)).channels.sms).toBe('opted_in');
      // Act
      const res = await stop.post();
      // Assess
      expect(await res.text()).toBe(EMPTY_TWIML);
      const consent = await consentOf(customer.customerId);
      expect(consent.channels.sms).toBe('opted_out');
      expect(consent.history).toHaveLength(1);
      expect(consent.history[0]).toMatchObject({ action: 'opted_out', actor: 'customer', details: { channel: 'sms', source: 'sms:keyword' } });
      expect((await allMessages(customer.conversationId)).filter((m) => m.channel === 'sms').map((m) => m.body)).toEqual(['STOP']);
    });

    it('a STOP never applied, then a START that changed nothing (never opted out), then the STOP’s retry: still opted in', async () => {
      // Prepare: the START is the customer's last word, although it had nothing to change.
      const customer = await customerWithPhoneAndEmail();
      const stop = delivery(customer.phone, 'STOP');
      await storedOnly(customer, stop.sid, 'STOP');
      expect((await sms(customer.phone, 'START')).status).toBe(200);
      // Act
      expect((await stop.post()).status).toBe(200);
      // Assess
      const consent = await consentOf(customer.customerId);
      expect(consent.channels.sms).toBe('opted_in');
      expect(consent.history).toEqual([]);
    });

    it('a START retried after a later STOP leaves the customer opted out', async () => {
      const customer = await customerWithPhoneAndEmail();
      expect((await sms(customer.phone, 'STOP')).status).toBe(200);
      const start = delivery(customer.phone, 'START');
      expect((await start.post()).status).toBe(200);
      expect((await sms(customer.phone, 'QUIT')).status).toBe(200);
      expect((await start.post()).status).toBe(200);
      const consent = await consentOf(customer.customerId);
      expect(consent.channels.sms).toBe('opted_out');
      expect(consent.history.map((e) => e.action)).toEqual(['opted_out', 'opted_in', 'opted_out']);
    });
  });

  it('leaves consent alone for a message that merely mentions stopping', async () => {
    const customer = await customerWithPhoneAndEmail();
    expect(await (await sms(customer.phone, 'Please stop charging my card twice')).text()).toBe(EMPTY_TWIML);
    const consent = await consentOf(customer.customerId);
    expect(consent.channels.sms).toBe('opted_in');
    expect(consent.history).toEqual([]);
  });

  describe('GET /customers/{customerId}/consent', () => {
    it('is for agents (and admins): 401 without a token, 403 for an editor', async () => {
      const { customerId } = await customerWithPhoneAndEmail();
      await expectError(await fetch(`${baseUrl()}/customers/${customerId}/consent`), 401);
      await expectError(await staffGet(`/customers/${customerId}/consent`, ['editor']), 403);
      expect((await staffGet(`/customers/${customerId}/consent`, ['admin'])).status).toBe(200);
    });

    it.each([`cus_${'0'.repeat(32)}`, 'nope'])('answers 404 for an unknown customer (%s)', async (customerId) => {
      await expectError(await staffGet(`/customers/${customerId}/consent`), 404);
    });
  });
});
