import type { Attachment, IdentityKind, IdentityRef, Message } from '#shared/domain/message.ts';
import { customerEntity, identityEntity, messageEntity, omniService } from '#shared/data/entities.ts';
import { ValidationError } from '#shared/errors.ts';
import { tableSchema } from '#shared/data/table-schema.ts';

/**
 * The access patterns of the single table, named by intent. Nothing outside `#shared/data` builds a
 * key or a condition.
 */

export type CustomerRecord = {
  customerId: string;
  conversationId: string;
  identities: string[];
  status: 'open' | 'closed';
  displayName?: string;
  createdAt: string;
  mergedInto?: string;
};

export type StoredMessage = Message & { customerId: string };

/** `phone:+14155550100`: how an identity is written in a customer's identity set and in API answers. */
export function identityLabel(ref: IdentityRef): string {
  return `${ref.kind}:${ref.value}`;
}

export function parseIdentityLabel(label: string): IdentityRef {
  const at = label.indexOf(':');
  return { kind: label.slice(0, at) as IdentityKind, value: label.slice(at + 1) };
}

/** True when DynamoDB refused a write because its condition did not hold (directly or in a transaction). */
export function isConditionFailure(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const name = (e as { name?: string }).name;
    if (name === 'ConditionalCheckFailedException') return true;
    if (name === 'TransactionCanceledException') {
      const reasons = (e as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];
      return reasons.some((r) => r.Code === 'ConditionalCheckFailed');
    }
  }
  return false;
}

function toCustomer(item: Record<string, unknown>): CustomerRecord {
  const identities = item.identities;
  return {
    customerId: item.customerId as string,
    conversationId: item.conversationId as string,
    identities: Array.isArray(identities) ? [...(identities as string[])].sort() : [],
    status: (item.status as CustomerRecord['status']) ?? 'open',
    displayName: item.displayName as string | undefined,
    createdAt: item.createdAt as string,
    mergedInto: item.mergedInto as string | undefined,
  };
}

/**
 * Which customer each identity belongs to (absent when unknown). One BatchGet.
 *
 * @example
 * ```ts
 * const owners = await findIdentityOwners([{ kind: 'phone', value: '+14155550100' }]);
 * ```
 */
export async function findIdentityOwners(refs: readonly IdentityRef[]): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  if (refs.length === 0) return owners;
  if (refs.length === 1) {
    const ref = refs[0]!;
    const { data } = await identityEntity.get({ kind: ref.kind, value: ref.value }).go({ attributes: ['customerId'] });
    if (data) owners.set(identityLabel(ref), data.customerId);
    return owners;
  }
  const { data } = await identityEntity.get(refs.map((r) => ({ kind: r.kind, value: r.value }))).go();
  for (const item of data) owners.set(identityLabel(item), item.customerId);
  return owners;
}

/**
 * Creates a customer together with its first identity, atomically. Returns false when the identity was
 * claimed meanwhile by a concurrent first message (then nothing is written).
 */
export async function createCustomerWithIdentity(input: {
  customerId: string;
  conversationId: string;
  identity: IdentityRef;
  displayName?: string;
  now: string;
}): Promise<boolean> {
  const { canceled, data } = await omniService.transaction
    .write(({ identity, customer }) => [
      identity.create({ kind: input.identity.kind, value: input.identity.value, customerId: input.customerId, linkedAt: input.now }).commit(),
      customer
        .create({
          customerId: input.customerId,
          conversationId: input.conversationId,
          identities: [identityLabel(input.identity)],
          status: 'open',
          displayName: input.displayName,
          createdAt: input.now,
        })
        .commit(),
    ])
    .go();
  if (!canceled) return true;
  if (data.some((d) => d.code === 'ConditionalCheckFailed')) return false;
  throw new Error(`Customer creation was cancelled: ${data.map((d) => d.code).join(',')}`);
}

/**
 * Links an unclaimed identity to a customer. Returns the identity's owner afterwards: `customerId` when
 * this call won, or whoever claimed it first.
 */
export async function claimIdentity(ref: IdentityRef, customerId: string, now: string): Promise<string> {
  try {
    await identityEntity.create({ kind: ref.kind, value: ref.value, customerId, linkedAt: now }).go();
  } catch (err) {
    if (!isConditionFailure(err)) throw err;
    const owner = (await identityEntity.get({ kind: ref.kind, value: ref.value }).go({ consistent: true })).data?.customerId;
    if (!owner) throw new Error('Identity vanished while being claimed', { cause: err });
    return owner;
  }
  await customerEntity.update({ customerId }).add({ identities: [identityLabel(ref)] }).go();
  return customerId;
}

/**
 * Moves an identity from one customer to another, only if it still belongs to the first.
 */
export async function repointIdentity(ref: IdentityRef, fromCustomerId: string, toCustomerId: string, now: string): Promise<void> {
  try {
    await identityEntity
      .patch({ kind: ref.kind, value: ref.value })
      .set({ customerId: toCustomerId, linkedAt: now })
      .where((attr, op) => op.eq(attr.customerId, fromCustomerId))
      .go();
  } catch (err) {
    if (!isConditionFailure(err)) throw err;
  }
}

/** Adds identity labels to a customer's identity set (idempotent). */
export async function addCustomerIdentities(customerId: string, labels: readonly string[]): Promise<void> {
  if (labels.length === 0) return;
  await customerEntity.update({ customerId }).add({ identities: [...labels] }).go();
}

/**
 * A customer by id; `consistent` reads the latest write (used after appending a message, to notice a
 * merge that raced with it).
 */
export async function getCustomer(customerId: string, options: { consistent?: boolean } = {}): Promise<CustomerRecord | undefined> {
  const { data } = await customerEntity.get({ customerId }).go({ consistent: options.consistent ?? false });
  return data ? toCustomer(data) : undefined;
}

/**
 * Marks `sourceId` as merged into `targetId`. Returns the customer it is merged into afterwards: the
 * target, or an earlier merge's target when another merge won.
 */
export async function markCustomerMerged(sourceId: string, targetId: string, now: string): Promise<string> {
  try {
    await customerEntity
      .patch({ customerId: sourceId })
      .set({ mergedInto: targetId, mergedAt: now })
      .where((attr, op) => op.notExists(attr.mergedInto))
      .go();
    return targetId;
  } catch (err) {
    if (!isConditionFailure(err)) throw err;
    const current = await getCustomer(sourceId, { consistent: true });
    if (!current?.mergedInto) throw new Error('Merge condition failed without a merge', { cause: err });
    return current.mergedInto;
  }
}

type NewMessage = Omit<StoredMessage, 'email'> & {
  email?: Message['email'];
};

/**
 * Appends a message to its conversation, unless a message with that id is already there (a retried
 * delivery). One conditional PutItem.
 *
 * @example
 * ```ts
 * const outcome = await appendMessage(msg); // 'created' | 'duplicate'
 * ```
 */
export async function appendMessage(message: NewMessage): Promise<'created' | 'duplicate'> {
  try {
    await messageEntity.create(toItem(message)).go({ response: 'none' });
    return 'created';
  } catch (err) {
    if (isConditionFailure(err)) return 'duplicate';
    throw err;
  }
}

function toItem(message: NewMessage) {
  return {
    conversationId: message.conversationId,
    messageId: message.messageId,
    customerId: message.customerId,
    channel: message.channel,
    direction: message.direction,
    body: message.body,
    createdAt: message.createdAt,
    sentAt: message.sentAt,
    status: message.status,
    subject: message.subject,
    attachments: message.attachments?.map((a) => ({ ...a })),
    emailMessageId: message.email?.messageId,
    emailInReplyTo: message.email?.inReplyTo,
    emailReferences: message.email?.references ? [...message.email.references] : undefined,
    templateId: message.templateId,
    templateVersion: message.templateVersion,
  };
}

type MessageItem = Awaited<ReturnType<ReturnType<typeof messageEntity.get>['go']>>['data'];

function toMessage(item: NonNullable<MessageItem>): StoredMessage {
  const email =
    item.emailMessageId || item.emailInReplyTo || item.emailReferences
      ? { messageId: item.emailMessageId, inReplyTo: item.emailInReplyTo, references: item.emailReferences }
      : undefined;
  return {
    messageId: item.messageId,
    conversationId: item.conversationId,
    customerId: item.customerId,
    channel: item.channel,
    direction: item.direction,
    body: item.body,
    createdAt: item.createdAt,
    ...(item.sentAt ? { sentAt: item.sentAt } : {}),
    ...(item.status ? { status: item.status } : {}),
    ...(item.subject !== undefined ? { subject: item.subject } : {}),
    ...(item.attachments ? { attachments: item.attachments as Attachment[] } : {}),
    ...(item.templateId ? { templateId: item.templateId, templateVersion: item.templateVersion } : {}),
    ...(email ? { email } : {}),
  };
}

/** One message, or undefined. */
export async function getMessage(conversationId: string, messageId: string): Promise<StoredMessage | undefined> {
  const { data } = await messageEntity.get({ conversationId, messageId }).go({ consistent: true });
  return data ? toMessage(data) : undefined;
}

/**
 * One page of a thread, oldest first, as a single Query on the time-ordered index: its cost depends on
 * the page size, never on the thread's length. `cursor` is the opaque `nextCursor` of the previous page.
 *
 * @example
 * ```ts
 * const { items, nextCursor } = await listThreadPage('conv_…', { limit: 50 });
 * ```
 */
export async function listThreadPage(
  conversationId: string,
  options: { limit: number; cursor?: string },
): Promise<{ items: StoredMessage[]; nextCursor: string | null }> {
  if (options.cursor !== undefined) checkThreadCursor(conversationId, options.cursor);
  const { data, cursor } = await messageEntity.query
    .thread({ conversationId })
    .go({ limit: options.limit, cursor: options.cursor ?? null, order: 'asc' });
  return { items: data.map(toMessage), nextCursor: cursor ?? null };
}

/**
 * A cursor must be one this thread's query handed out: a position in *this* conversation's index. A
 * forged or foreign cursor is the client's fault (400), never a store error (500).
 */
function checkThreadCursor(conversationId: string, cursor: string): void {
  const { partitionKey, sortKey, threadIndex } = tableSchema;
  const expectedPk = messageEntity.query.thread({ conversationId }).params().ExpressionAttributeValues?.[':pk'];
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (cause) {
    throw new ValidationError('Invalid cursor', { cause });
  }
  const k = key as Record<string, unknown> | null;
  const valid =
    typeof k === 'object' &&
    k !== null &&
    Object.keys(k).length === 3 &&
    k[partitionKey] === expectedPk &&
    typeof k[sortKey] === 'string' &&
    typeof k[threadIndex.sortKey] === 'string';
  if (!valid) throw new ValidationError('Invalid cursor');
}

/** The newest message of a thread, for the conversation's `lastMessageAt`. */
export async function latestMessage(conversationId: string): Promise<StoredMessage | undefined> {
  const { data } = await messageEntity.query.thread({ conversationId }).go({ limit: 1, order: 'desc' });
  return data[0] ? toMessage(data[0]) : undefined;
}

/**
 * Moves every message of `fromConversationId` into `toConversationId` (merging two customers). Each
 * message is written to the target before it is deleted from the source, under the same message id, so
 * a crash or a second run repeats harmlessly: every message ends up exactly once.
 */
export async function moveThread(fromConversationId: string, toConversationId: string, toCustomerId: string): Promise<number> {
  let moved = 0;
  let cursor: string | null = null;
  do {
    const page: { data: Array<NonNullable<MessageItem>>; cursor: string | null } = await messageEntity.query
      .byMessage({ conversationId: fromConversationId })
      .go({ cursor, limit: 25 });
    if (page.data.length > 0) {
      const copies = page.data.map((item) => toItem({ ...toMessage(item), conversationId: toConversationId, customerId: toCustomerId }));
      const put = await messageEntity.put(copies).go();
      if (put.unprocessed.length > 0) throw new Error('Some messages were not copied during merge');
      const del = await messageEntity.delete(page.data.map((m) => ({ conversationId: fromConversationId, messageId: m.messageId }))).go();
      if (del.unprocessed.length > 0) throw new Error('Some merged messages were not removed from the source');
      moved += page.data.length;
    }
    // Deleting what was read means the next read starts over at the (new) beginning.
    cursor = null;
    if (page.data.length === 0) break;
  } while (true);
  return moved;
}

/** Replaces a message's attachment list (the inbound-work consumer records stored media). */
export async function setAttachments(conversationId: string, messageId: string, attachments: readonly Attachment[]): Promise<void> {
  await messageEntity
    .patch({ conversationId, messageId })
    .set({ attachments: attachments.map((a) => ({ ...a })) })
    .go({ response: 'none' });
}
