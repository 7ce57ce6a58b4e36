import { randomBytes } from 'node:crypto';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeliverDeps, DeliverOutcome } from '#shared/outbound/deliver-outbound.ts';
import type { ChannelSender, OutboundDelivery } from '#shared/ports/channel-sender.ts';
import { applyStackEnv, baseUrl, postTwilioForm, stackEnv, waitFor } from '#test/helpers/index.ts';
import { startFakeServer } from '#test/fakes/http-server.ts';
import { approvedTemplate, call, jsonOf, messageIn, newCustomer, outbox, send, thread, waitForStatus } from '../model/outbound-support.ts';

/**
 * The sender's rules, driven in this process against the stack's DynamoDB and SQS with fake providers,
 * plus the real consumer for duplicate jobs and revocation. Messages driven here are queued with a
 * `notBefore` an hour away, so the stack's own consumer only ever postpones their jobs.
 */

let restore: () => void;
let modules: {
  sendMessage: typeof import('#shared/outbound/send-message.ts').sendMessage;
  deliverOutbound: typeof import('#shared/outbound/deliver-outbound.ts').deliverOutbound;
  settleSeconds: number;
  claimLifetimeSeconds: number;
  errors: typeof import('#shared/ports/channel-sender.ts');
  setConsent: typeof import('#shared/data/consent-store.ts').setConsent;
  store: typeof import('#shared/data/outbound-store.ts');
  applyDeliveryStatus: typeof import('#shared/outbound/status-callbacks.ts').applyDeliveryStatus;
  handler: typeof import('#functions/sqs/send-outbound.ts').handler;
  createLambdaContext: typeof import('#local/lambda-context.ts').createLambdaContext;
};

beforeAll(async () => {
  restore = applyStackEnv();
  modules = {
    sendMessage: (await import('#shared/outbound/send-message.ts')).sendMessage,
    deliverOutbound: (await import('#shared/outbound/deliver-outbound.ts')).deliverOutbound,
    settleSeconds: (await import('#shared/outbound/deliver-outbound.ts')).UNKNOWN_OUTCOME_SETTLE_SECONDS,
    claimLifetimeSeconds: (await import('#shared/outbound/deliver-outbound.ts')).CLAIM_LIFETIME_SECONDS,
    errors: await import('#shared/ports/channel-sender.ts'),
    setConsent: (await import('#shared/data/consent-store.ts')).setConsent,
    store: await import('#shared/data/outbound-store.ts'),
    applyDeliveryStatus: (await import('#shared/outbound/status-callbacks.ts')).applyDeliveryStatus,
    handler: (await import('#functions/sqs/send-outbound.ts')).handler,
    createLambdaContext: (await import('#local/lambda-context.ts')).createLambdaContext,
  };
});
afterAll(() => restore());

const HOUR = 3600_000;
const SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:OmnichannelSupport/TWILIO_API_KEY_SECRET-AbCdEf';

/** Twilio's signed status callback for a send job's message, through the stack's gateway. */
function twilioStatusCallback(job: { conversationId: string; messageId: string }, params: Record<string, string>) {
  const path = `/webhooks/twilio/status?conversationId=${job.conversationId}&messageId=${job.messageId}`;
  return postTwilioForm(baseUrl(), path, params, { authToken: stackEnv().TWILIO_AUTH_TOKEN });
}

/** A fake provider that records every call and answers with `answer`. */
function fakeSender(answer: (delivery: OutboundDelivery) => Promise<void> = async () => undefined) {
  const calls: OutboundDelivery[] = [];
  const sender: ChannelSender = {
    async send(delivery) {
      calls.push(delivery);
      await answer(delivery);
      return { provider: 'twilio', providerMessageId: `SM${randomBytes(16).toString('hex')}` };
    },
  };
  return { calls, sender };
}

/** One clock for the tests of retries: 10 minutes on at every reading, so each retry comes after the settle time. */
let stepped = Date.now() + 3 * HOUR;
function steppingDeps(sender: ChannelSender): DeliverDeps {
  return { senderFor: () => sender, now: () => new Date((stepped += 10 * 60_000)) };
}

function depsWith(sender: ChannelSender): DeliverDeps {
  return { senderFor: () => sender, now: () => new Date(Date.now() + 2 * HOUR) };
}

/** A sender whose channel has no provider settings at all (as channel-senders.ts refuses it). */
async function unconfiguredDeps(): Promise<DeliverDeps> {
  const { ConfigError } = await import('#shared/errors.ts');
  return {
    senderFor: () => {
      throw new ConfigError('No sms provider configured: missing TWILIO_FROM_NUMBER (and LOCAL_OUTBOX is not 1)');
    },
    now: () => new Date(Date.now() + 2 * HOUR),
  };
}

/**
 * Runs `act` with `race` run once, just before the first TransactWriteItems this process sends (the
 * sender's claim), from a middleware on the data module's own DynamoDB client: a change that lands
 * between the sender's checks and its claim, on the real DynamoDB Local. Says whether `race` ran.
 */
async function withRaceBeforeClaim<T>(race: () => Promise<unknown>, act: () => Promise<T>): Promise<{ result: T; raced: boolean }> {
  return withRaceBefore('TransactWriteItemsCommand', race, act);
}

/** Like {@link withRaceBeforeClaim}, before the first request of the named command (e.g. `UpdateItemCommand`). */
async function withRaceBefore<T>(commandName: string, race: () => Promise<unknown>, act: () => Promise<T>): Promise<{ result: T; raced: boolean }> {
  const { dynamoClient } = await import('#shared/data/client.ts');
  const name = `race-before-${randomBytes(4).toString('hex')}`;
  let raced = false;
  dynamoClient.middlewareStack.add(
    (next, context) => async (args) => {
      if (!raced && context.commandName === commandName) {
        raced = true;
        await race();
      }
      return next(args);
    },
    { step: 'initialize', name },
  );
  try {
    return { result: await act(), raced };
  } finally {
    dynamoClient.middlewareStack.remove(name);
  }
}

/** A message queued for an hour from now: the stack's consumer leaves it alone. */
async function heldMessage(body: Partial<Parameters<typeof modules.sendMessage>[0]> = {}) {
  const customer = await newCustomer();
  const queued = await modules.sendMessage({
    conversationId: customer.conversationId,
    channel: 'sms',
    sentBy: 'agent-under-test',
    body: 'Your appointment is confirmed.',
    notBefore: new Date(Date.now() + HOUR).toISOString(),
    ...body,
  });
  return { customer, job: { messageId: queued.messageId, conversationId: queued.conversationId } };
}

describe('deliverOutbound', () => {
  it('holds a message until its notBefore, saying when to come back', async () => {
    const { job } = await heldMessage();
    const { calls, sender } = fakeSender();
    const outcome = await modules.deliverOutbound(job, { senderFor: () => sender, now: () => new Date() });
    expect(outcome).toMatchObject({ result: 'later', why: 'not_before' });
    expect((outcome as { retryInSeconds: number }).retryInSeconds).toBeGreaterThan(3500);
    expect((outcome as { retryInSeconds: number }).retryInSeconds).toBeLessThanOrEqual(3600);
    expect(calls).toHaveLength(0);
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'queued' });
  });

  it('calls the provider once when the same job runs twice at the same time, and records it sent', async () => {
    const { job, customer } = await heldMessage();
    const { calls, sender } = fakeSender(() => new Promise((r) => setTimeout(r, 50)));
    const outcomes = await Promise.all([modules.deliverOutbound(job, depsWith(sender)), modules.deliverOutbound(job, depsWith(sender))]);
    // The other copy lost the claim (skipped), or read the message already claimed: then it comes back
    // once that claim's try has surely ended.
    expect(outcomes.map((o) => o.result)).toContain('sent');
    expect(outcomes.find((o) => o.result !== 'sent')).toSatisfy((o: unknown) => JSON.stringify(o) === '{"result":"skipped"}' || (o as { why?: string }).why === 'claimed');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ messageId: job.messageId, channel: 'sms', to: customer.phone, body: 'Your appointment is confirmed.' });
    expect(calls[0]!.statusCallbackUrl).toBe(`${stackEnv().PUBLIC_BASE_URL}/webhooks/twilio/status?conversationId=${job.conversationId}&messageId=${job.messageId}`);
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'sent', provider: 'twilio', providerMessageId: expect.stringMatching(/^SM/) });
    // A later copy of the job changes nothing.
    expect(await modules.deliverOutbound(job, depsWith(sender))).toEqual({ result: 'skipped' });
    expect(calls).toHaveLength(1);
  });

  it('puts a message back to queued after a transient provider error, with a growing backoff, and sends it on the retry', async () => {
    const { job } = await heldMessage();
    const failing = fakeSender(async () => {
      throw new modules.errors.TransientDeliveryError('Twilio answered 503');
    });
    const waits = [];
    for (let i = 0; i < 3; i++) waits.push(await modules.deliverOutbound(job, depsWith(failing.sender)));
    expect(waits).toEqual([10, 20, 40].map((retryInSeconds) => ({ result: 'later', why: 'transient', retryInSeconds })));
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'queued', sendAttempts: 3 });
    const working = fakeSender();
    expect(await modules.deliverOutbound(job, depsWith(working.sender))).toEqual({ result: 'sent' });
    expect(working.calls).toHaveLength(1);
  });

  it('after its fifth try, marks a message failed (retries_exhausted), and the job is done', async () => {
    const { job } = await heldMessage();
    const failing = fakeSender(async () => {
      throw new modules.errors.TransientDeliveryError('Twilio answered 503');
    });
    for (let i = 0; i < 4; i++) expect(await modules.deliverOutbound(job, depsWith(failing.sender))).toMatchObject({ result: 'later', why: 'transient' });
    expect(await modules.deliverOutbound(job, depsWith(failing.sender))).toEqual({ result: 'failed' });
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'failed', failureReason: 'retries_exhausted', sendAttempts: 5 });
    // A later copy of the job (or a replay) finds it failed and calls nobody.
    expect(await modules.deliverOutbound(job, depsWith(failing.sender))).toEqual({ result: 'skipped' });
    expect(failing.calls).toHaveLength(5);
  });

  describe('when the provider’s answer never came (the outcome is unknown)', () => {
    const unheard = () =>
      fakeSender(async () => {
        throw new modules.errors.TransientDeliveryError('twilio: no answer within 10000 ms', { outcomeUnknown: true });
      });

    it('keeps the message sending, and the retry sends nothing once a status callback has named it', async () => {
      const { job } = await heldMessage();
      const first = unheard();
      expect(await modules.deliverOutbound(job, steppingDeps(first.sender))).toEqual({ result: 'later', why: 'transient', retryInSeconds: modules.settleSeconds });
      expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'sending', outcomeUnknownAt: expect.any(String) });
      // Twilio had it after all: its status callback arrives before the retry.
      expect(await modules.applyDeliveryStatus({ conversationId: job.conversationId, messageId: job.messageId, status: 'delivered', providerMessageId: 'SM0123456789abcdef0123456789abcdef' })).toBe('updated');
      const retry = fakeSender();
      expect(await modules.deliverOutbound(job, steppingDeps(retry.sender))).toEqual({ result: 'skipped' });
      expect(retry.calls).toHaveLength(0);
      expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'delivered', providerMessageId: 'SM0123456789abcdef0123456789abcdef' });
    });

    it('waits for the provider’s word before a retry: a copy of the job that comes early sends nothing', async () => {
      const { job } = await heldMessage();
      const failedAt = new Date(Date.now() + 2 * HOUR);
      expect(await modules.deliverOutbound(job, { senderFor: () => unheard().sender, now: () => failedAt })).toMatchObject({ result: 'later', why: 'transient' });
      const early = fakeSender();
      const outcome = await modules.deliverOutbound(job, { senderFor: () => early.sender, now: () => new Date(failedAt.getTime() + 60_000) });
      expect(outcome).toMatchObject({ result: 'later', why: 'transient' });
      expect((outcome as { retryInSeconds: number }).retryInSeconds).toBeGreaterThan(modules.settleSeconds - 61);
      expect(early.calls).toHaveLength(0);
      expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'sending', outcomeUnknownAt: expect.any(String) });
    });

    it('sends again, once, when nothing has named the message by the retry', async () => {
      const { job } = await heldMessage();
      expect(await modules.deliverOutbound(job, steppingDeps(unheard().sender))).toMatchObject({ result: 'later', why: 'transient' });
      // Two copies of the retried job at once: one claim, one call.
      const retry = fakeSender(() => new Promise((r) => setTimeout(r, 50)));
      const outcomes = await Promise.all([modules.deliverOutbound(job, steppingDeps(retry.sender)), modules.deliverOutbound(job, steppingDeps(retry.sender))]);
      // The copy that loses either loses the claim (skipped) or reads the message once claimed and comes
      // back when that claim has surely ended (later, claimed): which one is up to timing.
      const [won, lost] = [...outcomes].sort((a) => (a.result === 'sent' ? -1 : 1)) as [DeliverOutcome, DeliverOutcome];
      expect(won).toEqual({ result: 'sent' });
      if (lost.result === 'later') expect(lost).toEqual({ result: 'later', why: 'claimed', retryInSeconds: expect.any(Number) });
      else expect(lost).toEqual({ result: 'skipped' });
      expect(retry.calls).toHaveLength(1);
      // Coming back later, it finds the message sent and calls nobody.
      expect(await modules.deliverOutbound(job, steppingDeps(retry.sender))).toEqual({ result: 'skipped' });
      expect(retry.calls).toHaveLength(1);
      expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'sent', providerMessageId: expect.stringMatching(/^SM/) });
      expect((await messageIn(job.conversationId, job.messageId))?.outcomeUnknownAt).toBeUndefined();
    });

    for (const [channel, callback] of [
      ['sms', { MessageStatus: 'queued' }],
      ['voice', { CallStatus: 'initiated' }],
    ] as const) {
      it(`sends nothing more once Twilio’s first in-between callback (${Object.values(callback)[0]}) has named the ${channel} message`, async () => {
        const { job } = await heldMessage({ channel });
        expect(await modules.deliverOutbound(job, steppingDeps(unheard().sender))).toMatchObject({ result: 'later', why: 'transient' });
        // Twilio had it: the call (or SMS) is under way, long before it completes.
        const sid = `${channel === 'sms' ? 'SM' : 'CA'}${randomBytes(16).toString('hex')}`;
        const res = await twilioStatusCallback(job, channel === 'sms' ? { MessageSid: sid, ...callback } : { CallSid: sid, ...callback });
        expect(res.status).toBe(200);
        const retry = fakeSender();
        expect(await modules.deliverOutbound(job, steppingDeps(retry.sender))).toEqual({ result: 'skipped' });
        expect(retry.calls).toHaveLength(0);
        expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'sent', providerMessageId: sid });
      });
    }

    it('keeps the outcome unknown when the retry is refused (429), so a late callback of the first try still names it and nothing is sent a third time', async () => {
      const { job } = await heldMessage();
      expect(await modules.deliverOutbound(job, steppingDeps(unheard().sender))).toMatchObject({ result: 'later' });
      const refused = fakeSender(async () => {
        throw new modules.errors.TransientDeliveryError('Twilio answered 429');
      });
      expect(await modules.deliverOutbound(job, steppingDeps(refused.sender))).toMatchObject({ result: 'later', why: 'transient' });
      expect(refused.calls).toHaveLength(1);
      expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'sending', outcomeUnknownAt: expect.any(String) });
      // The first try's SMS went out after all.
      expect(await modules.applyDeliveryStatus({ ...job, status: 'delivered', providerMessageId: 'SM0123456789abcdef0123456789abcdee' })).toBe('updated');
      const third = fakeSender();
      expect(await modules.deliverOutbound(job, steppingDeps(third.sender))).toEqual({ result: 'skipped' });
      expect(third.calls).toHaveLength(0);
    });

    it('on the fifth try, a refused retry after an unanswered one fails with provider_outcome_unknown', async () => {
      const { job } = await heldMessage();
      expect(await modules.deliverOutbound(job, steppingDeps(unheard().sender))).toMatchObject({ result: 'later' });
      const refused = fakeSender(async () => {
        throw new modules.errors.TransientDeliveryError('Twilio answered 503');
      });
      for (let i = 0; i < 3; i++) expect(await modules.deliverOutbound(job, steppingDeps(refused.sender))).toMatchObject({ result: 'later' });
      expect(await modules.deliverOutbound(job, steppingDeps(refused.sender))).toEqual({ result: 'failed' });
      expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'failed', failureReason: 'provider_outcome_unknown', retryFailureReason: 'retries_exhausted' });
    });

    describe('a retry that does not send says the message may have gone out (provider_outcome_unknown), its own reason beside', () => {
      it('the customer opted out after the unanswered try: refused by the claim, no call', async () => {
        const { job, customer } = await heldMessage();
        expect(await modules.deliverOutbound(job, steppingDeps(unheard().sender))).toMatchObject({ result: 'later', why: 'transient' });
        await modules.setConsent({ customerId: customer.customerId, channel: 'sms', status: 'opted_out', source: 'sms:STOP', actor: 'customer', now: new Date().toISOString() });
        const retry = fakeSender();
        expect(await modules.deliverOutbound(job, steppingDeps(retry.sender))).toEqual({ result: 'failed' });
        expect(retry.calls).toHaveLength(0);
        expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'failed', failureReason: 'provider_outcome_unknown', retryFailureReason: 'opted_out' });
      });

      it('the provider refused the retry for good (21211): one call on the retry, and the message still says it may have gone out', async () => {
        const { job } = await heldMessage();
        expect(await modules.deliverOutbound(job, steppingDeps(unheard().sender))).toMatchObject({ result: 'later', why: 'transient' });
        const refusing = fakeSender(async () => {
          throw new modules.errors.PermanentDeliveryError('twilio:21211');
        });
        expect(await modules.deliverOutbound(job, steppingDeps(refusing.sender))).toEqual({ result: 'failed' });
        expect(refusing.calls).toHaveLength(1);
        expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'failed', failureReason: 'provider_outcome_unknown', retryFailureReason: 'twilio:21211' });
      });

      it('the version was revoked after the unanswered try: refused by the claim, no call', async () => {
        const template = await approvedTemplate();
        const { job } = await heldMessage({ body: undefined, templateId: template.templateId, variables: { name: 'Ida' } });
        expect(await modules.deliverOutbound(job, steppingDeps(unheard().sender))).toMatchObject({ result: 'later', why: 'transient' });
        await jsonOf(await call('POST', `/templates/${template.templateId}/versions/1/revoke`, template.approver, { reason: 'Wrong ETA' }), 200);
        const retry = fakeSender();
        expect(await modules.deliverOutbound(job, steppingDeps(retry.sender))).toEqual({ result: 'failed' });
        expect(retry.calls).toHaveLength(0);
        const message = await messageIn(job.conversationId, job.messageId);
        expect(message).toMatchObject({ status: 'failed', failureReason: 'provider_outcome_unknown', retryFailureReason: 'template_not_approved' });
        // The wait for the provider's word is over: a failed message has none.
        expect(message?.outcomeUnknownAt).toBeUndefined();
      });

      it('the channel lost its settings before the retry: refused before any claim, no call', async () => {
        const { job } = await heldMessage();
        expect(await modules.deliverOutbound(job, steppingDeps(unheard().sender))).toMatchObject({ result: 'later', why: 'transient' });
        const unconfigured = await unconfiguredDeps();
        expect(await modules.deliverOutbound(job, { ...unconfigured, now: () => new Date((stepped += 10 * 60_000)) })).toEqual({ result: 'failed' });
        const message = await messageIn(job.conversationId, job.messageId);
        expect(message).toMatchObject({ status: 'failed', failureReason: 'provider_outcome_unknown', retryFailureReason: 'channel_not_configured' });
        expect(message?.outcomeUnknownAt).toBeUndefined();
        // Not claimed again: the unanswered try was the only one.
        expect(message?.sendAttempts).toBe(1);
      });
    });

    it('after five unanswered tries, marks the message failed with provider_outcome_unknown', async () => {
      const { job } = await heldMessage();
      for (let i = 0; i < 4; i++) expect(await modules.deliverOutbound(job, steppingDeps(unheard().sender))).toMatchObject({ result: 'later', why: 'transient' });
      expect(await modules.deliverOutbound(job, steppingDeps(unheard().sender))).toEqual({ result: 'failed' });
      const message = await messageIn(job.conversationId, job.messageId);
      expect(message).toMatchObject({ status: 'failed', failureReason: 'provider_outcome_unknown' });
      // Every try went unanswered: no retry refused it.
      expect(message?.retryFailureReason).toBeUndefined();
    });
  });

  it('retries a provider refusing our credentials (401) like a “not now”, and after the fifth try fails it with the provider’s reason', async () => {
    const { job } = await heldMessage();
    const refusing = fakeSender(async () => {
      throw new modules.errors.ProviderConfigError('twilio:20003');
    });
    for (let i = 0; i < 4; i++) expect(await modules.deliverOutbound(job, depsWith(refusing.sender))).toMatchObject({ result: 'later', why: 'transient' });
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'queued', sendAttempts: 4 });
    expect(await modules.deliverOutbound(job, depsWith(refusing.sender))).toEqual({ result: 'failed' });
    expect(refusing.calls).toHaveLength(5);
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'failed', failureReason: 'twilio:20003' });
  });

  it('reads the secret again on the try after the provider refused our key, so a key rotated meanwhile is used at once (not after the 5-minute cache)', async () => {
    // Prepare: the cloud path of the secret (an ARN, read through Secrets Manager, here a local server
    // speaking its protocol) and a provider that takes only the new key.
    let stored = 'old-key';
    const secretsManager = await startFakeServer(() => ({ status: 200, headers: { 'content-type': 'application/x-amz-json-1.1' }, body: JSON.stringify({ ARN: SECRET_ARN, Name: 'x', SecretString: stored, VersionId: stored }) }));
    const saved = { endpoint: process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER, arn: process.env.TWILIO_API_KEY_SECRET_SECRET_ARN, plain: process.env.TWILIO_API_KEY_SECRET };
    Object.assign(process.env, { AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsManager.baseUrl, TWILIO_API_KEY_SECRET_SECRET_ARN: SECRET_ARN });
    delete process.env.TWILIO_API_KEY_SECRET;
    try {
      const { getSecretSetting } = await import('#shared/config.ts');
      const keysUsed: string[] = [];
      const provider = fakeSender(async () => {
        const key = await getSecretSetting('TWILIO_API_KEY_SECRET');
        keysUsed.push(key);
        if (key !== 'new-key') throw new modules.errors.ProviderConfigError('twilio:20003');
      });
      const { job } = await heldMessage();
      // Act: refused with the old key; the operator rotates it; the retry comes.
      expect(await modules.deliverOutbound(job, depsWith(provider.sender))).toMatchObject({ result: 'later', why: 'transient' });
      stored = 'new-key';
      expect(await modules.deliverOutbound(job, depsWith(provider.sender))).toEqual({ result: 'sent' });
      // Assess
      expect(keysUsed).toEqual(['old-key', 'new-key']);
      expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'sent', sendAttempts: 2 });
    } finally {
      for (const [name, value] of [['AWS_ENDPOINT_URL_SECRETS_MANAGER', saved.endpoint], ['TWILIO_API_KEY_SECRET_SECRET_ARN', saved.arn], ['TWILIO_API_KEY_SECRET', saved.plain]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await secretsManager.close();
    }
  });

  it('counts a secret that cannot be had after the claim (empty after a rotation) as a settings fault: retried, then failed saying so', async () => {
    const { ConfigError } = await import('#shared/errors.ts');
    const { job } = await heldMessage();
    const noSecret = fakeSender(async () => {
      throw new ConfigError('Secret TWILIO_API_KEY_SECRET is empty');
    });
    for (let i = 0; i < 4; i++) expect(await modules.deliverOutbound(job, depsWith(noSecret.sender))).toMatchObject({ result: 'later', why: 'transient' });
    expect(await modules.deliverOutbound(job, depsWith(noSecret.sender))).toEqual({ result: 'failed' });
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'failed', failureReason: 'settings:secret_unavailable' });
  });

  it('counts a secret the adapter cannot read from the secret store (unreachable) as a settings fault, not an unknown outcome: given back, retried, then failed saying so', async () => {
    const { getSecretSetting } = await import('#shared/config.ts');
    const names = ['TWILIO_API_KEY_SECRET', 'TWILIO_API_KEY_SECRET_SECRET_ARN', 'AWS_ENDPOINT_URL_SECRETS_MANAGER'] as const;
    const saved = Object.fromEntries(names.map((n) => [n, process.env[n]]));
    delete process.env.TWILIO_API_KEY_SECRET;
    process.env.TWILIO_API_KEY_SECRET_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:twilio-AbCdEf';
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = 'http://127.0.0.1:1';
    try {
      const { job } = await heldMessage();
      // The adapter's first step, as the real adapters take it: the secret, before any call
      const noStore = fakeSender(async () => void (await getSecretSetting('TWILIO_API_KEY_SECRET')));
      expect(await modules.deliverOutbound(job, depsWith(noStore.sender))).toMatchObject({ result: 'later', why: 'transient', retryInSeconds: 10 });
      const held = await messageIn(job.conversationId, job.messageId);
      expect(held).toMatchObject({ status: 'queued', sendAttempts: 1 });
      expect(held?.outcomeUnknownAt).toBeUndefined();
      for (let i = 0; i < 3; i++) expect(await modules.deliverOutbound(job, depsWith(noStore.sender))).toMatchObject({ result: 'later', why: 'transient' });
      expect(await modules.deliverOutbound(job, depsWith(noStore.sender))).toEqual({ result: 'failed' });
      expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'failed', failureReason: 'settings:secret_unavailable' });
    } finally {
      for (const n of names) {
        if (saved[n] === undefined) delete process.env[n];
        else process.env[n] = saved[n];
      }
    }
  });

  it('treats an error of no kind the adapters give (a 2xx nobody could read, a bug) as an unknown outcome: no second call within the settle time', async () => {
    const { job } = await heldMessage();
    const odd = fakeSender(async () => {
      throw new TypeError("Cannot read properties of null (reading 'sid')");
    });
    expect(await modules.deliverOutbound(job, steppingDeps(odd.sender))).toEqual({ result: 'later', why: 'transient', retryInSeconds: modules.settleSeconds });
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'sending', outcomeUnknownAt: expect.any(String) });
  });

  it('fails a message on a channel that is not configured at all at once (channel_not_configured), so it holds nothing behind it', async () => {
    const { job } = await heldMessage();
    expect(await modules.deliverOutbound(job, await unconfiguredDeps())).toEqual({ result: 'failed' });
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'failed', failureReason: 'channel_not_configured' });
    // Never claimed: no try is counted for a call that was never made
    expect((await messageIn(job.conversationId, job.messageId))?.sendAttempts ?? 0).toBe(0);
  });

  describe('an email whose unsubscribe link cannot be signed (its secret cannot be had)', () => {
    const saved = { secret: process.env.UNSUBSCRIBE_SIGNING_SECRET, arn: process.env.UNSUBSCRIBE_SIGNING_SECRET_SECRET_ARN, endpoint: process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER };
    afterAll(() => {
      for (const [name, value] of [['UNSUBSCRIBE_SIGNING_SECRET', saved.secret], ['UNSUBSCRIBE_SIGNING_SECRET_SECRET_ARN', saved.arn], ['AWS_ENDPOINT_URL_SECRETS_MANAGER', saved.endpoint]] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    });
    const emailJob = async () => (await heldMessage({ channel: 'email', subject: 'Ticket 42', body: 'Your ticket is resolved.' })).job;

    it('fails the message at once (settings:secret_unavailable), unclaimed and never sent, when the secret is not set at all', async () => {
      const job = await emailJob();
      delete process.env.UNSUBSCRIBE_SIGNING_SECRET;
      delete process.env.UNSUBSCRIBE_SIGNING_SECRET_SECRET_ARN;
      const { calls, sender } = fakeSender();
      expect(await modules.deliverOutbound(job, depsWith(sender))).toEqual({ result: 'failed' });
      expect(calls).toHaveLength(0);
      const failed = await messageIn(job.conversationId, job.messageId);
      expect(failed).toMatchObject({ status: 'failed', failureReason: 'settings:secret_unavailable' });
      expect(failed?.sendAttempts ?? 0).toBe(0);
    });

    it('fails the job with nothing claimed when the secret store cannot be reached, so the retried job sends it, once, when it can', async () => {
      const job = await emailJob();
      delete process.env.UNSUBSCRIBE_SIGNING_SECRET;
      process.env.UNSUBSCRIBE_SIGNING_SECRET_SECRET_ARN = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:unsubscribe-AbCdEf';
      process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = 'http://127.0.0.1:1';
      const { calls, sender } = fakeSender();
      await expect(modules.deliverOutbound(job, depsWith(sender))).rejects.toThrow();
      expect(calls).toHaveLength(0);
      const held = await messageIn(job.conversationId, job.messageId);
      expect(held).toMatchObject({ status: 'queued' });
      expect(held?.sendAttempts ?? 0).toBe(0);
      process.env.UNSUBSCRIBE_SIGNING_SECRET = saved.secret ?? 'restored-secret';
      expect(await modules.deliverOutbound(job, depsWith(sender))).toEqual({ result: 'sent' });
      expect(calls).toHaveLength(1);
      expect(calls[0]!.unsubscribeUrl).toMatch(/\/unsubscribe\//);
    });
  });

  it('leaves a message another copy of the job sent meanwhile as sent when this copy refuses it before any claim', async () => {
    // Prepare: this copy finds the channel not configured (a container from before a settings deploy)
    const { job } = await heldMessage();
    const unconfigured = await unconfiguredDeps();
    const working = fakeSender();
    // Act: the other copy sends the message between this copy's read and its refusal
    const outcome = await withRaceBefore(
      'UpdateItemCommand',
      async () => expect(await modules.deliverOutbound(job, depsWith(working.sender))).toEqual({ result: 'sent' }),
      () => modules.deliverOutbound(job, unconfigured),
    );
    // Assess
    expect(outcome).toEqual({ result: { result: 'skipped' }, raced: true });
    expect(working.calls).toHaveLength(1);
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'sent', providerMessageId: expect.stringMatching(/^SM/) });
  });

  it('sends once the key is fixed within those tries', async () => {
    const { job } = await heldMessage();
    const refusing = fakeSender(async () => {
      throw new modules.errors.ProviderConfigError('sendgrid:401');
    });
    expect(await modules.deliverOutbound(job, depsWith(refusing.sender))).toMatchObject({ result: 'later', why: 'transient' });
    const working = fakeSender();
    expect(await modules.deliverOutbound(job, depsWith(working.sender))).toEqual({ result: 'sent' });
    expect(working.calls).toHaveLength(1);
  });

  it('marks a message failed with the provider’s reason on a permanent error, and never retries it', async () => {
    const { job } = await heldMessage();
    const refusing = fakeSender(async () => {
      throw new modules.errors.PermanentDeliveryError('twilio:21610');
    });
    expect(await modules.deliverOutbound(job, depsWith(refusing.sender))).toEqual({ result: 'failed' });
    expect(await modules.deliverOutbound(job, depsWith(refusing.sender))).toEqual({ result: 'skipped' });
    expect(refusing.calls).toHaveLength(1);
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'failed', failureReason: 'twilio:21610' });
  });

  it('checks consent again at send time: an opt-out after queueing fails the message, no provider call', async () => {
    const { job, customer } = await heldMessage();
    await modules.setConsent({ customerId: customer.customerId, channel: 'sms', status: 'opted_out', source: 'test', actor: 'test', now: new Date().toISOString() });
    const { calls, sender } = fakeSender();
    expect(await modules.deliverOutbound(job, depsWith(sender))).toEqual({ result: 'failed' });
    expect(calls).toHaveLength(0);
    const message = await messageIn(job.conversationId, job.messageId);
    expect(message).toMatchObject({ status: 'failed', failureReason: 'opted_out' });
    // No try went unanswered: nothing says it may have gone out.
    expect(message?.retryFailureReason).toBeUndefined();
  });

  it('re-renders a templated message from the approved version, and fails it once the version is revoked', async () => {
    const template = await approvedTemplate();
    const sent = await heldMessage({ body: undefined, templateId: template.templateId, variables: { name: 'Flo' } });
    const revoked = await heldMessage({ body: undefined, templateId: template.templateId, variables: { name: 'Gus' } });
    const { calls, sender } = fakeSender();
    expect(await modules.deliverOutbound(sent.job, depsWith(sender))).toEqual({ result: 'sent' });
    expect(calls[0]!.body).toMatch(/Hi Flo, service is restored\.$/);
    await jsonOf(await call('POST', `/templates/${template.templateId}/versions/1/revoke`, template.approver, { reason: 'Wrong ETA' }), 200);
    expect(await modules.deliverOutbound(revoked.job, depsWith(sender))).toEqual({ result: 'failed' });
    expect(calls).toHaveLength(1);
    expect(await messageIn(revoked.job.conversationId, revoked.job.messageId)).toMatchObject({ status: 'failed', failureReason: 'template_not_approved' });
  });

  it.each([
    ['kept from an earlier send', true],
    ['never read before', false],
  ])('fails a message whose version was revoked and whose customer opted out with opted_out, the version %s', async (_case, readBefore) => {
    // Prepare: one customer, two messages of one template; the first sent (or not), then the customer
    // opts out and the version is revoked
    const template = await approvedTemplate();
    const first = await heldMessage({ body: undefined, templateId: template.templateId, variables: { name: 'Flo' } });
    const customer = first.customer;
    const second = await modules.sendMessage({ conversationId: customer.conversationId, channel: 'sms', sentBy: 'agent-under-test', templateId: template.templateId, variables: { name: 'Gus' }, notBefore: new Date(Date.now() + HOUR).toISOString() });
    const { calls, sender } = fakeSender();
    if (readBefore) expect(await modules.deliverOutbound(first.job, depsWith(sender))).toEqual({ result: 'sent' });
    await modules.setConsent({ customerId: customer.customerId, channel: 'sms', status: 'opted_out', source: 'sms:STOP', actor: 'customer', now: new Date().toISOString() });
    await jsonOf(await call('POST', `/templates/${template.templateId}/versions/1/revoke`, template.approver, { reason: 'Recalled' }), 200);
    // Act
    const outcome = await modules.deliverOutbound({ messageId: second.messageId, conversationId: second.conversationId }, depsWith(sender));
    // Assess: the same reason either way, and nothing more reached the provider
    expect(outcome).toEqual({ result: 'failed' });
    expect(calls).toHaveLength(readBefore ? 1 : 0);
    expect(await messageIn(second.conversationId, second.messageId)).toMatchObject({ status: 'failed', failureReason: 'opted_out' });
  });
});

describe('sendMessage', () => {
  it('marks the message failed (enqueue_failed) and fails the request when the queue refuses the job', async () => {
    const customer = await newCustomer();
    const brokenQueue = {
      enqueue: async () => {
        throw new Error('SQS unavailable');
      },
      hideFor: async () => undefined,
    };
    await expect(
      modules.sendMessage({ conversationId: customer.conversationId, channel: 'chat', sentBy: 'agent-under-test', body: 'Lost?' }, { queue: brokenQueue, now: () => new Date() }),
    ).rejects.toThrow('Could not queue the outbound message');
    const outbound = (await thread(customer.conversationId)).filter((m) => m.direction === 'outbound');
    expect(outbound).toHaveLength(1);
    expect(outbound[0]).toMatchObject({ status: 'failed', failureReason: 'enqueue_failed', body: 'Lost?' });
  });
});

describe('a claim abandoned by its try (the function died, or its outcome write failed)', () => {
  /** Deps whose clock reads `at`. */
  const at = (sender: ChannelSender, when: Date): DeliverDeps => ({ senderFor: () => sender, now: () => when });
  const seconds = (from: Date, s: number) => new Date(from.getTime() + s * 1000);

  /** A held message claimed by a try that then died before calling anyone. */
  async function claimedThenAbandoned(channel: 'sms' | 'chat' = 'sms') {
    const { job } = await heldMessage({ channel });
    const claimedAt = new Date(Date.now() + 2 * HOUR);
    const message = (await modules.store.getOutboundMessage(job.conversationId, job.messageId))!;
    expect(await modules.store.claimForSending(message, claimedAt.toISOString())).toBe('claimed');
    return { job, claimedAt };
  }

  /**
   * The store refuses the sender's writes after the provider call (its `sent`) from the first one on,
   * `times` times (Infinity: until disarmed).
   */
  async function storeFaultAfterTheCall(times: number) {
    const { dynamoClient } = await import('#shared/data/client.ts');
    const name = `fail-sent-write-${randomBytes(4).toString('hex')}`;
    let armed = false;
    let left = times;
    dynamoClient.middlewareStack.add(
      (next, context) => async (args) => {
        if (armed && left > 0 && context.commandName === 'UpdateItemCommand') {
          left--;
          throw Object.assign(new Error('Service unavailable'), { name: 'InternalServerError' });
        }
        return next(args);
      },
      { step: 'initialize', name },
    );
    const sender = fakeSender(async () => {
      armed = true;
    });
    return { sender, remove: () => dynamoClient.middlewareStack.remove(name) };
  }

  it('comes back while the claiming try may still run, waits for the provider’s word, then fails the SMS (provider_outcome_unknown) without a second call', async () => {
    // Prepare
    const { job, claimedAt } = await claimedThenAbandoned();
    const retry = fakeSender();

    // Act + Assess: 10 s after the claim, the try may still be at work
    expect(await modules.deliverOutbound(job, at(retry.sender, seconds(claimedAt, 10)))).toEqual({ result: 'later', why: 'claimed', retryInSeconds: modules.claimLifetimeSeconds - 10 });
    // after the claim's lifetime it is abandoned: the provider still has time to speak
    expect(await modules.deliverOutbound(job, at(retry.sender, seconds(claimedAt, modules.claimLifetimeSeconds + 1)))).toEqual({
      result: 'later',
      why: 'claimed',
      retryInSeconds: modules.settleSeconds - modules.claimLifetimeSeconds - 1,
    });
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'sending', sendAttempts: 1 });
    // nobody named it: failed for a person to check, never sent a second time (two copies of the job at once)
    const later = seconds(claimedAt, modules.settleSeconds + 1);
    const outcomes = await Promise.all([modules.deliverOutbound(job, at(retry.sender, later)), modules.deliverOutbound(job, at(retry.sender, later))]);
    expect(outcomes.map((o) => o.result)).toContain('failed');
    expect(retry.calls).toHaveLength(0);
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'failed', failureReason: 'provider_outcome_unknown' });
  });

  it('sends an abandoned chat message again, once, after the settle time (chat has no callbacks; its backend drops a copy by messageId)', async () => {
    const { job, claimedAt } = await claimedThenAbandoned('chat');
    const retry = fakeSender(() => new Promise((r) => setTimeout(r, 50)));
    expect(await modules.deliverOutbound(job, at(retry.sender, seconds(claimedAt, modules.claimLifetimeSeconds + 1)))).toMatchObject({ result: 'later', why: 'transient' });
    expect(retry.calls).toHaveLength(0);
    const later = seconds(claimedAt, modules.settleSeconds + 1);
    const outcomes = await Promise.all([modules.deliverOutbound(job, at(retry.sender, later)), modules.deliverOutbound(job, at(retry.sender, later))]);
    expect(outcomes.map((o) => o.result)).toContain('sent');
    expect(retry.calls).toHaveLength(1);
    expect(retry.calls[0]).toMatchObject({ messageId: job.messageId, channel: 'chat' });
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'sent', sendAttempts: 2 });
  });

  it('records sent within the try when the store refuses the sent write for a moment: one call', async () => {
    const { job } = await heldMessage();
    const fault = await storeFaultAfterTheCall(2);
    try {
      expect(await modules.deliverOutbound(job, depsWith(fault.sender.sender))).toEqual({ result: 'sent' });
    } finally {
      fault.remove();
    }
    expect(fault.sender.calls).toHaveLength(1);
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'sent', providerMessageId: expect.stringMatching(/^SM/) });
  });

  it('after a store outage through the sent write: sends nothing more, sent once Twilio’s callback has named it, else failed for a person to check', async () => {
    for (const callback of [true, false]) {
      // Prepare: the provider accepts; the store refuses every write after it
      const { job } = await heldMessage();
      const fault = await storeFaultAfterTheCall(Number.POSITIVE_INFINITY);
      const claimedAt = new Date(Date.now() + 2 * HOUR);
      try {
        await expect(modules.deliverOutbound(job, at(fault.sender.sender, claimedAt))).rejects.toThrow('Service unavailable');
      } finally {
        fault.remove();
      }
      expect(fault.sender.calls).toHaveLength(1);
      expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'sending' });

      // Act: the store is back; Twilio's status callback arrives (or was lost), then the job's retry
      const sid = `SM${randomBytes(16).toString('hex')}`;
      if (callback) expect((await twilioStatusCallback(job, { MessageSid: sid, MessageStatus: 'sent' })).status).toBe(200);
      const retry = fakeSender();
      const outcome = await modules.deliverOutbound(job, at(retry.sender, seconds(claimedAt, modules.settleSeconds + 1)));

      // Assess: one provider call in all
      expect(retry.calls).toHaveLength(0);
      if (callback) {
        expect(outcome).toEqual({ result: 'skipped' });
        expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'sent', providerMessageId: sid });
      } else {
        expect(outcome).toEqual({ result: 'failed' });
        expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'failed', failureReason: 'provider_outcome_unknown' });
      }
    }
  });

  it('marks a chat message failed (provider_outcome_unknown) when its last try was the one abandoned, and calls nobody', async () => {
    // Prepare: four tries given back, then a fifth claim whose function died.
    const { job } = await heldMessage({ channel: 'chat' });
    const claimedAt = new Date(Date.now() + 2 * HOUR);
    for (let i = 0; i < 5; i++) {
      const message = (await modules.store.getOutboundMessage(job.conversationId, job.messageId))!;
      expect(await modules.store.claimForSending(message, claimedAt.toISOString())).toBe('claimed');
      if (i < 4) expect(await modules.store.releaseClaim(job.conversationId, job.messageId, claimedAt.toISOString())).toBe(true);
    }
    const retry = fakeSender();

    // Act
    const outcome = await modules.deliverOutbound(job, at(retry.sender, seconds(claimedAt, modules.settleSeconds + 1)));

    // Assess
    expect(outcome).toEqual({ result: 'failed' });
    expect(retry.calls).toHaveLength(0);
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'failed', failureReason: 'provider_outcome_unknown', sendAttempts: 5 });
  });
});

describe('the sender’s claim', () => {
  it('refuses, in the same transaction, to claim a templated message whose version was revoked after the sender read it', async () => {
    // Prepare: the sender has read the message (version approved)…
    const template = await approvedTemplate();
    const { job } = await heldMessage({ body: undefined, templateId: template.templateId, variables: { name: 'Ivy' } });
    const message = (await modules.store.getOutboundMessage(job.conversationId, job.messageId))!;
    // …then the version is revoked before the claim.
    await jsonOf(await call('POST', `/templates/${template.templateId}/versions/1/revoke`, template.approver, { reason: 'Recalled' }), 200);
    // Act
    const claim = await modules.store.claimForSending(message, new Date().toISOString());
    // Assess
    expect(claim).toBe('template_not_approved');
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'queued' });
  });
  it('refuses, in the same transaction, to claim a message whose customer opted out of the channel after the sender read consent; the provider is never called', async () => {
    // Prepare: an agent's SMS and a templated one, both read by the sender while the customer is opted in…
    const template = await approvedTemplate();
    const plain = await heldMessage();
    const templated = await heldMessage({ body: undefined, templateId: template.templateId, variables: { name: 'Ivy' } });
    for (const { customer } of [plain, templated]) {
      // …then the customer texts STOP, committed before the claim.
      await modules.setConsent({ customerId: customer.customerId, channel: 'sms', status: 'opted_out', source: 'sms:STOP', actor: 'customer', now: new Date().toISOString() });
    }
    // Act + Assess: the claim itself refuses, nothing moves.
    for (const { job } of [plain, templated]) {
      const message = (await modules.store.getOutboundMessage(job.conversationId, job.messageId))!;
      expect(await modules.store.claimForSending(message, new Date().toISOString())).toBe('opted_out');
      expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'queued' });
    }
    // And the sender, whose consent read raced the STOP, marks the message failed without a provider call.
    const raced = await heldMessage();
    const { calls, sender } = fakeSender();
    const outcome = await withRaceBeforeClaim(
      () => modules.setConsent({ customerId: raced.customer.customerId, channel: 'sms', status: 'opted_out', source: 'sms:STOP', actor: 'customer', now: new Date().toISOString() }),
      () => modules.deliverOutbound(raced.job, depsWith(sender)),
    );
    expect(outcome).toEqual({ result: { result: 'failed' }, raced: true });
    expect(calls).toHaveLength(0);
    expect(await messageIn(raced.job.conversationId, raced.job.messageId)).toMatchObject({ status: 'failed', failureReason: 'opted_out' });
  });
});

describe('a merge that moves the thread while a message is being sent', () => {
  /** Merges the held message's customer into a new one (marks it, moves its thread), as a linking chat would. */
  async function mergeAway(customerId: string) {
    const { markCustomerMerged, moveThread } = await import('#shared/data/conversation-store.ts');
    const survivor = await newCustomer();
    await markCustomerMerged(customerId, survivor.customerId, new Date().toISOString());
    await moveThread(`conv_${customerId.slice(4)}`, survivor.conversationId, survivor.customerId);
    return survivor;
  }

  it('sends the message from where it lives now when the move lands just before the claim', async () => {
    const { customer, job } = await heldMessage();
    const { calls, sender } = fakeSender();
    let survivor: Awaited<ReturnType<typeof mergeAway>> | undefined;
    const outcome = await withRaceBeforeClaim(
      async () => (survivor = await mergeAway(customer.customerId)),
      () => modules.deliverOutbound(job, depsWith(sender)),
    );
    expect(outcome).toEqual({ result: { result: 'sent' }, raced: true });
    expect(calls).toHaveLength(1);
    expect(await messageIn(survivor!.conversationId, job.messageId)).toMatchObject({ status: 'sent', providerMessageId: expect.stringMatching(/^SM/), sendAttempts: 1 });
    expect(await modules.store.getOutboundMessage(job.conversationId, job.messageId)).toBeUndefined(); // gone from the absorbed thread
  });

  it('does not send to a customer whose merge is under way and who opted out through the survivor (the thread not moved yet)', async () => {
    // Prepare: the message's customer is marked merged into a survivor, whose phone then texts STOP;
    // the message still sits in the absorbed thread under the absorbed customer.
    const { customer, job } = await heldMessage();
    const { markCustomerMerged } = await import('#shared/data/conversation-store.ts');
    const survivor = await newCustomer();
    await markCustomerMerged(customer.customerId, survivor.customerId, new Date().toISOString());
    await modules.setConsent({ customerId: survivor.customerId, channel: 'sms', status: 'opted_out', source: 'sms:STOP', actor: 'customer', now: new Date().toISOString() });
    const { calls, sender } = fakeSender();
    // Act
    expect(await modules.deliverOutbound(job, depsWith(sender))).toEqual({ result: 'failed' });
    // Assess
    expect(calls).toHaveLength(0);
    expect(await modules.store.getOutboundMessage(job.conversationId, job.messageId)).toMatchObject({ status: 'failed', failureReason: 'opted_out' });
  });

  it('does not send when a customer merged on the way to the live one opted out and has not passed it on yet (a chain of merges)', async () => {
    // Prepare: the message's customer A was merged into B, and B (who had texted STOP) into C; the merge
    // of B into C has been marked but has not copied B's opt-out to C yet
    const { customer, job } = await heldMessage();
    const { markCustomerMerged } = await import('#shared/data/conversation-store.ts');
    const middle = await newCustomer();
    const live = await newCustomer();
    await modules.setConsent({ customerId: middle.customerId, channel: 'sms', status: 'opted_out', source: 'sms:STOP', actor: 'customer', now: new Date().toISOString() });
    await markCustomerMerged(customer.customerId, middle.customerId, new Date().toISOString());
    await markCustomerMerged(middle.customerId, live.customerId, new Date().toISOString());
    const { calls, sender } = fakeSender();
    // Act
    expect(await modules.deliverOutbound(job, depsWith(sender))).toEqual({ result: 'failed' });
    // Assess
    expect(calls).toHaveLength(0);
    expect(await modules.store.getOutboundMessage(job.conversationId, job.messageId)).toMatchObject({ status: 'failed', failureReason: 'opted_out' });
  });

  it('decides again when the merge and the survivor’s STOP land between the sender’s checks and its claim', async () => {
    const { customer, job } = await heldMessage();
    const { markCustomerMerged } = await import('#shared/data/conversation-store.ts');
    const { calls, sender } = fakeSender();
    const outcome = await withRaceBeforeClaim(
      async () => {
        const survivor = await newCustomer();
        await markCustomerMerged(customer.customerId, survivor.customerId, new Date().toISOString());
        await modules.setConsent({ customerId: survivor.customerId, channel: 'sms', status: 'opted_out', source: 'sms:STOP', actor: 'customer', now: new Date().toISOString() });
      },
      () => modules.deliverOutbound(job, depsWith(sender)),
    );
    expect(outcome).toEqual({ result: { result: 'failed' }, raced: true });
    expect(calls).toHaveLength(0);
    expect(await modules.store.getOutboundMessage(job.conversationId, job.messageId)).toMatchObject({ status: 'failed', failureReason: 'opted_out' });
  });

  it('records the provider’s answer on the moved message when the move lands during the provider call', async () => {
    const { customer, job } = await heldMessage();
    let survivor: Awaited<ReturnType<typeof mergeAway>> | undefined;
    const { calls, sender } = fakeSender(async () => {
      survivor = await mergeAway(customer.customerId);
    });
    expect(await modules.deliverOutbound(job, depsWith(sender))).toEqual({ result: 'sent' });
    expect(calls).toHaveLength(1);
    expect(await messageIn(survivor!.conversationId, job.messageId)).toMatchObject({ status: 'sent', providerMessageId: expect.stringMatching(/^SM/) });
  });

  it('gives the claim back on the moved message when the provider refuses during the move, and the retry sends it once', async () => {
    const { customer, job } = await heldMessage();
    let survivor: Awaited<ReturnType<typeof mergeAway>> | undefined;
    const refusing = fakeSender(async () => {
      survivor = await mergeAway(customer.customerId);
      throw new modules.errors.TransientDeliveryError('Twilio answered 503');
    });
    expect(await modules.deliverOutbound(job, depsWith(refusing.sender))).toMatchObject({ result: 'later', why: 'transient' });
    expect(await messageIn(survivor!.conversationId, job.messageId)).toMatchObject({ status: 'queued' });
    // The queued job still names the old conversation: the retry follows the merge.
    const working = fakeSender();
    expect(await modules.deliverOutbound(job, depsWith(working.sender))).toEqual({ result: 'sent' });
    expect(working.calls).toHaveLength(1);
  });
});

describe('SendGrid events of another send', () => {
  it('still record the customer’s opt-out, while their delivery events leave the message alone', async () => {
    // Prepare: an email SendGrid accepted as X-Message-Id `sg-accepted`.
    const { customer, job } = await heldMessage({ channel: 'email', subject: 'Ticket 42', body: 'Your ticket is resolved.' });
    const message = (await modules.store.getOutboundMessage(job.conversationId, job.messageId))!;
    expect(await modules.store.claimForSending(message, new Date().toISOString())).toBe('claimed');
    await modules.store.recordSent(job.conversationId, job.messageId, { provider: 'sendgrid', providerMessageId: 'sg-accepted' }, new Date().toISOString());
    const { applySendgridEvents } = await import('#shared/outbound/status-callbacks.ts');
    const { listConsent } = await import('#shared/data/consent-store.ts');
    const about = { messageId: job.messageId, conversationId: job.conversationId, email: 'someone@example.com', sg_message_id: 'sg-other.filter0001.0' };
    // Act: events whose sg_message_id names another send (a duplicate send, or SendGrid's id lost).
    await applySendgridEvents([{ ...about, event: 'bounce' }]);
    await applySendgridEvents([{ ...about, event: 'unsubscribe' }]);
    // Assess
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'sent' });
    expect((await listConsent(customer.customerId)).email).toBe('opted_out');
  });
});

describe('status order between the sender and the provider’s callbacks', () => {
  it('keeps a delivered callback that arrives before the sender recorded sent', async () => {
    // Prepare: the sender has claimed the message and called the provider, which answers with its id…
    const { job } = await heldMessage();
    const message = (await modules.store.getOutboundMessage(job.conversationId, job.messageId))!;
    expect(await modules.store.claimForSending(message, new Date().toISOString())).toBe('claimed');
    const providerMessageId = `SM${randomBytes(16).toString('hex')}`;
    // Act: …whose delivered callback lands first, then the sender records sent.
    expect(await modules.applyDeliveryStatus({ ...job, status: 'delivered', providerMessageId })).toBe('updated');
    expect(await modules.applyDeliveryStatus({ ...job, status: 'delivered', providerMessageId: 'SMother' })).toBe('stale');
    await modules.store.recordSent(job.conversationId, job.messageId, { provider: 'twilio', providerMessageId }, new Date().toISOString());
    // Assess
    expect(await messageIn(job.conversationId, job.messageId)).toMatchObject({ status: 'delivered', provider: 'twilio', providerMessageId, sentAt: expect.any(String) });
  });
});

describe('the outbound consumer', () => {
  it('fails a record untried when the one before it in its conversation did not go, so messages never overtake', async () => {
    // Prepare: a held message, then a plain one in the same conversation, written with no job of its own
    // (so only the batch below can send it: were it tried, it would go out).
    const { customer, job } = await heldMessage();
    const next = await modules.store.appendOutboundMessage({
      messageId: `msg_${randomBytes(16).toString('hex')}`,
      conversationId: customer.conversationId,
      customerId: customer.customerId,
      channel: 'sms',
      direction: 'outbound',
      body: 'second',
      createdAt: new Date().toISOString(),
      to: customer.phone!,
      sentBy: 'agent-under-test',
      automated: false,
    });
    const record = (messageId: string, group: string, body: unknown) => ({
      messageId,
      receiptHandle: `not-a-receipt-${messageId}`,
      body: JSON.stringify(body),
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: '0', SenderId: 'x', ApproximateFirstReceiveTimestamp: '0', MessageGroupId: group },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:outbound.fifo',
      awsRegion: 'us-east-1',
    });
    const event = {
      Records: [
        record('r1', customer.conversationId, { messageId: job.messageId, conversationId: customer.conversationId }),
        record('r2', customer.conversationId, { messageId: next.messageId, conversationId: customer.conversationId }),
        record('r3', 'conv_other', { messageId: `msg_${randomBytes(16).toString('hex')}`, conversationId: `conv_${randomBytes(16).toString('hex')}` }),
      ],
    };
    // Watch the visibility changes the consumer asks for (the receipts are not real: SQS refuses them after).
    const { outboundSqsClient } = await import('#shared/adapters/sqs/outbound-queue.adapter.ts');
    const hidden = new Map<string, number>();
    const name = `watch-visibility-${randomBytes(4).toString('hex')}`;
    outboundSqsClient.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { ReceiptHandle?: string; VisibilityTimeout?: number };
        if (input.ReceiptHandle !== undefined && input.VisibilityTimeout !== undefined) hidden.set(input.ReceiptHandle, input.VisibilityTimeout);
        return next(args);
      },
      { step: 'initialize', name },
    );
    // Act
    let result;
    try {
      result = await modules.handler(event as never, modules.createLambdaContext('OutboundSender', 30_000));
    } finally {
      outboundSqsClient.middlewareStack.remove(name);
    }
    // Assess
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'r1' }, { itemIdentifier: 'r2' }] });
    expect(await messageIn(customer.conversationId, next.messageId)).toMatchObject({ status: 'queued' });
    // The held one is hidden until its slot, and the one behind it as long (not the queue's whole
    // visibility timeout, which would hold the conversation's group that long).
    expect(hidden.get('not-a-receipt-r1')).toBeGreaterThan(3500);
    expect(hidden.get('not-a-receipt-r2')).toBe(hidden.get('not-a-receipt-r1'));
    expect(hidden.has('not-a-receipt-r3')).toBe(false);
  });

  it('retries a job whose send failed on a store fault in a minute (its first receive), and the one behind it as long', async () => {
    // Prepare: two queued messages of one conversation; the store fails reading the first.
    const customer = await newCustomer();
    const queued = async (body: string) =>
      modules.store.appendOutboundMessage({
        messageId: `msg_${randomBytes(16).toString('hex')}`,
        conversationId: customer.conversationId,
        customerId: customer.customerId,
        channel: 'sms',
        direction: 'outbound',
        body,
        createdAt: new Date().toISOString(),
        to: customer.phone!,
        sentBy: 'agent-under-test',
        automated: false,
      });
    const [first, second] = [await queued('first'), await queued('second')];
    const record = (id: string, messageId: string) => ({
      messageId: id,
      receiptHandle: `not-a-receipt-${id}`,
      body: JSON.stringify({ messageId, conversationId: customer.conversationId }),
      attributes: { ApproximateReceiveCount: '1', SentTimestamp: '0', SenderId: 'x', ApproximateFirstReceiveTimestamp: '0', MessageGroupId: customer.conversationId },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:outbound.fifo',
      awsRegion: 'us-east-1',
    });
    const { dynamoClient } = await import('#shared/data/client.ts');
    const { outboundSqsClient } = await import('#shared/adapters/sqs/outbound-queue.adapter.ts');
    const hidden = new Map<string, number>();
    const names = [`store-fault-${randomBytes(4).toString('hex')}`, `watch-${randomBytes(4).toString('hex')}`];
    dynamoClient.middlewareStack.add(
      (next) => async (args) => {
        const key = (args.input as { Key?: Record<string, unknown> }).Key;
        if (key?.sk === `MSG#${first.messageId}`) throw Object.assign(new Error('Service unavailable'), { name: 'InternalServerError' });
        return next(args);
      },
      { step: 'initialize', name: names[0] },
    );
    outboundSqsClient.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { ReceiptHandle?: string; VisibilityTimeout?: number };
        if (input.ReceiptHandle !== undefined && input.VisibilityTimeout !== undefined) hidden.set(input.ReceiptHandle, input.VisibilityTimeout);
        return next(args);
      },
      { step: 'initialize', name: names[1] },
    );
    // Act
    let result;
    try {
      result = await modules.handler({ Records: [record('f1', first.messageId), record('f2', second.messageId)] } as never, modules.createLambdaContext('OutboundSender', 30_000));
    } finally {
      dynamoClient.middlewareStack.remove(names[0]!);
      outboundSqsClient.middlewareStack.remove(names[1]!);
    }
    // Assess: both back in a minute, in order, neither sent
    expect(result).toEqual({ batchItemFailures: [{ itemIdentifier: 'f1' }, { itemIdentifier: 'f2' }] });
    expect(Object.fromEntries(hidden)).toEqual({ 'not-a-receipt-f1': 60, 'not-a-receipt-f2': 60 });
    expect(await messageIn(customer.conversationId, first.messageId)).toMatchObject({ status: 'queued' });
    expect(await messageIn(customer.conversationId, second.messageId)).toMatchObject({ status: 'queued' });
  });

  it('sends once when the same job is delivered twice', async () => {
    // Prepare: a message the consumer sent.
    const customer = await newCustomer();
    const first = await jsonOf<{ messageId: string }>(await send(customer.conversationId, { channel: 'chat', body: 'only once' }), 202);
    await waitForStatus(customer.conversationId, first.messageId, 'sent');
    // Act: a second copy of its job (another deduplication id, as after the 5-minute window), then a marker behind it.
    const env = stackEnv();
    const sqs = new SQSClient({ endpoint: env.SQS_ENDPOINT, region: env.AWS_REGION, credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } });
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: env.OUTBOUND_QUEUE_URL,
        MessageBody: JSON.stringify({ messageId: first.messageId, conversationId: customer.conversationId }),
        MessageGroupId: customer.conversationId,
        MessageDeduplicationId: `again-${first.messageId}`,
      }),
    );
    sqs.destroy();
    const marker = await jsonOf<{ messageId: string }>(await send(customer.conversationId, { channel: 'chat', body: 'marker' }), 202);
    await waitForStatus(customer.conversationId, marker.messageId, 'sent');
    // Assess: the duplicate ran before the marker (same FIFO group) and added nothing.
    const entries = await outbox(customer.conversationId);
    expect(entries.filter((e) => e.messageId === first.messageId)).toHaveLength(1);
    expect(entries).toHaveLength(2);
  });

  it('never sends a templated message whose version was revoked after it was queued', async () => {
    // Prepare: queued with a short hold, so the revoke lands before the sender runs.
    const template = await approvedTemplate();
    const customer = await newCustomer();
    const queued = await modules.sendMessage({
      conversationId: customer.conversationId,
      channel: 'sms',
      sentBy: 'agent-under-test',
      templateId: template.templateId,
      variables: { name: 'Hal' },
      notBefore: new Date(Date.now() + 2500).toISOString(),
    });
    // Act
    await jsonOf(await call('POST', `/templates/${template.templateId}/versions/1/revoke`, template.approver, { reason: 'Recalled' }), 200);
    // Assess
    const failed = await waitForStatus(customer.conversationId, queued.messageId, ['failed', 'sent'], 20_000);
    expect(failed).toMatchObject({ status: 'failed', failureReason: 'template_not_approved' });
    expect(await outbox(customer.conversationId)).toEqual([]);
  });
});
