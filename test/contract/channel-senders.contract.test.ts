import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SecretName } from '#shared/config.ts';
import type { Channel } from '#shared/domain/message.ts';
import { ConfigError } from '#shared/errors.ts';
import type { ChannelSender } from '#shared/ports/channel-sender.ts';
import type * as ChannelSenders from '#shared/adapters/providers/channel-senders.ts';
import { startChatBackendFake, type ChatBackendFake } from '#test/fakes/chat-backend.fake.ts';
import { startSendgridApiFake, type SendgridApiFake } from '#test/fakes/sendgrid-api.fake.ts';
import { startTwilioApiFake, type TwilioApiFake } from '#test/fakes/twilio-api.fake.ts';
import { applyStackEnv } from '#test/helpers/index.ts';
import { delivery, freshId, freshPhone } from './support.ts';

type Env = Record<string, string | undefined>;

describe('senderFor / buildChannelSenders: the real provider when configured, else the local outbox, else a ConfigError', () => {
  let twilio: TwilioApiFake;
  let sendgrid: SendgridApiFake;
  let chat: ChatBackendFake;
  let restoreEnv: () => void;
  let mod: typeof ChannelSenders;

  const providerEnv = (): Env => ({
    TWILIO_ACCOUNT_SID: twilio.accountSid,
    TWILIO_API_KEY_SID: twilio.apiKeySid,
    TWILIO_API_KEY_SECRET: twilio.apiKeySecret,
    TWILIO_FROM_NUMBER: '+16285550100',
    TWILIO_API_BASE_URL: twilio.baseUrl,
    SENDGRID_API_KEY: sendgrid.apiKey,
    EMAIL_FROM: 'support@example.com',
    SENDGRID_API_BASE_URL: sendgrid.baseUrl,
    CHAT_DELIVERY_URL: chat.url,
    CHAT_WEBHOOK_SECRET: chat.secret,
  });
  const secretsFrom = (env: Env) => async (name: SecretName) => env[name] ?? Promise.reject(new ConfigError(`Missing required secret ${name}`));
  const senderOf = (slots: ReturnType<typeof mod.buildChannelSenders>, channel: Channel): ChannelSender => {
    const slot = slots.get(channel);
    if (!slot || !('sender' in slot)) throw new Error(`no sender for ${channel}`);
    return slot.sender;
  };

  beforeAll(async () => {
    [twilio, sendgrid, chat] = await Promise.all([startTwilioApiFake(), startSendgridApiFake(), startChatBackendFake({ secret: 'chat-secret-senders' })]);
    // The outbox writes to the stack's DynamoDB; the data module reads its endpoint at import.
    restoreEnv = applyStackEnv();
    mod = await import('#shared/adapters/providers/channel-senders.ts');
  });
  afterAll(async () => {
    restoreEnv();
    await Promise.all([twilio.close(), sendgrid.close(), chat.close()]);
  });

  it('with every provider configured (and the test base URLs), each channel reaches its provider', async () => {
    // Prepare
    const env = providerEnv();
    const slots = mod.buildChannelSenders({ ...env, LOCAL_OUTBOX: '1' }, { secret: secretsFrom(env) });
    const phone = freshPhone();

    // Act
    const results = {
      sms: await senderOf(slots, 'sms').send(delivery({ channel: 'sms', to: phone })),
      voice: await senderOf(slots, 'voice').send(delivery({ channel: 'voice', to: phone })),
      email: await senderOf(slots, 'email').send(delivery({ channel: 'email', to: `${freshId('a')}@example.org`, subject: 'Hi' })),
      chat: await senderOf(slots, 'chat').send(delivery({ channel: 'chat', to: freshId('user') })),
    };

    // Assess
    expect(results.sms).toEqual({ provider: 'twilio', providerMessageId: twilio.requests.find((r) => r.resource === 'Messages' && r.params.To === phone)!.sid });
    expect(results.voice).toEqual({ provider: 'twilio', providerMessageId: twilio.requests.find((r) => r.resource === 'Calls' && r.params.To === phone)!.sid });
    expect(results.email).toEqual({ provider: 'sendgrid', providerMessageId: sendgrid.requests.at(-1)!.messageId });
    expect(results.chat.provider).toBe('chat');
    expect(chat.deliveries.at(-1)!.status).toBe(204);
  });

  it('with LOCAL_OUTBOX=1 and a provider not fully configured, that provider\'s channels go to the local outbox, the others to their provider', async () => {
    // Prepare: Twilio lacks its number; SendGrid and chat are complete.
    const env = { ...providerEnv(), TWILIO_FROM_NUMBER: undefined, LOCAL_OUTBOX: '1' };
    const slots = mod.buildChannelSenders(env, { secret: secretsFrom(env) });
    const twilioCallsBefore = twilio.requests.length;
    const message = delivery({ channel: 'sms', to: freshPhone() });

    // Act
    const sms = await senderOf(slots, 'sms').send(message);
    const voice = await senderOf(slots, 'voice').send(delivery({ channel: 'voice', to: freshPhone() }));
    const email = await senderOf(slots, 'email').send(delivery({ channel: 'email', to: `${freshId('b')}@example.org`, subject: 'Hi' }));

    // Assess
    expect(sms).toEqual({ provider: 'outbox', providerMessageId: `outbox_${message.messageId}` });
    expect(voice.provider).toBe('outbox');
    expect(email.provider).toBe('sendgrid');
    expect(twilio.requests.length).toBe(twilioCallsBefore);
  });

  it('with no provider settings and LOCAL_OUTBOX=1, every channel goes to the one local outbox', () => {
    const slots = mod.buildChannelSenders({ LOCAL_OUTBOX: '1' });
    const senders = (['sms', 'voice', 'email', 'chat'] as const).map((c) => senderOf(slots, c));
    expect(new Set(senders).size).toBe(1);
  });

  it('a secret given as <NAME>_SECRET_ARN (cloud) counts as configured, and is not read while building', () => {
    // Prepare
    const read: string[] = [];
    const env = { ...providerEnv(), TWILIO_API_KEY_SECRET: undefined, TWILIO_API_KEY_SECRET_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:x' };

    // Act
    const slots = mod.buildChannelSenders(env, { secret: async (name) => (read.push(name), 'unused') });

    // Assess
    expect('sender' in slots.get('sms')!).toBe(true);
    expect(read).toEqual([]);
  });

  it('without settings and without LOCAL_OUTBOX, asking for a channel is a ConfigError naming what is missing (and no secret value)', () => {
    // Prepare: the cloud with SendGrid half configured.
    const env: Env = { SENDGRID_API_KEY: 'SG.secret-value', LOCAL_OUTBOX: undefined };
    const slots = mod.buildChannelSenders(env);

    // Act / Assess
    expect(slots.get('email')).toEqual({ missing: ['EMAIL_FROM'] });
    expect(slots.get('sms')).toEqual({ missing: ['TWILIO_ACCOUNT_SID', 'TWILIO_API_KEY_SID', 'TWILIO_API_KEY_SECRET', 'TWILIO_FROM_NUMBER'] });
    expect(slots.get('chat')).toEqual({ missing: ['CHAT_DELIVERY_URL', 'CHAT_WEBHOOK_SECRET'] });
    expect(mod.buildChannelSenders({ LOCAL_OUTBOX: '0' }).get('chat')).toHaveProperty('missing');
  });

  it('senderFor builds its map once from process.env and hands out the same sender; a channel without one throws ConfigError', () => {
    // Prepare: this worker's env is the local stack's (LOCAL_OUTBOX=1, no provider credentials).
    expect(process.env.LOCAL_OUTBOX).toBe('1');

    // Act
    const first = mod.senderFor('sms');
    process.env.LOCAL_OUTBOX = '0';
    const second = mod.senderFor('sms');
    process.env.LOCAL_OUTBOX = '1';

    // Assess: the map built at first use is kept (never rebuilt nor changed).
    expect(second).toBe(first);
    expect(() => mod.senderFor('fax' as Channel)).toThrow(ConfigError);
  });
});
