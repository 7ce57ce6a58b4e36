import { appendMessage } from '#shared/data/conversation-store.ts';
import { deliveryStatusRank } from '#shared/ports/channel-sender.ts';
import { conversationIdOf, inboundMessageId } from '#shared/domain/ids.ts';

/**
 * Records in the customer's thread an automated reply that went out inside a provider's webhook answer
 * (the SMS HELP text in TwiML), so the thread and its audit show every automated message. Keyed by the
 * inbound delivery it answers: a retried webhook records it once.
 *
 * @example
 * ```ts
 * await recordAutomatedReply({ customerId, inReplyTo: params.MessageSid, to: phone, body: helpText });
 * ```
 */
export async function recordAutomatedReply(input: { customerId: string; inReplyTo: string; to: string; body: string; source: string }): Promise<void> {
  await appendMessage({
    conversationId: conversationIdOf(input.customerId),
    customerId: input.customerId,
    messageId: inboundMessageId('sms', `automated-reply\u0000${input.inReplyTo}`),
    channel: 'sms',
    direction: 'outbound',
    body: input.body,
    createdAt: new Date().toISOString(),
    status: 'sent',
    statusRank: deliveryStatusRank.sent,
    automated: true,
    sentBy: input.source,
    to: input.to,
    provider: 'twilio',
  } as Parameters<typeof appendMessage>[0]);
}
