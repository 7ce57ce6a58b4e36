import { recordOutbox } from '#shared/data/outbox-store.ts';
import type { ChannelSender, DeliveryResult, OutboundDelivery } from '#shared/ports/channel-sender.ts';
import { emailHeaders } from './email-headers.ts';

/**
 * The local stand-in for every provider (`LOCAL_OUTBOX=1`, no credentials): records the message in the
 * local outbox (`GET /dev/outbox` lists it) instead of sending, so nothing is silently dropped. A retry of
 * the same messageId records nothing more and answers the same id.
 *
 * @example
 * ```ts
 * const { providerMessageId } = await createLocalOutboxSender().send(delivery); // 'outbox_<messageId>'
 * ```
 */
export function createLocalOutboxSender(deps: { now?: () => Date; record?: typeof recordOutbox } = {}): ChannelSender {
  const now = deps.now ?? (() => new Date());
  const record = deps.record ?? recordOutbox;
  return {
    async send(delivery: OutboundDelivery): Promise<DeliveryResult> {
      const headers = delivery.channel === 'email' ? emailHeaders(delivery) : {};
      await record({
        messageId: delivery.messageId,
        conversationId: delivery.conversationId,
        channel: delivery.channel,
        to: delivery.to,
        body: delivery.body,
        ...(delivery.subject !== undefined ? { subject: delivery.subject } : {}),
        ...(delivery.html !== undefined ? { html: delivery.html } : {}),
        ...(Object.keys(headers).length ? { headers } : {}),
        at: now().toISOString(),
      });
      return { provider: 'outbox', providerMessageId: `outbox_${delivery.messageId}` };
    },
  };
}
