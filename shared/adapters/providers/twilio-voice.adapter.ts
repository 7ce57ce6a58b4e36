import VoiceResponse from 'twilio/lib/twiml/VoiceResponse.js';
import type { ChannelSender, DeliveryResult, OutboundDelivery } from '#shared/ports/channel-sender.ts';
import { twilioApiVersion, twilioDeliveryError, type TwilioSettings } from './twilio-rest.client.ts';

/** Characters XML 1.0 does not allow at all (VoiceResponse's xmlbuilder throws on them): dropped. */
// eslint-disable-next-line no-control-regex
const XML_INVALID = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/**
 * `<Response><Say>…</Say></Response>` for a voice message, built by twilio's `VoiceResponse` (which
 * XML-escapes the text). Characters XML forbids are dropped first: VoiceResponse would throw on them,
 * and a message that can never be built would only go round the retries.
 *
 * @example
 * ```ts
 * sayTwiml('Order <42> & co'); // '<?xml version="1.0" encoding="UTF-8"?><Response><Say>Order &lt;42&gt; &amp; co</Say></Response>'
 * ```
 */
export function sayTwiml(say: string): string {
  const response = new VoiceResponse();
  response.say(say.replace(XML_INVALID, ''));
  return response.toString();
}

/**
 * Voice through Twilio Calls (`POST /2010-04-01/Accounts/{AccountSid}/Calls.json`): To, From (our
 * number), inline `Twiml` saying the message ({@link sayTwiml}), `StatusCallback` with the `completed`
 * event only. Answers the Call SID; errors are mapped like SMS (`twilio:<code>`, e.g. 21211 invalid To,
 * 21216 blocked; 429/5xx/timeout transient).
 *
 * The request goes through the `twilio` package's API `Version` (request building, `RestException`
 * parsing) rather than its generated `CallListInstance`, whose module statically pulls every call
 * sub-resource (streams, SIPREC, payments…: ~120 KB minified) for five form fields. The contract test checks the form
 * equals what the official client's `calls.create` sends.
 *
 * @example
 * ```ts
 * const voice = createTwilioVoiceSender(settings);
 * const { providerMessageId } = await voice.send({ …delivery, body: 'Your appointment is tomorrow at 9.' }); // 'CA…'
 * ```
 */
export function createTwilioVoiceSender(settings: TwilioSettings): ChannelSender {
  const version = twilioApiVersion(settings);
  const uri = `/Accounts/${encodeURIComponent(settings.accountSid)}/Calls.json`;
  return {
    async send(delivery: OutboundDelivery): Promise<DeliveryResult> {
      const data: Record<string, string | string[]> = { To: delivery.to, From: settings.from, Twiml: sayTwiml(delivery.body) };
      if (delivery.statusCallbackUrl) {
        data.StatusCallback = delivery.statusCallbackUrl;
        // `initiated` at once: a callback that names the call before a lost answer's retry could place it again.
        data.StatusCallbackEvent = ['initiated', 'completed'];
      }
      try {
        const call = (await version.create({
          uri,
          method: 'post',
          data,
          headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        })) as { sid?: unknown };
        if (typeof call.sid !== 'string') throw new SyntaxError('Twilio answered a call without sid');
        return { provider: 'twilio', providerMessageId: call.sid };
      } catch (err) {
        throw twilioDeliveryError(err);
      }
    },
  };
}
