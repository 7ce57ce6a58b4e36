import { createHash, randomUUID } from 'node:crypto';
import type { Channel } from '#shared/domain/message.ts';

/**
 * A new customer and its one conversation share a random suffix: one customer, one thread.
 *
 * @example
 * ```ts
 * const { customerId, conversationId } = newCustomerIds(); // cus_…, conv_…
 * ```
 */
export function newCustomerIds(): { customerId: string; conversationId: string } {
  const suffix = randomUUID().replaceAll('-', '');
  return { customerId: `cus_${suffix}`, conversationId: `conv_${suffix}` };
}

/**
 * The conversation of a customer id (and back): the rule "one customer, one thread" made structural.
 *
 * @example
 * ```ts
 * conversationIdOf('cus_ab12') // 'conv_ab12'
 * ```
 */
export function conversationIdOf(customerId: string): string {
  return `conv_${customerId.slice('cus_'.length)}`;
}

export function customerIdOf(conversationId: string): string | undefined {
  return /^conv_[0-9a-f]{32}$/.test(conversationId) ? `cus_${conversationId.slice('conv_'.length)}` : undefined;
}

/**
 * A message id derived from the provider's delivery id, so a retried delivery maps onto the same id and
 * the store's create condition refuses it, even when copies arrive at once.
 *
 * @example
 * ```ts
 * inboundMessageId('sms', 'SM123') // 'msg_…' (stable)
 * ```
 */
export function inboundMessageId(channel: Channel, dedupeKey: string): string {
  return `msg_${createHash('sha256').update(`${channel}\u0000${dedupeKey}`).digest('hex').slice(0, 32)}`;
}
