import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, inject, it } from 'vitest';
import fc from 'fast-check';
import { applyMutations, bodyMutation, encodeForm, fieldMutation, FORM_MARKERS, randomFormBody, twilioSignature, twilioSigning } from '#test/helpers/hostile.ts';
import { baseUrl, postTwilioBody, postTwilioForm, signSendgridEvent, stackEnv } from '#test/helpers/index.ts';
import { expectNothingWritten, sid, twilioOutcome } from './support.ts';
import { errorOf, jsonOf, messageIn, newCustomer, send, waitForStatus, type Json } from '../model/outbound-support.ts';

const TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';

/** A message the local stack has sent (through the outbox), as the thread shows it. */
async function sentMessage(channel: 'sms' | 'voice' | 'email', customer?: Awaited<ReturnType<typeof newCustomer>>) {
  const c = customer ?? (await newCustomer());
  const body = channel === 'email' ? { channel, body: 'Your ticket is resolved.', subject: 'Ticket 42' } : { channel, body: 'Your ticket is resolved.' };
  const { messageId } = await jsonOf<{ messageId: string }>(await send(c.conversationId, body), 202);
  const message = await waitForStatus(c.conversationId, messageId, 'sent');
  return { customer: c, conversationId: c.conversationId, messageId, providerMessageId: message.providerMessageId as string };
}

const statusPath = (conversationId: string, messageId: string) => `/webhooks/twilio/status?conversationId=${conversationId}&messageId=${messageId}`;

function twilioStatus(path: string, params: Record<string, string>, options: { signature?: string; signedUrl?: string } = {}) {
  return postTwilioForm(baseUrl(), path, params, { authToken: stackEnv().TWILIO_AUTH_TOKEN, ...options });
}

async function expectTwiml(res: Response): Promise<void> {
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/xml');
  expect(await res.text()).toBe(TWIML);
}

describe('Twilio status callbacks', () => {
  it('moves an SMS forward to delivered; a late sent or undelivered never moves it back', async () => {
    // Prepare
    const { conversationId, messageId, providerMessageId } = await sentMessage('sms');
    const path = statusPath(conversationId, messageId);
    // Act + Assess
    await expectTwiml(await twilioStatus(path, { MessageSid: providerMessageId, MessageStatus: 'delivered' }));
    expect(await messageIn(conversationId, messageId)).toMatchObject({ status: 'delivered' });
    await expectTwiml(await twilioStatus(path, { MessageSid: providerMessageId, MessageStatus: 'sent' }));
    await expectTwiml(await twilioStatus(path, { MessageSid: providerMessageId, MessageStatus: 'undelivered', ErrorCode: '30003' }));
    const message = await messageIn(conversationId, messageId);
    expect(message).toMatchObject({ status: 'delivered' });
    expect(message!.failureReason).toBeUndefined();
  });

  it('records undelivered and failed with Twilio’s error code; in-between statuses of a sent message change nothing', async () => {
    const customer = await newCustomer();
    const a = await sentMessage('sms', customer);
    const b = await sentMessage('sms', customer);
    for (const status of ['queued', 'accepted', 'sending']) {
      await expectTwiml(await twilioStatus(statusPath(a.conversationId, a.messageId), { MessageSid: a.providerMessageId, MessageStatus: status }));
    }
    expect(await messageIn(a.conversationId, a.messageId)).toMatchObject({ status: 'sent' });
    await expectTwiml(await twilioStatus(statusPath(a.conversationId, a.messageId), { MessageSid: a.providerMessageId, MessageStatus: 'undelivered', ErrorCode: '30003' }));
    await expectTwiml(await twilioStatus(statusPath(b.conversationId, b.messageId), { MessageSid: b.providerMessageId, MessageStatus: 'failed', ErrorCode: '21610' }));
    expect(await messageIn(a.conversationId, a.messageId)).toMatchObject({ status: 'undelivered', failureReason: 'twilio:30003' });
    expect(await messageIn(b.conversationId, b.messageId)).toMatchObject({ status: 'failed', failureReason: 'twilio:21610' });
  });

  it('maps call statuses: completed is delivered, no-answer is undelivered', async () => {
    const customer = await newCustomer();
    const answered = await sentMessage('voice', customer);
    const missed = await sentMessage('voice', customer);
    await expectTwiml(await twilioStatus(statusPath(answered.conversationId, answered.messageId), { CallSid: answered.providerMessageId, CallStatus: 'in-progress' }));
    expect(await messageIn(answered.conversationId, answered.messageId)).toMatchObject({ status: 'sent' });
    await expectTwiml(await twilioStatus(statusPath(answered.conversationId, answered.messageId), { CallSid: answered.providerMessageId, CallStatus: 'completed' }));
    await expectTwiml(await twilioStatus(statusPath(missed.conversationId, missed.messageId), { CallSid: missed.providerMessageId, CallStatus: 'no-answer' }));
    expect(await messageIn(answered.conversationId, answered.messageId)).toMatchObject({ status: 'delivered' });
    expect(await messageIn(missed.conversationId, missed.messageId)).toMatchObject({ status: 'undelivered', failureReason: 'twilio:no-answer' });
  });

  it('ignores a callback whose MessageSid is not the one the message was sent under, and one for an unknown message', async () => {
    const { conversationId, messageId } = await sentMessage('sms');
    await expectNothingWritten(async () => {
      await expectTwiml(await twilioStatus(statusPath(conversationId, messageId), { MessageSid: 'SM00000000000000000000000000000000', MessageStatus: 'delivered' }));
      await expectTwiml(await twilioStatus(statusPath(conversationId, 'msg_00000000000000000000000000000000'), { MessageSid: 'SM00000000000000000000000000000000', MessageStatus: 'delivered' }));
    });
    expect(await messageIn(conversationId, messageId)).toMatchObject({ status: 'sent' });
  });

  it('refuses forged callbacks with 403 and changes nothing: no signature, a wrong one, one for another message', async () => {
    const { conversationId, messageId, providerMessageId } = await sentMessage('sms');
    const other = await sentMessage('sms');
    const params = { MessageSid: providerMessageId, MessageStatus: 'failed', ErrorCode: '30008' };
    await expectNothingWritten(async () => {
      await errorOf(await twilioStatus(statusPath(conversationId, messageId), params, { signature: '' }), 403);
      await errorOf(await twilioStatus(statusPath(conversationId, messageId), params, { signature: 'bm90IGEgc2lnbmF0dXJl' }), 403);
      // Signed for the other message's URL, replayed against this one.
      await errorOf(
        await twilioStatus(statusPath(conversationId, messageId), params, { signedUrl: `${stackEnv().PUBLIC_BASE_URL}${statusPath(other.conversationId, other.messageId)}` }),
        403,
      );
    });
    expect(await messageIn(conversationId, messageId)).toMatchObject({ status: 'sent' });
  });

  it('random and mutated callbacks, signed or not, answer TwiML or a 4xx JSON error, never a 5xx; none adds an item and a refused one leaves the message as it was (property)', async () => {
    // Prepare: a message sent under a provider id, and a valid callback for it.
    const env = stackEnv();
    const { conversationId, messageId, providerMessageId } = await sentMessage('sms');
    const valid = {
      AccountSid: sid('AC'),
      ApiVersion: '2010-04-01',
      MessageSid: providerMessageId,
      MessageStatus: 'sent',
      SmsSid: providerMessageId,
      SmsStatus: 'sent',
      From: '+16285550000',
      To: '+16285550199',
    };
    const plausible = {
      MessageSid: [providerMessageId, sid('SM'), 'SM', 'a'.repeat(65), 'SM 1'],
      MessageStatus: ['queued', 'accepted', 'sending', 'sent', 'delivered', 'read', 'undelivered', 'failed', 'canceled', 'scheduled', 'DELIVERED', 'in-progress', ''],
      ErrorCode: ['30003', '21610', '', 'x'.repeat(17)],
      CallSid: [providerMessageId, sid('CA'), ''],
      CallStatus: ['completed', 'busy', 'no-answer', 'failed', 'canceled', 'in-progress', 'ringing', ''],
    };
    const ids = { conversationId, messageId };
    const query = fc.oneof(
      fc.constant(ids),
      fc.constant({}),
      fc.constant({ conversationId: 'conv_00000000000000000000000000000000', messageId: 'msg_00000000000000000000000000000000' }),
      // Random pairs over the two names: our ids, other shapes, repeats.
      fc.array(
        fc.tuple(
          fc.oneof(fc.constantFrom('conversationId', 'messageId'), fc.string({ maxLength: 12 })),
          fc.oneof(fc.constantFrom(conversationId, messageId, `${conversationId},${conversationId}`, 'conv_x', ''), fc.string({ maxLength: 40 })),
        ),
        { maxLength: 4 },
      ),
    );
    const body = fc.oneof(
      { arbitrary: fieldMutation(valid, plausible).map((m) => m.body), weight: 3 },
      { arbitrary: fc.array(bodyMutation({ markers: FORM_MARKERS }), { minLength: 1, maxLength: 4 }).map((ms) => applyMutations(encodeForm(Object.entries(valid)), ms)), weight: 2 },
      { arbitrary: randomFormBody([...Object.keys(valid), ...Object.keys(plausible)]), weight: 1 },
    );
    let seen = await messageIn(conversationId, messageId);

    // Act + Assess: status callbacks only ever update a message, so no sample may add an item.
    await expectNothingWritten(async () => {
      await fc.assert(
        fc.asyncProperty(body, twilioSigning, query, async (raw, signing, q) => {
          const search = new URLSearchParams(Array.isArray(q) ? q : Object.entries(q)).toString();
          const url = `${baseUrl()}/webhooks/twilio/status${search ? `?${search}` : ''}`;
          const signature = twilioSignature(signing, url, raw, env.TWILIO_AUTH_TOKEN);
          const outcome = await twilioOutcome(await postTwilioBody(url, raw, { authToken: env.TWILIO_AUTH_TOKEN, ...(signature === undefined ? {} : { signature }) }));
          if (signing !== 'exact') expect(outcome).toBe('refused');
          if (search.includes(messageId)) {
            const now = await messageIn(conversationId, messageId);
            if (outcome === 'refused') expect(now).toEqual(seen);
            seen = now;
          }
        }),
        { numRuns: 300 },
      );
    });
  });

  it('answers 200 and changes nothing when the signed callback URL names no message of ours', async () => {
    for (const path of ['/webhooks/twilio/status', '/webhooks/twilio/status?conversationId=conv_x&messageId=msg_y']) {
      await expectNothingWritten(async () => {
        const res = await twilioStatus(path, { MessageSid: 'SM00000000000000000000000000000000', MessageStatus: 'delivered' });
        expect(res.status).toBe(200);
        expect(await res.text()).toContain('<Response></Response>');
      });
    }
  });
});

describe('SendGrid event webhook', () => {
  const privateKey = () => inject('sendgridEventPrivateKeyPem');

  function postEvents(payload: unknown, options: { key?: string; timestamp?: string; signature?: string; raw?: string } = {}) {
    const raw = options.raw ?? JSON.stringify(payload);
    const timestamp = options.timestamp ?? String(Math.floor(Date.now() / 1000));
    const signature = options.signature ?? signSendgridEvent(options.key ?? privateKey(), timestamp, raw);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (signature !== '') {
      headers['x-twilio-email-event-webhook-signature'] = signature;
      headers['x-twilio-email-event-webhook-timestamp'] = timestamp;
    }
    return fetch(`${baseUrl()}/webhooks/sendgrid/events`, { method: 'POST', headers, body: raw });
  }

  const eventFor = (m: { conversationId: string; messageId: string }, event: string, extra: Json = {}) => ({
    event,
    messageId: m.messageId,
    conversationId: m.conversationId,
    email: 'someone@example.com',
    timestamp: Math.floor(Date.now() / 1000),
    sg_event_id: `evt-${event}-${m.messageId}`,
    sg_message_id: 'filter0001.abc.0',
    ...extra,
  });

  it('moves email forward on signed events: delivered sticks, a late processed does not undo it; bounce and dropped fail with the reason', async () => {
    // Prepare
    const customer = await newCustomer();
    const delivered = await sentMessage('email', customer);
    const bounced = await sentMessage('email', customer);
    const dropped = await sentMessage('email', customer);
    // Act
    const res = await postEvents([
      eventFor(delivered, 'delivered'),
      eventFor(bounced, 'bounce', { type: 'bounce', reason: '550 unknown user' }),
      eventFor(dropped, 'dropped', { reason: 'Bounced Address' }),
      eventFor(delivered, 'open'),
    ]);
    // Assess
    expect(res.status).toBe(200);
    expect(await messageIn(delivered.conversationId, delivered.messageId)).toMatchObject({ status: 'delivered' });
    expect(await messageIn(bounced.conversationId, bounced.messageId)).toMatchObject({ status: 'failed', failureReason: 'sendgrid:bounce' });
    expect(await messageIn(dropped.conversationId, dropped.messageId)).toMatchObject({ status: 'failed', failureReason: 'sendgrid:dropped' });
    expect((await postEvents([eventFor(delivered, 'processed'), eventFor(bounced, 'delivered')])).status).toBe(200);
    expect(await messageIn(delivered.conversationId, delivered.messageId)).toMatchObject({ status: 'delivered' });
    expect(await messageIn(bounced.conversationId, bounced.messageId)).toMatchObject({ status: 'failed' });
  });

  it('opts the customer out of email on unsubscribe and spam report events; later email sends are refused, SMS still goes', async () => {
    const { customer, conversationId, messageId } = await sentMessage('email');
    expect((await postEvents([eventFor({ conversationId, messageId }, 'spamreport')])).status).toBe(200);
    expect((await errorOf(await send(conversationId, { channel: 'email', body: 'Follow-up', subject: 'Ticket 42' }), 409)).code).toBe('opted_out');
    await jsonOf(await send(customer.conversationId, { channel: 'sms', body: 'Still reachable by SMS' }), 202);
  });

  describe('an opt-out that does not name one of our messages is found by the address', () => {
    const sendEmail = (conversationId: string) => send(conversationId, { channel: 'email', body: 'Follow-up', subject: 'Ticket 42' });
    const at = () => Math.floor(Date.now() / 1000);

    it('a list-wide group unsubscribe without our custom args opts out the customer with that address (any case), email only', async () => {
      const customer = await newCustomer();
      expect((await postEvents([{ event: 'group_unsubscribe', email: `  ${customer.email!.toUpperCase()} `, timestamp: at(), asm_group_id: 7 }])).status).toBe(200);
      expect((await errorOf(await sendEmail(customer.conversationId), 409)).code).toBe('opted_out');
      await jsonOf(await send(customer.conversationId, { channel: 'sms', body: 'Still reachable by SMS' }), 202);
    });

    it('an unsubscribe carrying another system’s custom args (not our ids) still opts out by the address; their delivery events change nothing', async () => {
      const { customer, conversationId, messageId } = await sentMessage('email');
      const foreign = { messageId: '4711', conversationId: 'crm-ticket-42', email: customer.email!, timestamp: at(), sg_message_id: 'other.filter.0' };
      await expectNothingWritten(async () => {
        expect((await postEvents([{ event: 'bounce', ...foreign }, { event: 'delivered', ...foreign, messageId }])).status).toBe(200);
      });
      expect(await messageIn(conversationId, messageId)).toMatchObject({ status: 'sent' });
      expect((await postEvents([{ event: 'unsubscribe', ...foreign }])).status).toBe(200);
      expect((await errorOf(await sendEmail(conversationId), 409)).code).toBe('opted_out');
    });

    it('an unsubscribe for an address no customer has writes nothing', async () => {
      await expectNothingWritten(async () => {
        expect((await postEvents([{ event: 'unsubscribe', email: 'nobody-we-know@example.com', timestamp: at() }])).status).toBe(200);
      });
    });
  });

  it('refuses a bad or missing signature with 403 and changes nothing', async () => {
    const { conversationId, messageId } = await sentMessage('email');
    const events = [eventFor({ conversationId, messageId }, 'bounce')];
    const otherKey = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const timestamp = String(Math.floor(Date.now() / 1000));
    await expectNothingWritten(async () => {
      await errorOf(await postEvents(events, { key: otherKey }), 403);
      await errorOf(await postEvents(events, { signature: '' }), 403);
      await errorOf(await postEvents(events, { signature: 'bm90IGEgc2lnbmF0dXJl' }), 403);
      // Signed, then tampered with: another timestamp, or another body.
      await errorOf(await postEvents(events, { timestamp, signature: signSendgridEvent(privateKey(), Number(timestamp) - 1, JSON.stringify(events)) }), 403);
      await errorOf(await postEvents(events, { signature: signSendgridEvent(privateKey(), timestamp, '[]'), timestamp }), 403);
    });
    expect(await messageIn(conversationId, messageId)).toMatchObject({ status: 'sent' });
  });

  it('refuses a correctly signed request whose timestamp is over three days old, from the future or not unix seconds (a replay) with 403, and takes one a day old (a SendGrid retry)', async () => {
    // Prepare
    const { conversationId, messageId } = await sentMessage('email');
    const now = Math.floor(Date.now() / 1000);
    const signedAt = (timestamp: string) => ({ timestamp, signature: signSendgridEvent(privateKey(), timestamp, JSON.stringify([eventFor({ conversationId, messageId }, 'bounce')])) });
    // Act + Assess: nothing changes for the refused ones…
    await expectNothingWritten(async () => {
      for (const timestamp of [String(now - 3 * 24 * 3600 - 60), String(now + 3600), `${now}.5`, `${now}.0`, `${now}e0`, '-1', '1e9']) {
        const res = await postEvents([eventFor({ conversationId, messageId }, 'bounce')], signedAt(timestamp));
        expect((await errorOf(res, 403)).code, timestamp).toBe('invalid_signature');
      }
    });
    expect(await messageIn(conversationId, messageId)).toMatchObject({ status: 'sent' });
    // …and a retry signed a day ago is applied.
    expect((await postEvents([eventFor({ conversationId, messageId }, 'bounce')], signedAt(String(now - 24 * 3600)))).status).toBe(200);
    expect(await messageIn(conversationId, messageId)).toMatchObject({ status: 'failed', failureReason: 'sendgrid:bounce' });
  });

  it('answers 400 for a signed body that is not a JSON array, and 200 (ignoring them) for events of unknown messages', async () => {
    await expectNothingWritten(async () => {
      await errorOf(await postEvents({ event: 'delivered' }), 400);
      await errorOf(await postEvents(undefined, { raw: '[{"event":' }), 400);
    });
    await expectNothingWritten(async () => {
      const res = await postEvents([
        { event: 'delivered', messageId: 'msg_00000000000000000000000000000000', conversationId: 'conv_00000000000000000000000000000000' },
        { event: 'delivered' },
        'not an event',
      ]);
      expect(res.status).toBe(200);
    });
  });
});
