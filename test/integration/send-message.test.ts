import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { applyStackEnv, baseUrl, basicAuth, postChat, postTwilioForm, stackEnv, staffToken, waitFor } from '#test/helpers/index.ts';
import { buildMultipart, sampleEmail } from '../unit/email/sendgrid-multipart.ts';
import { expectNothingWritten, sid } from './support.ts';
import {
  agent,
  approvedTemplate,
  approver,
  call,
  createTemplate,
  editor,
  errorOf,
  jsonOf,
  messageIn,
  newCustomer,
  outbox,
  send,
  smsDraft,
  thread,
  type Json,
  waitForStatus,
} from '../model/outbound-support.ts';

type Queued = { messageId: string; conversationId: string; status: string; sms?: { encoding: string; segments: number; characters: number } };

/** After a refused send: the thread gained nothing and, once the sender had time to act, the outbox neither. */
async function expectNothingQueued(conversationId: string, act: () => Promise<void>): Promise<void> {
  const [threadBefore, outboxBefore] = [await thread(conversationId), await outbox(conversationId)];
  await act();
  await sleep(1500);
  expect(await thread(conversationId)).toEqual(threadBefore);
  expect(await outbox(conversationId)).toEqual(outboxBefore);
}

/** POSTs `body` (bytes or text, as is) as an agent, with `contentType` (none when `undefined`). */
async function rawSend(conversationId: string, body: string | Uint8Array, contentType: string | undefined): Promise<Response> {
  const headers: Record<string, string> = { authorization: `Bearer ${await staffToken(agent().sub, ['agent'])}` };
  if (contentType !== undefined) headers['content-type'] = contentType;
  return fetch(`${baseUrl()}/conversations/${conversationId}/messages`, { method: 'POST', headers, body });
}

/** An inbound email (subject `Order 1234`) stored in the customer's thread, as ingest would, for a reply to answer. */
async function storeInboundEmail(customer: { conversationId: string; customerId: string }, email: { messageId: string; references: string[] }): Promise<void> {
  const restore = applyStackEnv();
  try {
    const { appendMessage } = await import('#shared/data/conversation-store.ts');
    await appendMessage({
      conversationId: customer.conversationId,
      customerId: customer.customerId,
      messageId: `msg_${randomBytes(16).toString('hex')}`,
      channel: 'email',
      direction: 'inbound',
      body: 'Where is my order?',
      subject: 'Order 1234',
      createdAt: new Date().toISOString(),
      email,
    });
  } finally {
    restore();
  }
}

/** A refused send: nothing in the table, the thread or the outbox changed. */
const expectRefusedCleanly = (conversationId: string, act: () => Promise<void>) => expectNothingWritten(() => expectNothingQueued(conversationId, act));

describe('POST /conversations/{id}/messages with a template', () => {
  it('queues an approved template (202 queued, SMS segments), writes it into the thread, and the sender delivers it once', async () => {
    // Prepare
    const customer = await newCustomer();
    const template = await approvedTemplate();
    const sender = agent();
    // Act
    const res = await send(customer.conversationId, { channel: 'sms', templateId: template.templateId, variables: { name: 'Ana' } }, sender);
    // Assess
    const queued = await jsonOf<Queued>(res, 202);
    expect(queued).toMatchObject({ conversationId: customer.conversationId, status: 'queued', sms: { encoding: 'GSM-7', segments: 1 } });
    expect(queued.messageId).toMatch(/^msg_[0-9a-f]{32}$/);
    const stored = await messageIn(customer.conversationId, queued.messageId);
    expect(stored).toMatchObject({
      direction: 'outbound',
      channel: 'sms',
      templateId: template.templateId,
      templateVersion: 1,
      contentHash: template.contentHash,
      automated: true,
      sentBy: sender.sub,
      to: customer.phone,
    });
    expect(stored!.body).toMatch(/Hi Ana, service is restored\.$/);
    expect(['queued', 'sending', 'sent']).toContain(stored!.status);

    const sent = await waitForStatus(customer.conversationId, queued.messageId, 'sent');
    expect(sent).toMatchObject({ provider: 'outbox', providerMessageId: expect.any(String) });
    const entries = await waitFor(async () => {
      const found = (await outbox(customer.conversationId)).filter((e) => e.messageId === queued.messageId);
      return found.length > 0 && found;
    });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ channel: 'sms', to: customer.phone, body: stored!.body });
  });

  it('sends the latest approved version when no version is given, and the version asked for when one is', async () => {
    // Prepare: v1 approved, v2 approved, v3 a draft.
    const template = await approvedTemplate();
    const { author } = template;
    const decider = approver();
    for (const version of [2, 3]) {
      const draft = smsDraft(`v${version}`);
      await jsonOf(await call('POST', `/templates/${template.templateId}/versions`, author, draft), 201);
    }
    await jsonOf(await call('POST', `/templates/${template.templateId}/versions/2/submit`, author), 200);
    await jsonOf(await call('POST', `/templates/${template.templateId}/versions/2/approve`, decider), 200);
    const customer = await newCustomer();
    // Act
    const latest = await jsonOf<Queued>(await send(customer.conversationId, { channel: 'chat', templateId: template.templateId, variables: { name: 'Bo' } }), 202);
    const first = await jsonOf<Queued>(await send(customer.conversationId, { channel: 'chat', templateId: template.templateId, version: 1, variables: { name: 'Bo' } }), 202);
    // Assess
    expect(await messageIn(customer.conversationId, latest.messageId)).toMatchObject({ templateVersion: 2, body: '[v2] Hi Bo, service is restored.' });
    expect(await messageIn(customer.conversationId, first.messageId)).toMatchObject({ templateVersion: 1 });
    expect(latest.sms).toBeUndefined();
  });

  it('refuses a version that is not approved (draft, pending, rejected, revoked) with 409 not_approved, and queues nothing', async () => {
    // Prepare: one template with a version in each state.
    const author = editor();
    const decider = approver();
    const { templateId } = await createTemplate(author, smsDraft('v1')); // v1 draft
    const post = (path: string, as = author, body?: unknown) => call('POST', `/templates/${templateId}/versions${path}`, as, body);
    for (const v of [2, 3, 4]) await jsonOf(await post('', author, smsDraft(`v${v}`)), 201);
    for (const v of [2, 3, 4]) await jsonOf(await post(`/${v}/submit`), 200); // v2 pending
    await jsonOf(await post('/3/reject', decider, { reason: 'Wrong tone' }), 200); // v3 rejected
    await jsonOf(await post('/4/approve', decider), 200);
    await jsonOf(await post('/4/revoke', decider, { reason: 'Outdated' }), 200); // v4 revoked
    const customer = await newCustomer();
    // Act + Assess
    await expectNothingQueued(customer.conversationId, async () => {
      for (const version of [1, 2, 3, 4]) {
        const error = await errorOf(await send(customer.conversationId, { channel: 'sms', templateId, version, variables: { name: 'Cy' } }), 409);
        expect(error.code, `version ${version}`).toBe('not_approved');
      }
      // No version given and none approved: the same.
      expect((await errorOf(await send(customer.conversationId, { channel: 'sms', templateId, variables: { name: 'Cy' } }), 409)).code).toBe('not_approved');
    });
  });

  it('answers 422 naming a missing required variable, and queues nothing', async () => {
    const customer = await newCustomer();
    const { templateId } = await approvedTemplate();
    await expectNothingQueued(customer.conversationId, async () => {
      const error = await errorOf(await send(customer.conversationId, { channel: 'sms', templateId, variables: { eta: ' by noon' } }), 422);
      expect(error.code).toBe('missing_variable');
      expect(error.message).toContain('name');
    });
  });

  it('answers 422 variable_too_long, queueing nothing, for a value longer than the template lets an agent write', async () => {
    const customer = await newCustomer();
    const { templateId } = await approvedTemplate();
    await expectNothingQueued(customer.conversationId, async () => {
      const error = await errorOf(await send(customer.conversationId, { channel: 'sms', templateId, variables: { name: `Cy. Ignore the above and visit https://evil.example ${'x'.repeat(200)}` } }), 422);
      expect(error.code).toBe('variable_too_long');
      expect(error.message).toContain('name');
    });
  });

  it('answers 409 opted_out for a channel the customer opted out of, and still sends on the others', async () => {
    // Prepare
    const customer = await newCustomer();
    const { templateId } = await approvedTemplate();
    // The customer texts STOP
    const stop = { MessageSid: sid('SM'), From: customer.phone!, To: '+16285550000', Body: 'STOP', NumMedia: '0' };
    expect((await postTwilioForm(baseUrl(), '/webhooks/twilio/sms', stop, { authToken: stackEnv().TWILIO_AUTH_TOKEN })).status).toBe(200);
    // Act + Assess
    await expectNothingQueued(customer.conversationId, async () => {
      expect((await errorOf(await send(customer.conversationId, { channel: 'sms', templateId, variables: { name: 'Di' } }), 409)).code).toBe('opted_out');
      expect((await errorOf(await send(customer.conversationId, { channel: 'sms', body: 'Are you there?' }), 409)).code).toBe('opted_out');
    });
    await jsonOf(await send(customer.conversationId, { channel: 'chat', templateId, variables: { name: 'Di' } }), 202);
  });
});

describe('POST /conversations/{id}/messages with an agent’s own words', () => {
  it('sends the body without any template or approval, marked as not automated', async () => {
    // Prepare
    const customer = await newCustomer();
    const sender = agent();
    const body = `Your refund was issued today ${randomBytes(3).toString('hex')} — it takes 3–5 days.`;
    // Act
    const queued = await jsonOf<Queued>(await send(customer.conversationId, { channel: 'sms', body }, sender), 202);
    // Assess
    expect(queued.sms).toMatchObject({ encoding: 'UCS-2', segments: 1 });
    const sent = await waitForStatus(customer.conversationId, queued.messageId, 'sent');
    expect(sent).toMatchObject({ direction: 'outbound', body, automated: false, sentBy: sender.sub });
    expect(sent.templateId).toBeUndefined();
    const [entry] = await waitFor(async () => {
      const found = await outbox(customer.conversationId);
      return found.length > 0 && found;
    });
    expect(entry).toMatchObject({ messageId: queued.messageId, channel: 'sms', to: customer.phone, body });
  });

  it('sends email with a List-Unsubscribe header, answering the customer’s latest email (In-Reply-To, References, Re: subject)', async () => {
    // Prepare: an inbound email in the thread.
    const customer = await newCustomer();
    await storeInboundEmail(customer, { messageId: '<m2@mail.example>', references: ['<m1@mail.example>'] });
    // Act
    const queued = await jsonOf<Queued>(await send(customer.conversationId, { channel: 'email', body: 'It ships today.' }), 202);
    // Assess
    const sent = await waitForStatus(customer.conversationId, queued.messageId, 'sent');
    expect(sent).toMatchObject({ subject: 'Re: Order 1234', email: { inReplyTo: '<m2@mail.example>', references: ['<m1@mail.example>', '<m2@mail.example>'] } });
    const entry = (await outbox(customer.conversationId)).find((e) => e.messageId === queued.messageId);
    expect(entry).toMatchObject({ channel: 'email', to: customer.email, subject: 'Re: Order 1234', body: 'It ships today.' });
    expect(entry!.headers).toMatchObject({ 'In-Reply-To': '<m2@mail.example>', References: '<m1@mail.example> <m2@mail.example>' });
    expect(entry!.headers!['List-Unsubscribe']).toMatch(/^<http.*\/unsubscribe\/.+>$/);
  });

  it('keeps the thread’s first id in References when answering a long thread (the first and the latest 19)', async () => {
    // Prepare: an inbound email whose References already hold 30 ids.
    const customer = await newCustomer();
    const older = Array.from({ length: 30 }, (_, i) => `<r${i}@mail.example>`);
    await storeInboundEmail(customer, { messageId: '<latest@mail.example>', references: older });
    // Act
    const queued = await jsonOf<Queued>(await send(customer.conversationId, { channel: 'email', body: 'It ships today.' }), 202);
    // Assess
    const sent = await waitForStatus(customer.conversationId, queued.messageId, 'sent');
    expect((sent.email as { references: string[] }).references).toEqual(['<r0@mail.example>', ...older.slice(-18), '<latest@mail.example>']);
  });

  it('renders email html from the approved template at send time', async () => {
    const customer = await newCustomer();
    const { templateId } = await approvedTemplate();
    const queued = await jsonOf<Queued>(await send(customer.conversationId, { channel: 'email', templateId, variables: { name: '<Ed & co>' } }), 202);
    await waitForStatus(customer.conversationId, queued.messageId, 'sent');
    const entry = (await outbox(customer.conversationId)).find((e) => e.messageId === queued.messageId);
    expect(entry).toMatchObject({ subject: expect.stringContaining('Service update'), body: 'Hi <Ed & co>, service is restored.' });
    expect(entry!.html).toBe('<p>Hi &lt;Ed &amp; co&gt;, service is restored.</p>');
  });

  it('keeps a customer’s messages in the order they were queued', async () => {
    // Prepare
    const customer = await newCustomer();
    const bodies = Array.from({ length: 6 }, (_, i) => `update ${i + 1} of 6`);
    // Act
    const ids: string[] = [];
    for (const body of bodies) ids.push((await jsonOf<Queued>(await send(customer.conversationId, { channel: 'chat', body }), 202)).messageId);
    // Assess
    const entries = await waitFor(
      async () => {
        const found = await outbox(customer.conversationId);
        return found.length === bodies.length && found;
      },
      { timeoutMs: 20_000 },
    );
    const oldestFirst = [...entries].sort((a, b) => a.at.localeCompare(b.at));
    expect(oldestFirst.map((e) => e.body)).toEqual(bodies);
    const sentAt = await Promise.all(ids.map(async (id) => (await waitForStatus(customer.conversationId, id, 'sent')).sentAt as string));
    expect([...sentAt].sort()).toEqual(sentAt);
  });
});

describe('which address a message goes to, when the customer has several of its kind', () => {
  /** A chat message of the customer's chat user that links another phone or email to them. */
  async function link(customer: { chatUserId: string }, ref: { phone?: string; email?: string }) {
    const res = await postChat(baseUrl(), { messageId: `m-${randomBytes(6).toString('hex')}`, userId: customer.chatUserId, text: 'my other contact', sentAt: new Date().toISOString(), ...ref }, { secret: stackEnv().CHAT_WEBHOOK_SECRET });
    expect(res.status).toBe(200);
  }
  const smsFrom = async (from: string, body: string) =>
    expect((await postTwilioForm(baseUrl(), '/webhooks/twilio/sms', { MessageSid: sid('SM'), From: from, To: '+16285550000', Body: body, NumMedia: '0' }, { authToken: stackEnv().TWILIO_AUTH_TOKEN })).status).toBe(200);
  const sentTo = async (conversationId: string, body: Json) => {
    const queued = await jsonOf<Queued>(await send(conversationId, body), 202);
    await waitForStatus(conversationId, queued.messageId, 'sent');
    return (await outbox(conversationId)).find((e) => e.messageId === queued.messageId)!;
  };

  it('answers an email at the address it came from, not whichever linked address sorts first', async () => {
    // Prepare: two addresses; the customer writes from the one that sorts last.
    const customer = await newCustomer();
    const other = `zz-${randomBytes(5).toString('hex')}@example.com`;
    await link(customer, { email: other });
    const tag = randomBytes(6).toString('hex');
    const { body, contentType } = buildMultipart({
      fields: sampleEmail({ from: `"Jo" <${other.toUpperCase()}>`, subject: 'Card declined', headers: `Message-ID: <${tag}@mail.example.com>\r\n` }),
    });
    const res = await fetch(`${baseUrl()}/webhooks/sendgrid/inbound`, { method: 'POST', headers: { 'content-type': contentType, authorization: basicAuth('inbound', stackEnv().SENDGRID_INBOUND_SECRET) }, body });
    expect(res.status).toBe(200);
    // Act
    const entry = await sentTo(customer.conversationId, { channel: 'email', body: 'We fixed it.' });
    // Assess
    expect(entry).toMatchObject({ to: other, subject: 'Re: Card declined' });
    expect(entry.headers).toMatchObject({ 'In-Reply-To': `<${tag}@mail.example.com>` });
    const inbound = (await thread(customer.conversationId)).find((m) => m.channel === 'email' && m.direction === 'inbound');
    expect(inbound).toMatchObject({ from: other });
  });

  it('texts the number the customer last wrote from, and follows when they write from the other one', async () => {
    // Prepare: two phones; the customer texts from the one that sorts last.
    const customer = await newCustomer();
    const first = customer.phone!;
    const second = `+1629${String(Number.parseInt(randomBytes(3).toString('hex'), 16) % 10_000_000).padStart(7, '0')}`;
    await link(customer, { phone: second });
    await smsFrom(second, 'new number, same me');
    // Act + Assess
    expect((await sentTo(customer.conversationId, { channel: 'sms', body: 'Got it.' })).to).toBe(second);
    await smsFrom(first, 'back on my old phone');
    expect((await sentTo(customer.conversationId, { channel: 'sms', body: 'Got it again.' })).to).toBe(first);
    expect((await thread(customer.conversationId)).filter((m) => m.direction === 'inbound' && m.channel === 'sms').map((m) => m.from)).toEqual([second, first]);
  });
});

describe('refused requests', () => {
  it('answers 404 for an unknown conversation, 422 no_address when the customer cannot be reached on the channel', async () => {
    await expectNothingWritten(async () => {
      await errorOf(await send(`conv_${randomBytes(16).toString('hex')}`, { channel: 'chat', body: 'hi' }), 404);
      await errorOf(await send('conv_nope', { channel: 'chat', body: 'hi' }), 404);
    });
    const chatOnly = await newCustomer({ phone: false, email: false });
    await expectRefusedCleanly(chatOnly.conversationId, async () => {
      expect((await errorOf(await send(chatOnly.conversationId, { channel: 'sms', body: 'hi' }), 422)).code).toBe('no_address');
      expect((await errorOf(await send(chatOnly.conversationId, { channel: 'email', body: 'hi', subject: 'x' }), 422)).code).toBe('no_address');
    });
  });

  it('answers 404 for a template that does not exist, with or without a version, and queues nothing', async () => {
    const customer = await newCustomer();
    const unknown = `tpl_${randomBytes(16).toString('hex')}`;
    await expectRefusedCleanly(customer.conversationId, async () => {
      await errorOf(await send(customer.conversationId, { channel: 'sms', templateId: unknown, variables: {} }), 404);
      await errorOf(await send(customer.conversationId, { channel: 'sms', templateId: unknown, version: 1, variables: {} }), 404);
    });
  });

  it('answers 400 for a malformed body, 401 without a token, 403 for a role that may not send', async () => {
    const customer = await newCustomer();
    const { templateId } = await approvedTemplate();
    await expectRefusedCleanly(customer.conversationId, async () => {
      await errorOf(await send(customer.conversationId, '{not json'), 400);
      await errorOf(await send(customer.conversationId, { channel: 'fax', body: 'hi' }), 400);
      await errorOf(await send(customer.conversationId, { channel: 'sms' }), 400);
      await errorOf(await send(customer.conversationId, { channel: 'sms', templateId, body: 'both' }), 400);
      await errorOf(await send(customer.conversationId, { channel: 'sms', templateId, variables: { name: 7 } }), 400);
      await errorOf(await call('POST', `/conversations/${customer.conversationId}/messages`, null, { channel: 'sms', body: 'hi' }), 401);
      await errorOf(await send(customer.conversationId, { channel: 'sms', body: 'hi' }, editor()), 403);
    });
  });

  it('answers 415 for a body that is not sent as application/json, and writes nothing', async () => {
    // Prepare
    const customer = await newCustomer();
    const valid = JSON.stringify({ channel: 'chat', body: 'Your card is on its way.' });
    // Act + Assess
    await expectRefusedCleanly(customer.conversationId, async () => {
      for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp']) {
        expect((await errorOf(await rawSend(customer.conversationId, valid, contentType), 415)).code, contentType).toBe('unsupported_media_type');
      }
      // No Content-Type at all (a byte body: fetch adds none).
      expect((await errorOf(await rawSend(customer.conversationId, new TextEncoder().encode(valid), undefined), 415)).code).toBe('unsupported_media_type');
    });
  });

  it('answers 413 for a body over 256 KiB, even valid JSON, and writes nothing', async () => {
    const customer = await newCustomer();
    const tooLarge = JSON.stringify({ channel: 'chat', body: 'x'.repeat(256 * 1024) });
    await expectRefusedCleanly(customer.conversationId, async () => {
      expect((await errorOf(await rawSend(customer.conversationId, tooLarge, 'application/json'), 413)).code).toBe('payload_too_large');
    });
  });

  it('answers 422 empty_body for a body of only whitespace, on every channel, and writes nothing', async () => {
    const customer = await newCustomer();
    await expectRefusedCleanly(customer.conversationId, async () => {
      for (const message of [
        { channel: 'chat', body: ' ' },
        { channel: 'sms', body: ' \t\n ' },
        { channel: 'email', body: '\r\n', subject: 'Your card' },
      ]) {
        expect((await errorOf(await send(customer.conversationId, message), 422)).code, message.channel).toBe('empty_body');
      }
    });
  });

  it('answers 422 missing_subject for an agent email with no subject (or a blank one) in a thread with no inbound email, and writes nothing', async () => {
    // Prepare: the customer wrote by chat only, so there is no email to answer.
    const customer = await newCustomer();
    expect((await thread(customer.conversationId)).filter((m) => m.channel === 'email')).toEqual([]);
    // Act + Assess
    await expectRefusedCleanly(customer.conversationId, async () => {
      expect((await errorOf(await send(customer.conversationId, { channel: 'email', body: 'Your card ships today.' }), 422)).code).toBe('missing_subject');
      expect((await errorOf(await send(customer.conversationId, { channel: 'email', body: 'Your card ships today.', subject: '   ' }), 422)).code).toBe('missing_subject');
    });
  });

  it('answers 422 channel_not_in_template for a channel the approved template has no content for, and writes nothing', async () => {
    // Prepare: an approved template with SMS content only; the customer is reachable on every channel.
    const customer = await newCustomer();
    const { content, ...draft } = smsDraft(randomBytes(4).toString('hex'));
    const { templateId } = await approvedTemplate({ ...draft, content: { sms: content.sms } });
    // Act + Assess
    await expectRefusedCleanly(customer.conversationId, async () => {
      for (const channel of ['chat', 'email', 'voice']) {
        const error = await errorOf(await send(customer.conversationId, { channel, templateId, variables: { name: 'Flo' } }), 422);
        expect(error.code, channel).toBe('channel_not_in_template');
        expect(error.message, channel).toContain(channel);
      }
    });
  });

  it('answers 404 for an unknown conversation, well-formed or not, and writes nothing', async () => {
    const unknown = `conv_${randomBytes(16).toString('hex')}`;
    await expectNothingWritten(async () => {
      for (const conversationId of [unknown, 'conv_nope', `cus_${randomBytes(16).toString('hex')}`]) {
        expect((await errorOf(await send(conversationId, { channel: 'chat', body: 'hi' }), 404)).code, conversationId).toBe('not_found');
      }
      await sleep(1500);
    });
    expect(await outbox(unknown)).toEqual([]);
  });

  it('answers 422 body_too_long for an SMS over 1600 characters, and writes and queues nothing', async () => {
    const customer = await newCustomer();
    await expectRefusedCleanly(customer.conversationId, async () => {
      expect((await errorOf(await send(customer.conversationId, { channel: 'sms', body: 'a'.repeat(1601) }), 422)).code).toBe('body_too_long');
    });
  });

  it('answers 422 body_too_long, queueing nothing, for a voice message whose TwiML would exceed Twilio’s 4000 characters (escaping counted), and queues one that fits', async () => {
    const customer = await newCustomer();
    await expectNothingWritten(async () => {
      // 3000 characters, but each of the 750 `&` becomes `&amp;`: 5250, over the limit once written as TwiML.
      const ampersands = 'A&B '.repeat(750);
      expect((await errorOf(await send(customer.conversationId, { channel: 'voice', body: ampersands }), 422)).code).toBe('body_too_long');
      expect((await errorOf(await send(customer.conversationId, { channel: 'voice', body: 'a'.repeat(4001) }), 422)).code).toBe('body_too_long');
      // Each \r is written &#xD;: 800 CRLF lines of 3 characters are 3200 characters, 6400 once escaped.
      expect((await errorOf(await send(customer.conversationId, { channel: 'voice', body: 'ab\r\n'.repeat(800) }), 422)).code).toBe('body_too_long');
    });
    expect((await send(customer.conversationId, { channel: 'voice', body: 'a'.repeat(3800) })).status).toBe(202);
  });
  it('answers 409 opted_out, queueing nothing, while a merge is under way and a customer on the way to the live one opted out (not yet copied to it)', async () => {
    // Prepare: A texted STOP, B unsubscribed from email; A was merged into B and B into C, neither merge
    // finished (neither opt-out copied on to the survivor yet).
    const [a, b, c] = [await newCustomer(), await newCustomer(), await newCustomer()];
    const restore = applyStackEnv();
    try {
      const { markCustomerMerged } = await import('#shared/data/conversation-store.ts');
      const { setConsent } = await import('#shared/data/consent-store.ts');
      const now = new Date().toISOString();
      await setConsent({ customerId: a.customerId, channel: 'sms', status: 'opted_out', source: 'sms:STOP', actor: 'customer', now });
      await setConsent({ customerId: b.customerId, channel: 'email', status: 'opted_out', source: 'email:one_click', actor: 'customer', now });
      await markCustomerMerged(a.customerId, b.customerId, now);
      await markCustomerMerged(b.customerId, c.customerId, now);
    } finally {
      restore();
    }
    // Act + Assess: through A's conversation (the thread not moved yet) and through B's.
    await expectRefusedCleanly(a.conversationId, async () => {
      expect((await errorOf(await send(a.conversationId, { channel: 'sms', body: 'Your card is on its way.' }), 409)).code).toBe('opted_out');
      expect((await errorOf(await send(a.conversationId, { channel: 'email', body: 'Your card is on its way.', subject: 'Card' }), 409)).code).toBe('opted_out');
      expect((await errorOf(await send(b.conversationId, { channel: 'email', body: 'Your card is on its way.', subject: 'Card' }), 409)).code).toBe('opted_out');
    });
    // B's own SMS consent stands: a send through B goes to C's thread, the live customer's.
    const queued = await jsonOf<Queued>(await send(b.conversationId, { channel: 'sms', body: 'Your card is on its way.' }), 202);
    expect(queued.conversationId).toBe(c.conversationId);
  });
});
