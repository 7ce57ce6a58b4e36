import { chatSignature } from '#shared/channels/chat/chat-signature.ts';
import type { ChannelSender, DeliveryResult, OutboundDelivery } from '#shared/ports/channel-sender.ts';
import { deliveryErrorForStatus, networkDeliveryError, PROVIDER_TIMEOUT_MS } from './delivery-errors.ts';

export type ChatDeliverySettings = {
  /** `CHAT_DELIVERY_URL`: the customer app backend's endpoint for our messages. */
  readonly url: string;
  /** `CHAT_WEBHOOK_SECRET`, read on first send. */
  readonly secret: () => Promise<string>;
  readonly timeoutMs?: number;
  /** Clock for `X-Chat-Timestamp`, unix ms (tests). */
  readonly now?: () => number;
};

/** The JSON our chat deliveries carry. */
export type ChatDeliveryBody = { messageId: string; conversationId: string; userId: string; text: string; sentAt: string };

/**
 * Chat through the customer app's backend: `POST CHAT_DELIVERY_URL` with JSON
 * `{messageId, conversationId, userId, text, sentAt}`, signed exactly like inbound chat webhooks
 * (`X-Chat-Timestamp` unix seconds, `X-Chat-Signature: v1=<hex HMAC-SHA256(secret, ts + "." + rawBody)>`),
 * so the backend verifies us with the code it already trusts. `messageId` lets it drop retries.
 *
 * 2xx → delivered to the backend (`providerMessageId` = its JSON `id` if it answers one, else our
 * messageId); 401/403/404 (our secret, clock or URL) → `ProviderConfigError('chat:<status>')`; any other
 * 4xx but 408/429 → `PermanentDeliveryError('chat:<status>')`; else, timeout (10 s) or network →
 * `TransientDeliveryError`.
 *
 * @example
 * ```ts
 * const chat = createChatDeliverySender({ url: requireEnv('CHAT_DELIVERY_URL'), secret: () => getSecretSetting('CHAT_WEBHOOK_SECRET') });
 * await chat.send(delivery);
 * ```
 */
export function createChatDeliverySender(settings: ChatDeliverySettings): ChannelSender {
  const timeoutMs = settings.timeoutMs ?? PROVIDER_TIMEOUT_MS;
  const now = settings.now ?? Date.now;
  return {
    async send(delivery: OutboundDelivery): Promise<DeliveryResult> {
      const secret = await settings.secret();
      const at = now();
      const payload: ChatDeliveryBody = {
        messageId: delivery.messageId,
        conversationId: delivery.conversationId,
        userId: delivery.to,
        text: delivery.body,
        sentAt: new Date(at).toISOString(),
      };
      const rawBody = Buffer.from(JSON.stringify(payload));
      const timestamp = String(Math.floor(at / 1000));
      let res: Response;
      try {
        res = await fetch(settings.url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', 'X-Chat-Timestamp': timestamp, 'X-Chat-Signature': chatSignature(secret, timestamp, rawBody) },
          body: rawBody,
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        throw networkDeliveryError('chat', err, timeoutMs);
      }
      const answer = await res.text().catch(() => '');
      if (res.status < 200 || res.status >= 300) throw deliveryErrorForStatus({ status: res.status, reason: `chat:${res.status}` });
      return { provider: 'chat', providerMessageId: backendId(answer) ?? delivery.messageId };
    },
  };
}

function backendId(answer: string): string | undefined {
  try {
    const id = (JSON.parse(answer) as { id?: unknown } | null)?.id;
    return typeof id === 'string' && id !== '' ? id : undefined;
  } catch {
    return undefined;
  }
}
