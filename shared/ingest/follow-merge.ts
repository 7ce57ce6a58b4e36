import { getMessage, type StoredMessage } from '#shared/data/conversation-store.ts';
import { conversationIdOf, customerIdOf } from '#shared/domain/ids.ts';
import { rootCustomer } from '#shared/ingest/resolve-customer.ts';

/**
 * The conversation a conversation id lives on as after merges: the surviving customer's (the id itself
 * when its customer was never merged). Undefined for an id that names no customer's conversation.
 *
 * @example
 * ```ts
 * await liveConversationId('conv_ab12…'); // 'conv_0f3c…' once cus_ab12… was merged into cus_0f3c…
 * ```
 */
export async function liveConversationId(conversationId: string): Promise<string | undefined> {
  const customerId = customerIdOf(conversationId);
  return customerId ? conversationIdOf(await rootCustomer(customerId)) : undefined;
}

/**
 * Runs a write on a message under the conversation named, and once more under the conversation the
 * message lives in now when the write did not apply (`applied` false) and a merge has moved the thread
 * meanwhile: a merge's move copies the message's state with it, so the write lands where readers see it.
 *
 * @example
 * ```ts
 * await writeFollowingMerge({ conversationId, messageId }, (at) => advanceStatus(at, messageId, change), (r) => r !== 'missing');
 * ```
 */
export async function writeFollowingMerge<T>(
  message: { conversationId: string; messageId: string },
  write: (conversationId: string) => Promise<T>,
  applied: (result: T) => boolean,
): Promise<T> {
  const result = await write(message.conversationId);
  if (applied(result)) return result;
  const now = await findMessageFollowingMerge(message.conversationId, message.messageId);
  return now && now.conversationId !== message.conversationId ? write(now.conversationId) : result;
}

/**
 * A message by the conversation a job or callback named when it was queued, following a merge: a merge
 * moves the absorbed thread into the survivor's under the same message ids, so a message not (or no
 * longer) under `conversationId` is looked for under the live customer's conversation. Undefined when it
 * is in neither. Strongly consistent reads.
 *
 * @example
 * ```ts
 * const message = await findMessageFollowingMerge(job.conversationId, job.messageId);
 * message?.conversationId; // where it is now
 * ```
 */
export async function findMessageFollowingMerge(conversationId: string, messageId: string): Promise<StoredMessage | undefined> {
  const message = await getMessage(conversationId, messageId);
  if (message) return message;
  const live = await liveConversationId(conversationId);
  return live && live !== conversationId ? getMessage(live, messageId) : undefined;
}
