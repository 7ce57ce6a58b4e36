import { getCustomer, latestMessage, listThreadPage, parseIdentityLabel, type StoredMessage } from '#shared/data/conversation-store.ts';
import { findIdentityOwners } from '#shared/data/conversation-store.ts';
import { customerIdOf } from '#shared/domain/ids.ts';
import type { IdentityRef, Message } from '#shared/domain/message.ts';
import { NotFoundError } from '#shared/errors.ts';
import { rootCustomer } from '#shared/ingest/resolve-customer.ts';

export type CustomerView = {
  customerId: string;
  conversationId: string;
  identities: IdentityRef[];
  displayName?: string;
  createdAt: string;
};

async function liveCustomer(customerId: string): Promise<CustomerView> {
  const record = await getCustomer(await rootCustomer(customerId));
  if (!record) throw new NotFoundError('Unknown customer');
  return {
    customerId: record.customerId,
    conversationId: record.conversationId,
    identities: record.identities.map(parseIdentityLabel),
    ...(record.displayName ? { displayName: record.displayName } : {}),
    createdAt: record.createdAt,
  };
}

/**
 * The customer an identity belongs to (after merges), or {@link NotFoundError}.
 *
 * @example
 * ```ts
 * const customer = await findCustomerByIdentity({ kind: 'email', value: 'jane@example.com' });
 * ```
 */
export async function findCustomerByIdentity(ref: IdentityRef): Promise<CustomerView> {
  const owner = (await findIdentityOwners([ref])).values().next().value;
  if (!owner) throw new NotFoundError('No customer with that identity');
  return liveCustomer(owner);
}

/** A conversation id resolved through merges to the live conversation's customer. */
async function conversationCustomer(conversationId: string): Promise<CustomerView> {
  const customerId = customerIdOf(conversationId);
  if (!customerId) throw new NotFoundError('Unknown conversation');
  return liveCustomer(customerId);
}

/**
 * A conversation: its customer, identities, status and timestamps. A conversation merged into another
 * answers with the surviving one (its `conversationId` tells the caller where the thread lives now).
 */
export async function getConversation(conversationId: string) {
  const customer = await conversationCustomer(conversationId);
  const record = await getCustomer(customer.customerId);
  const last = await latestMessage(customer.conversationId);
  return {
    conversationId: customer.conversationId,
    customerId: customer.customerId,
    customer,
    identities: customer.identities,
    status: record?.status ?? 'open',
    createdAt: customer.createdAt,
    lastMessageAt: last?.createdAt ?? null,
    ...(customer.conversationId !== conversationId ? { mergedFrom: conversationId } : {}),
  };
}

/** What staff see of a message: not the store's bookkeeping (`statusRank`) nor the raw template variables. */
function publicMessage(stored: StoredMessage): Message {
  const { customerId: _customerId, statusRank: _rank, variables: _variables, ...message } = stored as StoredMessage & { statusRank?: unknown; variables?: unknown };
  return message;
}

/** One page of a conversation's messages, oldest first; `nextCursor` is null on the last page. */
export async function listConversationMessages(conversationId: string, page: { limit: number; cursor?: string }) {
  const customer = await conversationCustomer(conversationId);
  const { items, nextCursor } = await listThreadPage(customer.conversationId, page);
  return { items: items.map(publicMessage), nextCursor };
}
