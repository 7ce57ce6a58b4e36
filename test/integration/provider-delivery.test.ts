import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { LocalStack } from '#local/stack.ts';
import { startSendgridApiFake, type SendgridApiFake } from '#test/fakes/sendgrid-api.fake.ts';
import { startTwilioApiFake, type TwilioApiFake } from '#test/fakes/twilio-api.fake.ts';
import { postTwilioForm, waitFor } from '#test/helpers/index.ts';
import { agent, approvedTemplate, call, jsonOf, messageIn, newCustomer, send, smsDraft, waitForStatus } from '../model/outbound-support.ts';

/**
 * The sender's delivery rules end to end with the REAL provider adapters: a local stack of this file's
 * own (in this worker process) whose Twilio and SendGrid settings point at the local fakes of those
 * APIs, so a send goes staff API → outbound FIFO queue → sender consumer → Twilio/SendGrid adapter →
 * fake. What is asserted is what a user sees: the staff API's answers, the message in the thread, and
 * the requests the provider received.
 *
 * The shared helpers (`staffToken`, `newCustomer`, `send`, `thread`…) reach "the stack" through
 * `baseUrl()` / `stackEnv()` of `#test/helpers/stack.ts`, i.e. the run's shared stack; here they are
 * pointed at this file's stack instead.
 */

const own = vi.hoisted(() => ({ stack: undefined as LocalStack | undefined }));
vi.mock('#test/helpers/stack.ts', async (importOriginal) => {
  const original = await importOriginal<typeof import('#test/helpers/stack.ts')>();
  const stack = (): LocalStack => {
    if (!own.stack) throw new Error('the provider-wired stack of provider-delivery.test.ts is not running');
    return own.stack;
  };
  return { ...original, stackEnv: () => stack().env, baseUrl: () => stack().baseUrl };
});

const FROM_NUMBER = '+16285550000';
const EMAIL_FROM = 'support@example.com';

let twilio: TwilioApiFake;
let sendgrid: SendgridApiFake;
let dataDir: string;

beforeAll(async () => {
  [twilio, sendgrid] = await Promise.all([startTwilioApiFake(), startSendgridApiFake()]);
  dataDir = mkdtempSync(join(tmpdir(), 'omnichannel-providers-'));
  const { startLocalStack } = await import('#local/stack.ts');
  own.stack = await startLocalStack({
    env: {
      POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
      TWILIO_ACCOUNT_SID: twilio.accountSid,
      TWILIO_API_KEY_SID: twilio.apiKeySid,
      TWILIO_API_KEY_SECRET: twilio.apiKeySecret,
      TWILIO_FROM_NUMBER: FROM_NUMBER,
      TWILIO_API_BASE_URL: twilio.baseUrl,
      SENDGRID_API_KEY: sendgrid.apiKey,
      EMAIL_FROM,
      SENDGRID_API_BASE_URL: sendgrid.baseUrl,
    },
    dataDir,
    port: 0,
    visibilityTimeoutSeconds: 2,
    accessLog: false,
    // Handlers run in this process and read process.env (one stack per process); stop() restores it.
    applyToProcessEnv: true,
    log: (level, message) => level === 'error' && console.error(message),
  });
  expect(own.stack.outbound.map((d) => [d.channels.join('+'), d.destination])).toEqual([
    ['sms+voice', 'provider'],
    ['email', 'provider'],
    ['chat', 'local outbox'],
  ]);
});

afterAll(async () => {
  await own.stack?.stop();
  own.stack = undefined;
  await Promise.all([twilio?.close(), sendgrid?.close()]);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  // Every call the adapters made carried valid credentials.
  expect(twilio?.unauthenticated).toBe(0);
  expect(sendgrid?.unauthenticated).toBe(0);
});

const stack = () => own.stack!;
const twilioCallsTo = (phone: string) => twilio.requests.filter((r) => r.params.To === phone);
const sendgridCallsTo = (email: string) => sendgrid.requests.filter((r) => (r.body.personalizations ?? []).some((p) => (p.to ?? []).some((t) => t.email === email)));

/** Sends as an agent and returns the queued message's id (the 202 answer). */
async function queued(conversationId: string, body: unknown): Promise<string> {
  const answer = await jsonOf<{ messageId: string; conversationId: string; status: string }>(await send(conversationId, body), 202);
  expect(answer).toMatchObject({ conversationId, status: 'queued' });
  return answer.messageId;
}

/** A plain SMS queued behind the others of the conversation (same FIFO group), waited for until sent. */
async function markerSent(conversationId: string, text: string): Promise<void> {
  await waitForStatus(conversationId, await queued(conversationId, { channel: 'sms', body: text }), 'sent');
}

describe('delivery through the real provider adapters (Twilio and SendGrid API fakes)', () => {
  it('sends an approved template SMS with one Twilio Messages call, and its status callback URL moves it to delivered', async () => {
    // Prepare
    const template = await approvedTemplate();
    const customer = await newCustomer();
    const phone = customer.phone!;

    // Act
    const messageId = await queued(customer.conversationId, { channel: 'sms', templateId: template.templateId, variables: { name: 'Ada' } });
    const sent = await waitForStatus(customer.conversationId, messageId, 'sent');

    // Assess: one create-message call, with the rendered body and a callback naming this message
    const calls = twilioCallsTo(phone);
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call).toMatchObject({ resource: 'Messages', accountSid: twilio.accountSid, status: 201, contentType: 'application/x-www-form-urlencoded' });
    expect(call!.params).toMatchObject({ To: phone, From: FROM_NUMBER, Body: expect.stringMatching(/^\[[0-9a-f]{8}\] Hi Ada, service is restored\.$/) });
    const callback = new URL(String(call!.params.StatusCallback));
    expect(`${callback.origin}${callback.pathname}`).toBe(`${stack().env.PUBLIC_BASE_URL}/webhooks/twilio/status`);
    expect(Object.fromEntries(callback.searchParams)).toEqual({ conversationId: customer.conversationId, messageId });
    expect(sent).toMatchObject({ direction: 'outbound', channel: 'sms', status: 'sent', provider: 'twilio', providerMessageId: call!.sid, body: call!.params.Body });

    // Act: Twilio calls that URL back, signed over it, as it would after the handset got the SMS
    const delivered = await postTwilioForm(stack().baseUrl, `${callback.pathname}${callback.search}`, { MessageSid: call!.sid!, MessageStatus: 'delivered', To: phone, From: FROM_NUMBER }, { authToken: stack().env.TWILIO_AUTH_TOKEN, signedUrl: callback.href });

    // Assess
    expect(delivered.status).toBe(200);
    expect(await messageIn(customer.conversationId, messageId)).toMatchObject({ status: 'delivered', provider: 'twilio', providerMessageId: call!.sid });
  });

  it('sends an approved template email with one SendGrid mail/send call carrying the one-click unsubscribe headers', async () => {
    // Prepare
    const template = await approvedTemplate();
    const customer = await newCustomer();
    const email = customer.email!;

    // Act
    const messageId = await queued(customer.conversationId, { channel: 'email', templateId: template.templateId, variables: { name: 'Bo' } });
    const sent = await waitForStatus(customer.conversationId, messageId, 'sent');

    // Assess
    const calls = sendgridCallsTo(email);
    expect(calls).toHaveLength(1);
    const [call] = calls;
    expect(call).toMatchObject({ status: 202, contentType: 'application/json' });
    const mail = call!.body;
    expect(mail.from).toMatchObject({ email: EMAIL_FROM });
    expect(mail.personalizations).toEqual([expect.objectContaining({ to: [expect.objectContaining({ email })] })]);
    expect(mail.subject ?? mail.personalizations?.[0]?.subject).toMatch(/^\[[0-9a-f]{8}\] Service update$/);
    expect(mail.content).toEqual([
      { type: 'text/plain', value: 'Hi Bo, service is restored.' },
      { type: 'text/html', value: '<p>Hi Bo, service is restored.</p>' },
    ]);
    expect(mail.custom_args).toEqual({ messageId, conversationId: customer.conversationId });
    const headers = mail.headers as Record<string, string>;
    expect(headers['List-Unsubscribe']).toMatch(new RegExp(`^<${stack().env.PUBLIC_BASE_URL}/unsubscribe/[^>\\s]+>$`));
    expect(headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
    expect(sent).toMatchObject({ channel: 'email', status: 'sent', provider: 'sendgrid', providerMessageId: call!.messageId });
  });

  it('places an approved template voice message with one Twilio Calls call saying it', async () => {
    // Prepare
    const template = await approvedTemplate();
    const customer = await newCustomer();

    // Act
    const messageId = await queued(customer.conversationId, { channel: 'voice', templateId: template.templateId, variables: { name: 'Cy' } });
    const sent = await waitForStatus(customer.conversationId, messageId, 'sent');

    // Assess
    const calls = twilioCallsTo(customer.phone!);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ resource: 'Calls', status: 201 });
    expect(calls[0]!.params).toMatchObject({ To: customer.phone, From: FROM_NUMBER, StatusCallbackEvent: ['initiated', 'completed'] });
    expect(calls[0]!.params.Twiml).toContain('<Say>Hello Cy. Service is restored.</Say>');
    expect(new URL(String(calls[0]!.params.StatusCallback)).searchParams.get('messageId')).toBe(messageId);
    expect(sent).toMatchObject({ channel: 'voice', status: 'sent', provider: 'twilio', providerMessageId: calls[0]!.sid });
  });

  it('marks an SMS failed with twilio:21610 when Twilio knows the recipient texted STOP, and records that opt-out so the next SMS is a 409', async () => {
    // Prepare: the customer's STOP never reached our webhook; the ledger still says opted in.
    const customer = await newCustomer();
    const phone = customer.phone!;
    twilio.failNext({ to: phone, status: 400, code: 21610 });

    // Act
    const messageId = await queued(customer.conversationId, { channel: 'sms', body: 'Your card has been posted.' });
    const failed = await waitForStatus(customer.conversationId, messageId, ['failed', 'sent']);

    // Assess: one call; the opt-out is in the ledger (and its audit trail), the next SMS is refused
    // before anything is queued, and email is left alone.
    expect(failed).toMatchObject({ status: 'failed', failureReason: 'twilio:21610' });
    type Consent = { channels: Record<string, string>; history: Array<{ actor: string; action: string; details: { channel: string; source: string } }> };
    // The opt-out is written just after the message's failure.
    const consent = await waitFor(async () => {
      const c = await jsonOf<Consent>(await call('GET', `/customers/${customer.customerId}/consent`, agent()), 200);
      return c.channels.sms === 'opted_out' ? c : false;
    });
    expect(consent.channels).toMatchObject({ sms: 'opted_out', email: 'opted_in' });
    expect(consent.history).toContainEqual(expect.objectContaining({ actor: 'system:provider', action: 'opted_out', details: { channel: 'sms', source: 'twilio:21610' } }));
    const refused = await send(customer.conversationId, { channel: 'sms', body: 'Another one.' });
    expect(refused.status).toBe(409);
    expect(twilioCallsTo(phone)).toHaveLength(1);
  });

  it.each([{ code: 21211, what: 'invalid To number' }])('marks an SMS failed with twilio:$code when Twilio refuses it ($what), after one call and no retry', async ({ code }) => {
    // Prepare
    const customer = await newCustomer();
    const phone = customer.phone!;
    twilio.failNext({ to: phone, status: 400, code });

    // Act
    const messageId = await queued(customer.conversationId, { channel: 'sms', body: 'Your card has been posted.' });
    const failed = await waitForStatus(customer.conversationId, messageId, ['failed', 'sent']);
    // A later message of the same conversation (same FIFO group) goes out only once the refused job is done.
    await markerSent(customer.conversationId, 'marker');

    // Assess
    expect(failed).toMatchObject({ status: 'failed', failureReason: `twilio:${code}`, body: 'Your card has been posted.' });
    expect(failed.provider).toBeUndefined();
    expect(twilioCallsTo(phone).map((r) => [r.params.Body, r.status])).toEqual([
      ['Your card has been posted.', 400],
      ['marker', 201],
    ]);
    expect(await messageIn(customer.conversationId, messageId)).toMatchObject({ status: 'failed', failureReason: `twilio:${code}` });
  });

  it('marks an email failed with sendgrid:400 when SendGrid refuses it, after one call and no retry', async () => {
    // Prepare
    const customer = await newCustomer();
    const email = customer.email!;
    sendgrid.failNext({ to: email, status: 400 });

    // Act
    const messageId = await queued(customer.conversationId, { channel: 'email', subject: 'Your card', body: 'Your card has been posted.' });
    const failed = await waitForStatus(customer.conversationId, messageId, ['failed', 'sent']);
    await markerSent(customer.conversationId, 'marker');

    // Assess
    expect(failed).toMatchObject({ status: 'failed', failureReason: 'sendgrid:400' });
    expect(sendgridCallsTo(email).map((r) => r.status)).toEqual([400]);
  });

  it(
    'retries after a transient Twilio 429 and a SendGrid 429, back to queued in between, and sends each once',
    async () => {
      // Prepare: the first call of each fails with an error worth retrying
      const template = await approvedTemplate();
      const [smsCustomer, emailCustomer] = await Promise.all([newCustomer(), newCustomer()]);
      const phone = smsCustomer.phone!;
      const email = emailCustomer.email!;
      // (A Twilio 5xx leaves the outcome unknown instead: see the sender's tests.)
      twilio.failNext({ to: phone, status: 429 });
      sendgrid.failNext({ to: email, status: 429 });

      // Act: both go out at once, so their retries (10 s backoff on the first) overlap
      const [smsId, emailId] = await Promise.all([
        queued(smsCustomer.conversationId, { channel: 'sms', templateId: template.templateId, variables: { name: 'Di' } }),
        queued(emailCustomer.conversationId, { channel: 'email', templateId: template.templateId, variables: { name: 'Ed' } }),
      ]);

      // Assess: after the refused call, each message waits as queued…
      await waitFor(() => twilioCallsTo(phone).length === 1 && sendgridCallsTo(email).length === 1);
      await Promise.all([waitForStatus(smsCustomer.conversationId, smsId, 'queued'), waitForStatus(emailCustomer.conversationId, emailId, 'queued')]);
      // …and the retry sends it
      const [sms, mail] = await Promise.all([
        waitForStatus(smsCustomer.conversationId, smsId, ['sent', 'failed'], 20_000),
        waitForStatus(emailCustomer.conversationId, emailId, ['sent', 'failed'], 20_000),
      ]);
      const smsCalls = twilioCallsTo(phone);
      expect(smsCalls.map((r) => r.status)).toEqual([429, 201]);
      expect(smsCalls[1]!.params.Body).toBe(smsCalls[0]!.params.Body);
      expect(sms).toMatchObject({ status: 'sent', provider: 'twilio', providerMessageId: smsCalls[1]!.sid });
      expect(sms.failureReason).toBeUndefined();
      const mailCalls = sendgridCallsTo(email);
      expect(mailCalls.map((r) => r.status)).toEqual([429, 202]);
      expect(mail).toMatchObject({ status: 'sent', provider: 'sendgrid', providerMessageId: mailCalls[1]!.messageId });
    },
    30_000,
  );

  it('calls Twilio once when the same send job is on the queue twice, before and after it was sent', async () => {
    // Prepare
    const template = await approvedTemplate(smsDraft('dup'));
    const customer = await newCustomer();
    const phone = customer.phone!;
    const env = stack().env;
    const sqs = new SQSClient({ endpoint: env.SQS_ENDPOINT, region: env.AWS_REGION, credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } });
    const duplicate = (messageId: string, copy: string) =>
      sqs.send(
        new SendMessageCommand({
          QueueUrl: env.OUTBOUND_QUEUE_URL,
          MessageBody: JSON.stringify({ messageId, conversationId: customer.conversationId }),
          MessageGroupId: customer.conversationId,
          // Another deduplication id, as after SQS's 5-minute window or from a replay.
          MessageDeduplicationId: `${copy}-${messageId}`,
        }),
      );

    try {
      // Act: a copy of the job right behind the original, another once it was sent, then a marker
      const messageId = await queued(customer.conversationId, { channel: 'sms', templateId: template.templateId, variables: { name: 'Fay' } });
      await duplicate(messageId, 'early');
      await waitForStatus(customer.conversationId, messageId, 'sent');
      await duplicate(messageId, 'late');
      await markerSent(customer.conversationId, 'marker');

      // Assess: both copies ran before the marker (same FIFO group) and called nobody
      expect(twilioCallsTo(phone).map((r) => [r.params.Body, r.status])).toEqual([
        ['[dup] Hi Fay, service is restored.', 201],
        ['marker', 201],
      ]);
      expect(await messageIn(customer.conversationId, messageId)).toMatchObject({ status: 'sent', provider: 'twilio', providerMessageId: twilioCallsTo(phone)[0]!.sid });
    } finally {
      sqs.destroy();
    }
  });
});
