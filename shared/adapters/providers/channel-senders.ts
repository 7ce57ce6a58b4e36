import { getSecretSetting, type SecretName } from '#shared/config.ts';
import type { Channel } from '#shared/domain/message.ts';
import { ConfigError } from '#shared/errors.ts';
import type { ChannelSender } from '#shared/ports/channel-sender.ts';
import { createChatDeliverySender } from './chat-delivery.adapter.ts';
import { createLocalOutboxSender } from './local-outbox.adapter.ts';
import { createSendgridEmailSender } from './sendgrid-email.adapter.ts';
import type { TwilioSettings } from './twilio-rest.client.ts';
import { createTwilioSmsSender } from './twilio-sms.adapter.ts';
import { createTwilioVoiceSender } from './twilio-voice.adapter.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** Which settings each provider needs; a secret counts as present as a value or as `<NAME>_SECRET_ARN`. */
const required = {
  twilio: ['TWILIO_ACCOUNT_SID', 'TWILIO_API_KEY_SID', 'TWILIO_API_KEY_SECRET', 'TWILIO_FROM_NUMBER'],
  sendgrid: ['SENDGRID_API_KEY', 'EMAIL_FROM'],
  chat: ['CHAT_DELIVERY_URL', 'CHAT_WEBHOOK_SECRET'],
} as const;

const providerOf = { sms: 'twilio', voice: 'twilio', email: 'sendgrid', chat: 'chat' } as const satisfies Record<Channel, keyof typeof required>;

/** A channel's sender, or why there is none. */
export type SenderSlot = { readonly sender: ChannelSender } | { readonly missing: readonly string[] };

/**
 * One sender per channel, chosen from settings: the real provider adapter when all its settings are
 * present; otherwise, when `LOCAL_OUTBOX=1` (set only by the local stack), the local outbox; otherwise no
 * sender (asking for it is a {@link ConfigError}). `TWILIO_API_BASE_URL` / `SENDGRID_API_BASE_URL`
 * point the real adapters at local fakes: tests and local experiments only, never set in the cloud.
 * Secrets are read on first send through `deps.secret` (default {@link getSecretSetting}), never here.
 *
 * @example
 * ```ts
 * const senders = buildChannelSenders({ LOCAL_OUTBOX: '1' });
 * senders.get('sms'); // { sender: <local outbox> }
 * ```
 */
export function buildChannelSenders(env: Env, deps: { secret?: (name: SecretName) => Promise<string> } = {}): ReadonlyMap<Channel, SenderSlot> {
  const secret = deps.secret ?? getSecretSetting;
  const value = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
  const present = (name: string) => value(name) !== undefined || value(`${name}_SECRET_ARN`) !== undefined;
  const missing = (provider: keyof typeof required) => required[provider].filter((name) => !present(name));
  const outbox = value('LOCAL_OUTBOX') === '1' ? createLocalOutboxSender() : undefined;

  const twilio: TwilioSettings | undefined =
    missing('twilio').length === 0
      ? {
          accountSid: value('TWILIO_ACCOUNT_SID')!,
          apiKeySid: value('TWILIO_API_KEY_SID')!,
          apiKeySecret: () => secret('TWILIO_API_KEY_SECRET'),
          from: value('TWILIO_FROM_NUMBER')!,
          baseUrl: value('TWILIO_API_BASE_URL'),
        }
      : undefined;
  const real: Record<Channel, () => ChannelSender> = {
    sms: () => createTwilioSmsSender(twilio!),
    voice: () => createTwilioVoiceSender(twilio!),
    email: () => createSendgridEmailSender({ apiKey: () => secret('SENDGRID_API_KEY'), from: value('EMAIL_FROM')!, baseUrl: value('SENDGRID_API_BASE_URL') }),
    chat: () => createChatDeliverySender({ url: value('CHAT_DELIVERY_URL')!, secret: () => secret('CHAT_WEBHOOK_SECRET') }),
  };

  const slots = new Map<Channel, SenderSlot>();
  for (const channel of Object.keys(providerOf) as Channel[]) {
    const lacking = missing(providerOf[channel]);
    if (lacking.length === 0) slots.set(channel, { sender: real[channel]() });
    else if (outbox) slots.set(channel, { sender: outbox });
    else slots.set(channel, { missing: lacking });
  }
  return slots;
}

let senders: ReadonlyMap<Channel, SenderSlot> | undefined;

/**
 * The sender for a channel, from a map built once per cold start (on first use, from `process.env`) and
 * never changed afterwards.
 *
 * @throws {ConfigError} when the channel has neither provider settings nor the local outbox.
 * @example
 * ```ts
 * const result = await senderFor('sms').send(delivery);
 * ```
 */
export function senderFor(channel: Channel): ChannelSender {
  senders ??= buildChannelSenders(process.env);
  const slot = senders.get(channel);
  if (!slot) throw new ConfigError(`No sender for channel ${channel}`);
  if ('missing' in slot) throw new ConfigError(`No ${channel} provider configured: missing ${slot.missing.join(', ')} (and LOCAL_OUTBOX is not 1)`);
  return slot.sender;
}
