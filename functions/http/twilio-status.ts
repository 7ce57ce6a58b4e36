import * as z from 'zod/mini';
import { verifiedTwilioForm } from '#shared/channels/twilio/twilio-webhook.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { twiml } from '#shared/http/responses.ts';
import { logger } from '#shared/logger.ts';
import { applyDeliveryStatus, twilioCallStatus, twilioMessageStatus } from '#shared/outbound/status-callbacks.ts';

const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';

const providerId = z.string().check(z.regex(/^[A-Za-z0-9._:-]{1,64}$/));
const status = z.string().check(z.regex(/^[a-z_-]{1,32}$/));

/** A Messages status callback (`MessageSid`, `MessageStatus`, `ErrorCode`) or a Voice one (`CallSid`, `CallStatus`). */
const statusSchema = z
  .catchall(
    z.object({
      MessageSid: z.optional(providerId),
      MessageStatus: z.optional(status),
      ErrorCode: z.optional(z.string().check(z.maxLength(16))),
      CallSid: z.optional(providerId),
      CallStatus: z.optional(status),
    }),
    z.union([z.string(), z.array(z.string())]),
  )
  .check(
    z.refine((p) => (p.MessageSid !== undefined && p.MessageStatus !== undefined) || (p.CallSid !== undefined && p.CallStatus !== undefined), {
      message: 'MessageSid and MessageStatus, or CallSid and CallStatus',
    }),
  );

/** Which outbound message the callback is about: the sender put it in the callback URL (signed with it). */
const target = z.object({ conversationId: z.string().check(z.regex(/^conv_[0-9a-f]{32}$/)), messageId: z.string().check(z.regex(/^msg_[0-9a-f]{32}$/)) });

/**
 * Twilio status callback (`POST /webhooks/twilio/status?conversationId=…&messageId=…`): moves the
 * message's status forward only. Answers 200 with empty TwiML whatever the message's state (unknown,
 * already further, another provider id), since Twilio has nothing to retry. A signed callback whose URL
 * names no message of ours (a status callback URL set by hand in the Twilio console, say) is ignored the
 * same way: a 4xx would only make Twilio report errors about a callback that can never apply.
 */
export const handler = httpHandler(async (event) => {
  const params = await verifiedTwilioForm(event, statusSchema);
  const ids = target.safeParse(event.queryStringParameters ?? {});
  if (!ids.success) {
    logger.warn('twilio status callback names no message; ignored', { providerMessageId: params.MessageSid ?? params.CallSid });
    return twiml(EMPTY_TWIML);
  }
  const reported = params.MessageSid !== undefined && params.MessageStatus !== undefined
    ? twilioMessageStatus(params.MessageStatus, params.ErrorCode)
    : twilioCallStatus(params.CallStatus!);
  if (reported) {
    await applyDeliveryStatus({ ...ids.data, ...reported, providerMessageId: (params.MessageSid ?? params.CallSid)! });
  }
  return twiml(EMPTY_TWIML);
});
