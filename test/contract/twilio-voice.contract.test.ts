import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import VoiceResponse from 'twilio/lib/twiml/VoiceResponse.js';
import type { TwilioSettings } from '#shared/adapters/providers/twilio-rest.client.ts';
import { createTwilioVoiceSender, sayTwiml } from '#shared/adapters/providers/twilio-voice.adapter.ts';
import { refusedUrl } from '#test/fakes/http-server.ts';
import { officialTwilioClient } from '#test/fakes/official-clients.ts';
import { startTwilioApiFake, type TwilioApiFake } from '#test/fakes/twilio-api.fake.ts';
import { delivery, expectPermanent, expectTransient, freshPhone } from './support.ts';

const FROM = '+16285550100';
const CALLBACK = 'https://support.example.com/webhooks/twilio/status';

/** The reference: twilio's own TwiML builder. */
const officialSay = (text: string) => {
  const response = new VoiceResponse();
  response.say(text);
  return response.toString();
};
const officialAccepts = (text: string) => {
  try {
    officialSay(text);
    return true;
  } catch {
    return false;
  }
};

describe('voice TwiML: twilio\'s VoiceResponse, minus the characters XML forbids', () => {
  const xml = (say: string) => `<?xml version="1.0" encoding="UTF-8"?><Response>${say}</Response>`;
  it.each([
    ['plain text', 'Your appointment is tomorrow at 9.', xml('<Say>Your appointment is tomorrow at 9.</Say>')],
    ['markup cannot inject TwiML', 'a & b </Say><Play>x</Play>', xml('<Say>a &amp; b &lt;/Say&gt;&lt;Play&gt;x&lt;/Play&gt;</Say>')],
    ['emoji and accents', 'Bonjour 😀 ünïcode', xml('<Say>Bonjour 😀 ünïcode</Say>')],
    ['control characters dropped', 'a\u0001b\u001Fc', xml('<Say>abc</Say>')],
    ['a lone surrogate dropped', 'a\uD800b', xml('<Say>ab</Say>')],
    ['empty text', '', xml('<Say/>')],
  ])('%s', (_name, text, expected) => {
    expect(sayTwiml(text)).toBe(expected);
  });

  it('keeps every text VoiceResponse accepts as it is (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (text) => {
        fc.pre(officialAccepts(text));
        expect(sayTwiml(text)).toBe(officialSay(text));
      }),
      { numRuns: 500 },
    );
  });

  it('drops the characters XML forbids (where VoiceResponse would throw), keeping the rest', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (text) => {
        const allowed = [...text].filter((ch) => officialAccepts(ch)).join('');
        expect(sayTwiml(text)).toBe(officialSay(allowed));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('Twilio voice adapter against a local Twilio Calls API (contract)', () => {
  let twilio: TwilioApiFake;
  const settings = (overrides: Partial<TwilioSettings> = {}): TwilioSettings => ({
    accountSid: twilio.accountSid,
    apiKeySid: twilio.apiKeySid,
    apiKeySecret: async () => twilio.apiKeySecret,
    from: FROM,
    baseUrl: twilio.baseUrl,
    ...overrides,
  });
  const voice = (overrides: Partial<TwilioSettings> = {}) => createTwilioVoiceSender(settings(overrides));

  beforeAll(async () => {
    twilio = await startTwilioApiFake();
  });
  afterAll(() => twilio.close());

  it('creates a Call with To, From, the Say TwiML and a StatusCallback for `initiated` and `completed`, and answers the Call SID', async () => {
    // Prepare
    const to = freshPhone();

    // Act
    const result = await voice().send(delivery({ channel: 'voice', to, body: 'Your refund <#42> is on its way & will arrive Monday.', statusCallbackUrl: CALLBACK }));

    // Assess
    const received = twilio.requests.at(-1)!;
    expect(received).toMatchObject({ resource: 'Calls', accountSid: twilio.accountSid, status: 201, contentType: 'application/x-www-form-urlencoded' });
    expect(received.params).toEqual({
      To: to,
      From: FROM,
      Twiml: '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Your refund &lt;#42&gt; is on its way &amp; will arrive Monday.</Say></Response>',
      StatusCallback: CALLBACK,
      StatusCallbackEvent: ['initiated', 'completed'],
    });
    expect(result).toEqual({ provider: 'twilio', providerMessageId: received.sid });
    expect(result.providerMessageId).toMatch(/^CA[0-9a-f]{32}$/);
  });

  it('sends exactly the form the official twilio client sends (calls.create with VoiceResponse TwiML)', async () => {
    // Prepare
    const to = freshPhone();
    const say = 'Hello & welcome <back>';

    // Act
    await voice().send(delivery({ channel: 'voice', to, body: say, statusCallbackUrl: CALLBACK }));
    const ours = twilio.requests.at(-1)!;
    await officialTwilioClient(twilio).calls.create({ to, from: FROM, twiml: officialSay(say), statusCallback: CALLBACK, statusCallbackEvent: ['initiated', 'completed'] });
    const theirs = twilio.requests.at(-1)!;

    // Assess
    expect(theirs.status).toBe(201);
    expect(ours.params).toEqual(theirs.params);
  });

  it('omits StatusCallback and its event when the delivery has no callback URL', async () => {
    await voice().send(delivery({ channel: 'voice', to: freshPhone() }));
    expect(Object.keys(twilio.requests.at(-1)!.params).sort()).toEqual(['From', 'To', 'Twiml']);
  });

  it('an invalid To (21211) is permanent `twilio:21211`', async () => {
    await expectPermanent(voice().send(delivery({ channel: 'voice', to: 'not-a-number' })), 'twilio:21211');
  });

  it('a blocked destination (21216) is permanent `twilio:21216`', async () => {
    const to = freshPhone();
    twilio.failNext({ to, resource: 'Calls', status: 400, code: 21216 });
    await expectPermanent(voice().send(delivery({ channel: 'voice', to })), 'twilio:21216');
  });

  it('429, 500 and a refused connection are transient', async () => {
    const to = freshPhone();
    twilio.failNext({ to, status: 429 });
    await expectTransient(voice().send(delivery({ channel: 'voice', to })));
    twilio.failNext({ to, status: 500 });
    await expectTransient(voice().send(delivery({ channel: 'voice', to })));
    await expectTransient(voice({ baseUrl: await refusedUrl() }).send(delivery({ channel: 'voice', to })));
    expect(twilio.requests.filter((r) => r.params.To === to).map((r) => r.status)).toEqual([429, 500]);
  });
});
