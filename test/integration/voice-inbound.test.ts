import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { applyMutations, bodyMutation, encodeForm, fieldMutation, FORM_MARKERS, randomFormBody, twilioSignature, twilioSigning } from '#test/helpers/hostile.ts';
import { baseUrl, postTwilioBody, postTwilioForm, stackEnv } from '#test/helpers/index.ts';
import { allMessages, customerBy, expectError, expectNothingWritten, freshPhone, sid, twilioOutcome, writeWatch } from './support.ts';

const post = (path: string, params: Record<string, string>, signature?: string) =>
  postTwilioForm(baseUrl(), path, params, { authToken: stackEnv().TWILIO_AUTH_TOKEN, ...(signature !== undefined ? { signature } : {}) });

describe('Twilio Voice: disclosure, recording, transcription into the caller’s thread', () => {
  it('tells the caller an automated system records the call and how to reach a person, then records with transcription', async () => {
    const res = await post('/webhooks/twilio/voice', { CallSid: sid('CA'), From: freshPhone(), To: '+16285550000', CallStatus: 'ringing' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/xml');
    const xml = await res.text();
    const say = /<Say[^>]*>([^<]*)<\/Say>/.exec(xml)?.[1] ?? '';
    expect(say).toMatch(/automated system/i);
    expect(say).toMatch(/recorded/i);
    expect(say).toMatch(/person/i);
    expect(xml.indexOf('<Say')).toBeLessThan(xml.indexOf('<Record'));
    expect(xml).toContain('transcribe="true"');
    expect(xml).toContain(`transcribeCallback="${stackEnv().PUBLIC_BASE_URL}/webhooks/twilio/voice/transcription"`);
  });

  it('tells callers who withhold their number that the system is automated and how to reach a person, and records nothing', async () => {
    // Twilio's digit forms of ANONYMOUS, UNAVAILABLE, RESTRICTED and BLOCKED call nobody back (UNAVAILABLE's,
    // +86282452253, is a possible Chinese number: only the withheld-ID list stops it).
    const longSip = `sip:${'operator.'.repeat(12)}desk@pbx.eu-west-1.sip.twilio.com;transport=tls;user=phone`;
    for (const from of ['Anonymous', 'client:agent-1', 'sip:bob@example.com', longSip, '+266696687', '+86282452253', '+7378742833', '+2562533']) {
      const res = await post('/webhooks/twilio/voice', { CallSid: sid('CA'), From: from, To: '+16285550000', CallStatus: 'ringing' });
      expect(res.status, from).toBe(200);
      const xml = await res.text();
      expect(xml, from).toMatch(/automated system/);
      expect(xml, from).toMatch(/reach a person/);
      expect(xml, from).toContain('<Hangup');
      expect(xml, from).not.toContain('<Record');
    }
  });

  it('thanks the caller and hangs up after the recording instead of recording again', async () => {
    const res = await postTwilioForm(baseUrl(), '/webhooks/twilio/voice?step=recorded', { CallSid: sid('CA'), From: freshPhone(), To: '+16285550000', RecordingSid: sid('RE') }, { authToken: stackEnv().TWILIO_AUTH_TOKEN });
    expect(res.status).toBe(200);
    const xml = await res.text();
    expect(xml).toContain('<Hangup');
    expect(xml).not.toContain('<Record');
  });

  it('stores the transcription as a voice message in the same thread as the caller’s SMS, once', async () => {
    // Prepare: the caller texted before.
    const phone = freshPhone();
    await post('/webhooks/twilio/sms', { MessageSid: sid('SM'), From: phone, To: '+16285550000', Body: 'texted first', NumMedia: '0' });
    const transcription = {
      CallSid: sid('CA'),
      RecordingSid: sid('RE'),
      TranscriptionSid: sid('TR'),
      TranscriptionText: 'I need to dispute a payment',
      TranscriptionStatus: 'completed',
      From: phone,
      To: '+16285550000',
    };
    // Act
    const res = await post('/webhooks/twilio/voice/transcription', transcription);
    // Assess
    expect(res.status).toBe(200);
    const customer = await customerBy(`phone=${encodeURIComponent(phone)}`);
    const messages = await allMessages(customer.conversationId);
    expect(messages.map((m) => [m.channel, m.body])).toEqual([
      ['sms', 'texted first'],
      ['voice', 'I need to dispute a payment'],
    ]);
    await expectNothingWritten(async () => {
      expect((await post('/webhooks/twilio/voice/transcription', transcription)).status).toBe(200);
    });
  });

  it('refuses forged voice and transcription requests (403) and malformed ones (400), writing nothing', async () => {
    await expectNothingWritten(async () => {
      await expectError(await post('/webhooks/twilio/voice', { CallSid: sid('CA'), From: freshPhone(), To: '+1' }, 'forged'), 403);
      await expectError(await post('/webhooks/twilio/voice/transcription', { CallSid: sid('CA'), From: freshPhone() }, ''), 403);
      await expectError(await post('/webhooks/twilio/voice/transcription', { CallSid: sid('CA'), RecordingSid: sid('RE'), TranscriptionSid: sid('TR'), TranscriptionStatus: 'maybe', From: freshPhone(), To: '+16285550000' }), 400);
      await expectError(await post('/webhooks/twilio/voice', { CallSid: 'nope', From: freshPhone(), To: '+16285550000' }), 400);
    });
  });

  describe('random and mutated bodies (property)', () => {
    const formMutations = fc.array(bodyMutation({ markers: FORM_MARKERS }), { minLength: 1, maxLength: 4 });
    /** Values of another shape that a caller's fields may plausibly take. */
    const plausible = {
      From: ['Anonymous', '+1 (628) 555-0100', ' +16285550101 ', '+', '+0', '+999999999999999999', '16285550102', '+４４２０７９４６００００', 'client:agent-1', 'sip:bob@example.com'],
      To: ['+16285550000', 'Anonymous', ''],
      CallStatus: ['ringing', 'in-progress', 'completed', ''],
      RecordingSid: [sid('RE'), 'RE', ''],
      TranscriptionStatus: ['completed', 'failed', 'COMPLETED', ''],
      TranscriptionText: ['', 'x'.repeat(20_000), 'x'.repeat(20_001), '\u0000\u202e\ud83d\ude00'],
      RecordingUrl: ['not a url', 'ftp://example.com/r.wav', 'javascript:alert(1)', ''],
    };

    it('POST /webhooks/twilio/voice: signed or not, answers TwiML or a 4xx JSON error, never a 5xx, and writes nothing', async () => {
      const env = stackEnv();
      const valid = { CallSid: sid('CA'), AccountSid: sid('AC'), From: freshPhone(), To: '+16285550000', CallStatus: 'ringing', Direction: 'inbound' };
      const body = fc.oneof(
        randomFormBody([...Object.keys(valid), 'RecordingSid']),
        fieldMutation(valid, plausible).map((m) => m.body),
        formMutations.map((ms) => applyMutations(encodeForm(Object.entries(valid)), ms)),
      );
      // The voice webhook stores nothing (the transcription callback does), whatever it answers.
      await expectNothingWritten(async () => {
        await fc.assert(
          fc.asyncProperty(body, twilioSigning, fc.constantFrom('/webhooks/twilio/voice', '/webhooks/twilio/voice?step=recorded'), async (raw, signing, path) => {
            const url = `${baseUrl()}${path}`;
            const signature = twilioSignature(signing, url, raw, env.TWILIO_AUTH_TOKEN);
            const outcome = await twilioOutcome(await postTwilioBody(url, raw, { authToken: env.TWILIO_AUTH_TOKEN, ...(signature === undefined ? {} : { signature }) }));
            if (signing !== 'exact') expect(outcome).toBe('refused');
          }),
          { numRuns: 300 },
        );
      });
    });

    const transcriptionPath = '/webhooks/twilio/voice/transcription';
    const transcription = () => ({
      CallSid: sid('CA'),
      RecordingSid: sid('RE'),
      TranscriptionSid: sid('TR'),
      TranscriptionText: 'I need to dispute a payment',
      TranscriptionStatus: 'completed',
      From: freshPhone(),
      To: '+16285550000',
      AccountSid: sid('AC'),
    });
    const required = ['CallSid', 'RecordingSid', 'TranscriptionSid', 'TranscriptionStatus', 'From', 'To'];
    /** Fields no random text can stand in for: 32 hex digits after a prefix, or one of two words. */
    const strict = ['CallSid', 'RecordingSid', 'TranscriptionSid', 'TranscriptionStatus'];

    it('POST /webhooks/twilio/voice/transcription: bodies that cannot be accepted answer a 4xx JSON error, never a 5xx, and write nothing', async () => {
      const env = stackEnv();
      const url = `${baseUrl()}${transcriptionPath}`;
      const valid = transcription();
      // Each sample is refused by construction: unsigned or wrongly signed; random; or a required field
      // dropped, any field repeated (every field must be a single string), or a strict one replaced by random text.
      const sample = fc.oneof(
        fc.record({
          body: fc.oneof(randomFormBody(Object.keys(valid)), formMutations.map((ms) => applyMutations(encodeForm(Object.entries(valid)), ms))),
          signing: fc.constantFrom('none', 'forged', 'other-url' as const),
        }),
        fc.record({ body: randomFormBody(Object.keys(valid)), signing: fc.constant('exact' as const) }),
        fc.record({
          body: fieldMutation(valid)
            .filter((m) => m.dropped.some((k) => required.includes(k)) || m.repeated.length > 0 || m.replaced.some((k) => strict.includes(k)))
            .map((m) => m.body),
          signing: fc.constant('exact' as const),
        }),
      );
      await expectNothingWritten(async () => {
        await fc.assert(
          fc.asyncProperty(sample, async ({ body, signing }) => {
            const signature = twilioSignature(signing, url, body, env.TWILIO_AUTH_TOKEN);
            const outcome = await twilioOutcome(await postTwilioBody(url, body, { authToken: env.TWILIO_AUTH_TOKEN, ...(signature === undefined ? {} : { signature }) }));
            expect(outcome).toBe('refused');
          }),
          { numRuns: 300 },
        );
      });
    });

    it('POST /webhooks/twilio/voice/transcription: signed mutations of a valid callback answer TwiML (and may store it) or a 4xx JSON error that writes nothing', async () => {
      const env = stackEnv();
      const url = `${baseUrl()}${transcriptionPath}`;
      const valid = transcription();
      // Samples that may or may not be acceptable: other values for the fields, damaged bytes.
      const body = fc.oneof(
        { arbitrary: fieldMutation(valid, plausible).map((m) => m.body), weight: 2 },
        { arbitrary: formMutations.map((ms) => applyMutations(encodeForm(Object.entries(valid)), ms)), weight: 1 },
      );
      const wrote = await writeWatch();
      await fc.assert(
        fc.asyncProperty(body, async (raw) => {
          const outcome = await twilioOutcome(await postTwilioBody(url, raw, { authToken: env.TWILIO_AUTH_TOKEN }));
          await wrote(outcome === 'refused');
        }),
        { numRuns: 150 },
      );
    });
  });
});
