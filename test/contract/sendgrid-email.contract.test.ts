import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSendgridEmailSender, type SendgridSettings } from '#shared/adapters/providers/sendgrid-email.adapter.ts';
import { refusedUrl } from '#test/fakes/http-server.ts';
import { officialSendgridMail } from '#test/fakes/official-clients.ts';
import { startSendgridApiFake, type SendgridApiFake } from '#test/fakes/sendgrid-api.fake.ts';
import { delivery, errorText, expectConfigFault, expectPermanent, expectTransient, freshId } from './support.ts';

const FROM = 'Example Support <support@example.com>';
const UNSUBSCRIBE = 'https://support.example.com/unsubscribe/tok_abc';
const freshEmail = () => `${freshId('jane')}@example.org`;

describe('SendGrid email adapter against a local SendGrid v3 mail/send API (contract)', () => {
  let sendgrid: SendgridApiFake;
  const email = (overrides: Partial<SendgridSettings> = {}) =>
    createSendgridEmailSender({ apiKey: async () => sendgrid.apiKey, from: FROM, baseUrl: sendgrid.baseUrl, ...overrides });

  beforeAll(async () => {
    sendgrid = await startSendgridApiFake();
  });
  afterAll(() => sendgrid.close());

  it('sends one personalization to the customer with subject, text and html, custom_args and threading and unsubscribe headers; answers X-Message-Id', async () => {
    // Prepare
    const to = freshEmail();
    const message = delivery({
      channel: 'email',
      to,
      subject: 'Your refund',
      body: 'Hello Jane, your refund is on its way.',
      html: '<p>Hello Jane, your refund is on its way.</p>',
      inReplyTo: '<inbound-2@mail.example.org>',
      references: ['<inbound-1@mail.example.org>'],
      unsubscribeUrl: UNSUBSCRIBE,
    });

    // Act
    const result = await email().send(message);

    // Assess
    const received = sendgrid.requests.at(-1)!;
    expect(received.status).toBe(202);
    expect(received.contentType).toMatch(/^application\/json/);
    expect(received.body).toEqual({
      from: { email: 'support@example.com', name: 'Example Support' },
      subject: 'Your refund',
      personalizations: [{ to: [{ email: to }] }],
      content: [
        { type: 'text/plain', value: 'Hello Jane, your refund is on its way.' },
        { type: 'text/html', value: '<p>Hello Jane, your refund is on its way.</p>' },
      ],
      custom_args: { messageId: message.messageId, conversationId: message.conversationId },
      headers: {
        'In-Reply-To': '<inbound-2@mail.example.org>',
        References: '<inbound-1@mail.example.org> <inbound-2@mail.example.org>',
        'List-Unsubscribe': `<${UNSUBSCRIBE}>`,
        'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
      },
    });
    expect(result).toEqual({ provider: 'sendgrid', providerMessageId: received.messageId });
  });

  it('a fresh message (not a reply) has no threading headers, and no html part without html', async () => {
    await email().send(delivery({ channel: 'email', to: freshEmail(), subject: 'Hello', unsubscribeUrl: UNSUBSCRIBE }));
    const { body } = sendgrid.requests.at(-1)!;
    expect(Object.keys(body.headers ?? {}).sort()).toEqual(['List-Unsubscribe', 'List-Unsubscribe-Post']);
    expect(body.content).toEqual([{ type: 'text/plain', value: 'Your order has shipped.' }]);
  });

  it('sends exactly the JSON the official @sendgrid/mail sends for the same message', async () => {
    // Prepare
    const to = freshEmail();
    const message = delivery({ channel: 'email', to, subject: 'Re: order', body: 'text', html: '<b>html</b>', inReplyTo: '<a@x.org>', unsubscribeUrl: UNSUBSCRIBE });

    // Act
    await email().send(message);
    const ours = sendgrid.requests.at(-1)!;
    const [response] = await officialSendgridMail(sendgrid).send({
      to,
      from: FROM,
      subject: 'Re: order',
      text: 'text',
      html: '<b>html</b>',
      customArgs: { messageId: message.messageId, conversationId: message.conversationId },
      headers: { 'In-Reply-To': '<a@x.org>', References: '<a@x.org>', 'List-Unsubscribe': `<${UNSUBSCRIBE}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' },
    });
    const theirs = sendgrid.requests.at(-1)!;

    // Assess
    expect(response.statusCode).toBe(202);
    expect(response.headers['x-message-id']).toBe(theirs.messageId);
    expect(ours.body).toEqual(theirs.body);
  });

  it('the official client reads the fake\'s 400 as SendGrid\'s ResponseError with its errors list', async () => {
    const err = (await officialSendgridMail(sendgrid)
      .send({ to: 'not-an-address', from: FROM, subject: 's', text: 't' })
      .catch((e: unknown) => e)) as { code?: number; response?: { body?: { errors?: Array<{ field?: string }> } } };
    expect(err.code).toBe(400);
    expect(err.response?.body?.errors?.map((e) => e.field)).toEqual(['personalizations.0.to.0.email']);
  });

  it('400 (an address SendGrid refuses) is permanent `sendgrid:400`, naming the field, never the address or the text', async () => {
    const err = await expectPermanent(email().send(delivery({ channel: 'email', to: 'jane.at.example.org', subject: 's', body: 'private words' })), 'sendgrid:400');
    expect(errorText(err)).toContain('personalizations.0.to.0.email');
    expect(errorText(err)).not.toContain('jane.at.example.org');
    expect(errorText(err)).not.toContain('private words');
  });

  it('a wrong API key (401) is a settings fault `sendgrid:401`, not the message’s: it goes out once the key is fixed', async () => {
    const before = sendgrid.unauthenticated;
    await expectConfigFault(email({ apiKey: async () => 'SG.wrong.key' }).send(delivery({ channel: 'email', to: freshEmail(), subject: 's' })), 'sendgrid:401');
    expect(sendgrid.unauthenticated).toBe(before + 1);
  });

  it('413 Payload Too Large is permanent `sendgrid:413`', async () => {
    const to = freshEmail();
    sendgrid.failNext({ to, status: 413 });
    await expectPermanent(email().send(delivery({ channel: 'email', to, subject: 's' })), 'sendgrid:413');
  });

  it('429 is transient', async () => {
    const to = freshEmail();
    sendgrid.failNext({ to, status: 429 });
    await expectTransient(email().send(delivery({ channel: 'email', to, subject: 's' })));
  });

  it('500 twice is transient twice, with the outcome unknown (a 5xx may follow SendGrid taking the message), then accepted once', async () => {
    // Prepare
    const to = freshEmail();
    const message = delivery({ channel: 'email', to, subject: 's' });
    sendgrid.failNext({ to, status: 500, times: 2 });
    const sender = email();

    // Act
    expect((await expectTransient(sender.send(message))).outcomeUnknown).toBe(true);
    expect((await expectTransient(sender.send(message))).outcomeUnknown).toBe(true);
    const result = await sender.send(message);

    // Assess
    const forThisAddress = sendgrid.requests.filter((r) => r.body.personalizations?.[0]?.to?.[0]?.email === to);
    expect(forThisAddress.map((r) => r.status)).toEqual([500, 500, 202]);
    expect(result.providerMessageId).toBe(forThisAddress[2]!.messageId);
  });

  it('a refused connection and a late answer are transient; only the late answer leaves the outcome unknown', async () => {
    expect((await expectTransient(email({ baseUrl: await refusedUrl() }).send(delivery({ channel: 'email', to: freshEmail(), subject: 's' })))).outcomeUnknown).toBe(false);
    sendgrid.delayNext(1_000);
    expect((await expectTransient(email({ timeoutMs: 200 }).send(delivery({ channel: 'email', to: freshEmail(), subject: 's' })))).outcomeUnknown).toBe(true);
  });
});
