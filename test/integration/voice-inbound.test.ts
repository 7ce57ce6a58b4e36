import { describe, expect, it } from 'vitest';
import { baseUrl, postTwilioForm, stackEnv } from '#test/helpers/index.ts';
import { allMessages, customerBy, expectError, expectNothingWritten, freshPhone, sid } from './support.ts';

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

  it('gives callers who withhold their number the same disclosure', async () => {
    const res = await post('/webhooks/twilio/voice', { CallSid: sid('CA'), From: 'Anonymous', To: '+16285550000', CallStatus: 'ringing' });
    expect(res.status).toBe(200);
    expect(await res.text()).toMatch(/automated system/);
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
});
