import { MessageListInstance } from 'twilio/lib/rest/api/v2010/account/message.js';
import type { ChannelSender, DeliveryResult, OutboundDelivery } from '#shared/ports/channel-sender.ts';
import { twilioApiVersion, twilioDeliveryError, type TwilioSettings } from './twilio-rest.client.ts';

/**
 * SMS through Twilio Messages (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`) with the official
 * `twilio` package's message resource: To, From (our number), Body, StatusCallback. Answers the Message
 * SID; Twilio refusals become `PermanentDeliveryError('twilio:<code>')` (21610 unsubscribed, flagged
 * `recipientOptedOut`; 21211 invalid To, 21614 not a mobile…) or `TransientDeliveryError` (429, 21611
 * queue full, network; 5xx and timeouts with the outcome unknown).
 *
 * @example
 * ```ts
 * const sms = createTwilioSmsSender({ accountSid, apiKeySid, apiKeySecret: () => getSecretSetting('TWILIO_API_KEY_SECRET'), from });
 * const { providerMessageId } = await sms.send(delivery); // 'SM…'
 * ```
 */
export function createTwilioSmsSender(settings: TwilioSettings): ChannelSender {
  const messages = MessageListInstance(twilioApiVersion(settings) as unknown as Parameters<typeof MessageListInstance>[0], settings.accountSid);
  return {
    async send(delivery: OutboundDelivery): Promise<DeliveryResult> {
      try {
        const message = await messages.create({
          to: delivery.to,
          from: settings.from,
          body: delivery.body,
          ...(delivery.statusCallbackUrl ? { statusCallback: delivery.statusCallbackUrl } : {}),
        });
        return { provider: 'twilio', providerMessageId: message.sid };
      } catch (err) {
        throw twilioDeliveryError(err);
      }
    },
  };
}
