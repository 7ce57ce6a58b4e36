import { sqsWorkQueue } from '#shared/adapters/sqs/sqs-work-queue.adapter.ts';
import { appendMessage, getMessage } from '#shared/data/conversation-store.ts';
import { conversationIdOf, inboundMessageId } from '#shared/domain/ids.ts';
import type { InboundMessage, IngestResult } from '#shared/domain/message.ts';
import { resolveSender, type resolveCustomer } from '#shared/ingest/resolve-customer.ts';
import type { WorkQueue } from '#shared/ports/work-queue.ts';
import { logger } from '#shared/logger.ts';

/** Longest body kept in the thread; DynamoDB items stop at 400 KB. Longer bodies are cut and flagged. */
export const MAX_STORED_BODY_CHARS = 100_000;

export type IngestDeps = {
  workQueue: WorkQueue;
  now: () => Date;
  /**
   * How the sender's customer is found: {@link resolveSender} (the default) for a message that names its
   * sender only; the chat webhook, whose messages link identities, passes `resolveCustomer` (merges).
   */
  resolve: typeof resolveCustomer;
};

export const defaultIngestDeps: IngestDeps = { workQueue: sqsWorkQueue, now: () => new Date(), resolve: resolveSender };

/**
 * Stores one verified inbound message in its customer's one thread, whatever the channel.
 *
 * 1. resolve (or create; with links, merge) the customer from the sender's identities
 * 2. append the message under an id derived from the provider's delivery id (a retry is a no-op)
 * 3. hand slow work (media download) to the inbound-work queue
 *
 * A message whose identity lookup races with a merge of its customer lands in the absorbed thread; the
 * merge's delayed sweep moves it over. That keeps the common path at one GetItem and one PutItem.
 *
 * @example
 * ```ts
 * const { conversationId, messageId } = await ingestInbound({ channel: 'sms', dedupeKey: sid, from, body });
 * ```
 */
export async function ingestInbound(message: InboundMessage, deps: IngestDeps = defaultIngestDeps): Promise<IngestResult> {
  const now = deps.now().toISOString();
  const customerId = await deps.resolve({ from: message.from, links: message.links, displayName: message.displayName, now, workQueue: deps.workQueue });
  const messageId = inboundMessageId(message.channel, message.dedupeKey);
  const body = message.body.length > MAX_STORED_BODY_CHARS ? `${message.body.slice(0, MAX_STORED_BODY_CHARS)}\n[truncated]` : message.body;
  const outcome = await appendMessage({
    conversationId: conversationIdOf(customerId),
    customerId,
    messageId,
    channel: message.channel,
    direction: 'inbound',
    from: message.from.value,
    body,
    createdAt: now,
    sentAt: message.sentAt,
    subject: message.subject,
    attachments: message.attachments?.map((a) => ({ ...a })),
    email: message.email,
  });
  const conversationId = conversationIdOf(customerId);

  // A retry of a delivery whose media job was lost (the enqueue failed after the write) enqueues it again.
  const pending =
    outcome === 'created'
      ? (message.attachments ?? []).some((a) => a.status === 'pending')
      : ((await getMessage(conversationId, messageId))?.attachments ?? []).some((a) => a.status === 'pending');
  if (pending) await deps.workQueue.enqueue({ type: 'fetch-media', conversationId, messageId });

  logger.info(outcome === 'created' ? 'message stored' : 'duplicate delivery ignored', { channel: message.channel, conversationId, messageId });
  return { customerId, conversationId, messageId, duplicate: outcome === 'duplicate' };
}
