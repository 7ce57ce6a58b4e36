import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTwilioSmsSender } from '#shared/adapters/providers/twilio-sms.adapter.ts';
import type { TwilioSettings } from '#shared/adapters/providers/twilio-rest.client.ts';
import { refusedUrl } from '#test/fakes/http-server.ts';
import { officialTwilioClient } from '#test/fakes/official-clients.ts';
import { startTwilioApiFake, type TwilioApiFake } from '#test/fakes/twilio-api.fake.ts';
import { delivery, errorText, expectConfigFault, expectPermanent, expectTransient, freshPhone } from './support.ts';

const FROM = '+16285550100';
const CALLBACK = 'https://support.example.com/webhooks/twilio/status';

describe('Twilio SMS adapter against a local Twilio Messages API (contract)', () => {
  let twilio: TwilioApiFake;
  const settings = (overrides: Partial<TwilioSettings> = {}): TwilioSettings => ({
    accountSid: twilio.accountSid,
    apiKeySid: twilio.apiKeySid,
    apiKeySecret: async () => twilio.apiKeySecret,
    from: FROM,
    baseUrl: twilio.baseUrl,
    ...overrides,
  });
  const sms = (overrides: Partial<TwilioSettings> = {}) => createTwilioSmsSender(settings(overrides));

  beforeAll(async () => {
    twilio = await startTwilioApiFake();
  });
  afterAll(() => twilio.close());

  it('creates a Message with To, From, Body and StatusCallback, authenticated with the API key, and answers its SID', async () => {
    // Prepare
    const to = freshPhone();

    // Act
    const result = await sms().send(delivery({ channel: 'sms', to, body: 'Your order #42 has shipped 📦', statusCallbackUrl: CALLBACK }));

    // Assess
    const received = twilio.requests.at(-1)!;
    expect(received).toMatchObject({ resource: 'Messages', accountSid: twilio.accountSid, status: 201, contentType: 'application/x-www-form-urlencoded' });
    expect(received.params).toEqual({ To: to, From: FROM, Body: 'Your order #42 has shipped 📦', StatusCallback: CALLBACK });
    expect(result).toEqual({ provider: 'twilio', providerMessageId: received.sid });
    expect(result.providerMessageId).toMatch(/^SM[0-9a-f]{32}$/);
  });

  it('sends exactly the form the official twilio client sends for the same message', async () => {
    // Prepare
    const to = freshPhone();
    const body = 'Ünïcode & symbols <ok> = fine';

    // Act
    await sms().send(delivery({ channel: 'sms', to, body, statusCallbackUrl: CALLBACK }));
    const ours = twilio.requests.at(-1)!;
    const official = await officialTwilioClient(twilio).messages.create({ to, from: FROM, body, statusCallback: CALLBACK });
    const theirs = twilio.requests.at(-1)!;

    // Assess
    expect(official.sid).toBe(theirs.sid);
    expect(ours.params).toEqual(theirs.params);
    expect(ours.contentType).toBe(theirs.contentType);
  });

  it('the official client reads the fake\'s errors as Twilio errors (code, status, more_info)', async () => {
    // Prepare
    const to = freshPhone();
    twilio.failNext({ to, status: 400, code: 21610 });

    // Act
    const err = await officialTwilioClient(twilio).messages.create({ to, from: FROM, body: 'hi' }).catch((e: unknown) => e);

    // Assess
    expect(err).toMatchObject({ status: 400, code: 21610, moreInfo: 'https://www.twilio.com/docs/errors/21610' });
  });

  it('omits StatusCallback when the delivery has none', async () => {
    await sms().send(delivery({ channel: 'sms', to: freshPhone() }));
    expect(Object.keys(twilio.requests.at(-1)!.params).sort()).toEqual(['Body', 'From', 'To']);
  });

  it('a recipient who texted STOP (21610) is a permanent failure `twilio:21610`, and nothing in the error names the number or the text', async () => {
    // Prepare
    const to = freshPhone();
    twilio.optOut(to);

    // Act
    const err = await expectPermanent(sms().send(delivery({ channel: 'sms', to, body: 'secret body text' })), 'twilio:21610');
    expect(err.recipientOptedOut).toBe(true);

    // Assess
    expect(twilio.requests.at(-1)).toMatchObject({ status: 400, params: { To: to } });
    expect(errorText(err)).not.toContain(to.slice(1));
    expect(errorText(err)).not.toContain('secret body text');
  });

  it('an invalid To (21211, the real validation) is permanent `twilio:21211`', async () => {
    await expectPermanent(sms().send(delivery({ channel: 'sms', to: '0628 555 0199' })), 'twilio:21211');
    expect(twilio.requests.at(-1)!.status).toBe(400);
  });

  it('a number that cannot receive SMS (21614) is permanent `twilio:21614`', async () => {
    const to = freshPhone();
    twilio.failNext({ to, status: 400, code: 21614 });
    await expectPermanent(sms().send(delivery({ channel: 'sms', to })), 'twilio:21614');
  });

  it('wrong API key credentials (401, 20003) are a settings fault `twilio:20003`: the message goes out once the key is fixed', async () => {
    const before = twilio.unauthenticated;
    await expectConfigFault(sms({ apiKeySecret: async () => 'not-the-secret' }).send(delivery({ channel: 'sms', to: freshPhone() })), 'twilio:20003');
    expect(twilio.unauthenticated).toBe(before + 1);
  });

  it('429 Too Many Requests (20429) is transient', async () => {
    const to = freshPhone();
    twilio.failNext({ to, status: 429 });
    await expectTransient(sms().send(delivery({ channel: 'sms', to })));
    expect(twilio.requests.at(-1)).toMatchObject({ status: 429 });
  });

  it('500 twice is transient twice, and the third try is sent once', async () => {
    // Prepare
    const to = freshPhone();
    const message = delivery({ channel: 'sms', to });
    twilio.failNext({ to, status: 500, times: 2 });
    const sender = sms();

    // Act
    await expectTransient(sender.send(message));
    await expectTransient(sender.send(message));
    const result = await sender.send(message);

    // Assess
    const forThisNumber = twilio.requests.filter((r) => r.params.To === to);
    expect(forThisNumber.map((r) => r.status)).toEqual([500, 500, 201]);
    expect(result.providerMessageId).toBe(forThisNumber[2]!.sid);
  });

  it('503 is transient with an unknown outcome: a 5xx from in front of the API may come after the message was created', async () => {
    const to = freshPhone();
    twilio.failNext({ to, status: 503, code: 20503 });
    expect((await expectTransient(sms().send(delivery({ channel: 'sms', to })))).outcomeUnknown).toBe(true);
  });

  it('a full queue of the sender number (21611, a 400) is transient: not now, rather than never', async () => {
    const to = freshPhone();
    twilio.failNext({ to, status: 400, code: 21611 });
    expect((await expectTransient(sms().send(delivery({ channel: 'sms', to })))).outcomeUnknown).toBe(false);
  });

  it('a refusal other than 21610 does not say the recipient opted out', async () => {
    const to = freshPhone();
    twilio.failNext({ to, status: 400, code: 21614 });
    expect((await expectPermanent(sms().send(delivery({ channel: 'sms', to })), 'twilio:21614')).recipientOptedOut).toBe(false);
  });

  it('a refused connection is transient, and the message surely not sent', async () => {
    const err = await expectTransient(sms({ baseUrl: await refusedUrl() }).send(delivery({ channel: 'sms', to: freshPhone() })));
    expect(err.outcomeUnknown).toBe(false);
  });

  it('no answer within the timeout is transient with an unknown outcome (Twilio may have the message)', async () => {
    twilio.delayNext(1_000);
    const err = await expectTransient(sms({ timeoutMs: 200 }).send(delivery({ channel: 'sms', to: freshPhone() })));
    expect(err.message).toContain('no answer');
    expect(err.outcomeUnknown).toBe(true);
  });
});
