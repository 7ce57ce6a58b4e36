import { BatchGetCommand, DeleteCommand, GetCommand, PutCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { setTimeout as sleep } from 'node:timers/promises';
import { documentClient, getTableName } from '#shared/data/client.ts';
import { LSI1SK, MESSAGE_REVISION, PK, SK, conversationPk, customerKey, identityKey, messageKey, revised, threadSortKey } from '#shared/data/keys.ts';
import { tableSchema } from '#shared/data/table-schema.ts';
import type { Attachment, IdentityKind, IdentityRef, Message } from '#shared/domain/message.ts';
import { ValidationError } from '#shared/errors.ts';

/**
 * The access patterns of the single table, named by intent. Nothing outside `#shared/data` builds a key
 * or a condition.
 *
 * Hand-written on the Document client rather than ElectroDB or dynamodb-toolbox, for a measured reason:
 * the bundled AWS SDK alone is ~440 KB of the 600 KB handler budget, ElectroDB adds ~220 KB and
 * dynamodb-toolbox ~65 KB. The module is small, and its conditions are tested against DynamoDB Local.
 */

export type CustomerRecord = {
  customerId: string;
  conversationId: string;
  identities: string[];
  status: 'open' | 'closed';
  displayName?: string;
  createdAt: string;
  mergedInto?: string;
  /** When it was marked merged into `mergedInto`. */
  mergedAt?: string;
};

export type StoredMessage = Message & { customerId: string };

/** `phone:+14155550100`: how an identity is written in a customer's identity set. */
export function identityLabel(ref: IdentityRef): string {
  return `${ref.kind}:${ref.value}`;
}

export function parseIdentityLabel(label: string): IdentityRef {
  const at = label.indexOf(':');
  return { kind: label.slice(0, at) as IdentityKind, value: label.slice(at + 1) };
}

/** True when DynamoDB refused a write because its condition did not hold (directly or in a transaction). */
export function isConditionFailure(err: unknown): boolean {
  const name = (err as { name?: string } | undefined)?.name;
  if (name === 'ConditionalCheckFailedException') return true;
  if (name === 'TransactionCanceledException') {
    const reasons = (err as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];
    return reasons.some((r) => r.Code === 'ConditionalCheckFailed');
  }
  return false;
}

const notExists = `attribute_not_exists(${PK})`;

/** A customer item as the record the rest of the code sees. */
export function toCustomer(item: Record<string, unknown>): CustomerRecord {
  const identities = item.identities;
  return {
    customerId: item.customerId as string,
    conversationId: item.conversationId as string,
    identities: identities instanceof Set ? [...(identities as Set<string>)].sort() : [],
    status: (item.status as CustomerRecord['status']) ?? 'open',
    ...(item.displayName ? { displayName: item.displayName as string } : {}),
    createdAt: item.createdAt as string,
    ...(item.mergedInto ? { mergedInto: item.mergedInto as string } : {}),
    ...(typeof item.mergedAt === 'string' ? { mergedAt: item.mergedAt } : {}),
  };
}

/**
 * Which customer each identity belongs to (absent when unknown): one GetItem, or one BatchGet. Eventually
 * consistent unless `consistent` (as after a lost create: the winner's identity was just written, and an
 * eventually consistent read may not see it yet).
 *
 * @example
 * ```ts
 * const owners = await findIdentityOwners([{ kind: 'phone', value: '+14155550100' }]);
 * ```
 */
export async function findIdentityOwners(refs: readonly IdentityRef[], options: { consistent?: boolean } = {}): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  const ConsistentRead = options.consistent === true;
  if (refs.length === 1) {
    const ref = refs[0]!;
    const { Item } = await documentClient.send(new GetCommand({ TableName: getTableName(), Key: identityKey(ref), ProjectionExpression: 'customerId', ConsistentRead }));
    if (Item) owners.set(identityLabel(ref), Item.customerId as string);
    return owners;
  }
  if (refs.length === 0) return owners;
  const { Responses, UnprocessedKeys } = await documentClient.send(
    new BatchGetCommand({ RequestItems: { [getTableName()]: { Keys: refs.map(identityKey), ProjectionExpression: 'kind, #v, customerId', ExpressionAttributeNames: { '#v': 'value' }, ConsistentRead } } }),
  );
  if (UnprocessedKeys && Object.keys(UnprocessedKeys).length > 0) throw new Error('Identity lookup was throttled');
  for (const item of Responses?.[getTableName()] ?? []) owners.set(identityLabel({ kind: item.kind, value: item.value }), item.customerId as string);
  return owners;
}

/**
 * Creates a customer together with its first identity, atomically. Returns false when the identity was
 * claimed meanwhile by a concurrent first message (then nothing is written): its create committed first
 * (the condition fails), or is still in flight (DynamoDB cancels this one with `TransactionConflict`;
 * after a short pause, so that the caller's consistent read finds the winner).
 */
export async function createCustomerWithIdentity(input: {
  customerId: string;
  conversationId: string;
  identity: IdentityRef;
  displayName?: string;
  now: string;
}): Promise<boolean> {
  const TableName = getTableName();
  try {
    await documentClient.send(
      new TransactWriteCommand({
        TransactItems: [
          {
            Put: {
              TableName,
              Item: { ...identityKey(input.identity), kind: input.identity.kind, value: input.identity.value, customerId: input.customerId, linkedAt: input.now },
              ConditionExpression: notExists,
            },
          },
          {
            Put: {
              TableName,
              Item: {
                ...customerKey(input.customerId),
                customerId: input.customerId,
                conversationId: input.conversationId,
                identities: new Set([identityLabel(input.identity)]),
                status: 'open',
                displayName: input.displayName,
                createdAt: input.now,
              },
              ConditionExpression: notExists,
            },
          },
        ],
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailure(err)) return false;
    const reasons = cancellationCodes(err);
    if (reasons?.includes('TransactionConflict')) {
      await sleep(10 + Math.random() * 40);
      return false;
    }
    throw err;
  }
}

/** A concurrent transaction on the same customer item (two claims for one customer at once): worth trying again. */
const MAX_CLAIM_ATTEMPTS = 3;

/**
 * Links an unclaimed identity to a customer: the identity item and the label in the customer's identity
 * set in one transaction, so a request that stops part-way never leaves an identity that a merge (which
 * repoints the labels in the set) would leave behind. Returns the identity's owner afterwards:
 * `customerId` when this call won, or whoever claimed it first.
 *
 * @example
 * ```ts
 * const owner = await claimIdentity({ kind: 'email', value: 'jo@example.com' }, 'cus_…', now);
 * ```
 */
export async function claimIdentity(ref: IdentityRef, customerId: string, now: string): Promise<string> {
  const TableName = getTableName();
  for (let attempt = 1; ; attempt++) {
    try {
      await documentClient.send(
        new TransactWriteCommand({
          TransactItems: [
            { Put: { TableName, Item: { ...identityKey(ref), kind: ref.kind, value: ref.value, customerId, linkedAt: now }, ConditionExpression: notExists } },
            { Update: addIdentitiesUpdate(customerId, [identityLabel(ref)]) },
          ],
        }),
      );
      return customerId;
    } catch (err) {
      const reasons = cancellationCodes(err);
      if (reasons?.includes('TransactionConflict') && !reasons.includes('ConditionalCheckFailed') && attempt < MAX_CLAIM_ATTEMPTS) continue;
      if (reasons?.[1] === 'ConditionalCheckFailed') throw new Error('Claiming an identity for a missing customer', { cause: err });
      if (reasons?.[0] !== 'ConditionalCheckFailed') throw err;
      const { Item } = await documentClient.send(new GetCommand({ TableName, Key: identityKey(ref), ConsistentRead: true }));
      if (!Item) throw new Error('Identity vanished while being claimed', { cause: err });
      return Item.customerId as string;
    }
  }
}

/** The per-item codes of a cancelled transaction (`None`, `ConditionalCheckFailed`, `TransactionConflict`…). */
function cancellationCodes(err: unknown): string[] | undefined {
  if ((err as { name?: string } | undefined)?.name !== 'TransactionCanceledException') return undefined;
  return ((err as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? []).map((r) => r.Code ?? 'None');
}

/** Moves an identity from one customer to another, only if it still belongs to the first. */
export async function repointIdentity(ref: IdentityRef, fromCustomerId: string, toCustomerId: string, now: string): Promise<void> {
  try {
    await documentClient.send(
      new UpdateCommand({
        TableName: getTableName(),
        Key: identityKey(ref),
        UpdateExpression: 'SET customerId = :to, linkedAt = :now',
        ConditionExpression: 'customerId = :from',
        ExpressionAttributeValues: { ':to': toCustomerId, ':from': fromCustomerId, ':now': now },
      }),
    );
  } catch (err) {
    if (!isConditionFailure(err)) throw err;
  }
}

/**
 * Adds identity labels to an existing customer's identity set (idempotent).
 *
 * @example
 * ```ts
 * await addCustomerIdentities('cus_…', ['email:jo@example.com']);
 * ```
 */
export async function addCustomerIdentities(customerId: string, labels: readonly string[]): Promise<void> {
  if (labels.length === 0) return;
  await documentClient.send(new UpdateCommand(addIdentitiesUpdate(customerId, labels)));
}

/** `ADD identities`, on a customer that exists: alone, or as one item of a claim's transaction. */
function addIdentitiesUpdate(customerId: string, labels: readonly string[]) {
  return {
    TableName: getTableName(),
    Key: customerKey(customerId),
    UpdateExpression: 'ADD identities :labels',
    ConditionExpression: `attribute_exists(${PK})`,
    ExpressionAttributeValues: { ':labels': new Set(labels) },
  };
}

/**
 * A customer by id; `consistent` reads the latest write (used after appending a message, to notice a
 * merge that raced with it).
 */
export async function getCustomer(customerId: string, options: { consistent?: boolean } = {}): Promise<CustomerRecord | undefined> {
  const { Item } = await documentClient.send(new GetCommand({ TableName: getTableName(), Key: customerKey(customerId), ConsistentRead: options.consistent ?? false }));
  return Item ? toCustomer(Item) : undefined;
}

/**
 * Marks `sourceId` as merged into `targetId`. Returns the customer it is merged into afterwards: the
 * target, or an earlier merge's target when another merge won.
 */
export async function markCustomerMerged(sourceId: string, targetId: string, now: string): Promise<string> {
  try {
    await documentClient.send(
      new UpdateCommand({
        TableName: getTableName(),
        Key: customerKey(sourceId),
        UpdateExpression: 'SET mergedInto = :target, mergedAt = :now',
        ConditionExpression: `attribute_exists(${PK}) AND attribute_not_exists(mergedInto)`,
        ExpressionAttributeValues: { ':target': targetId, ':now': now },
      }),
    );
    return targetId;
  } catch (err) {
    if (!isConditionFailure(err)) throw err;
    const current = await getCustomer(sourceId, { consistent: true });
    if (!current?.mergedInto) throw new Error('Merge condition failed without a merge', { cause: err });
    return current.mergedInto;
  }
}

function toItem(message: StoredMessage): Record<string, unknown> {
  const { email, ...rest } = message;
  return {
    ...messageKey(message.conversationId, message.messageId),
    [LSI1SK]: threadSortKey(message.createdAt, message.messageId),
    ...rest,
    ...(email ? { email } : {}),
  };
}

function toMessage(item: Record<string, unknown>): StoredMessage {
  const { [PK]: _pk, [SK]: _sk, [LSI1SK]: _lsi, [tableSchema.ttlAttribute]: _ttl, [MESSAGE_REVISION]: _rev, ...message } = item;
  return message as StoredMessage;
}

/**
 * Appends a message to its conversation, unless a message with that id is already there (a retried
 * delivery). One conditional PutItem (plus its index entry).
 *
 * @example
 * ```ts
 * const outcome = await appendMessage(msg); // 'created' | 'duplicate'
 * ```
 */
export async function appendMessage(message: StoredMessage): Promise<'created' | 'duplicate'> {
  try {
    await documentClient.send(new PutCommand({ TableName: getTableName(), Item: toItem(message), ConditionExpression: notExists }));
    return 'created';
  } catch (err) {
    if (isConditionFailure(err)) return 'duplicate';
    throw err;
  }
}

/** One message, or undefined. */
export async function getMessage(conversationId: string, messageId: string): Promise<StoredMessage | undefined> {
  const { Item } = await documentClient.send(new GetCommand({ TableName: getTableName(), Key: messageKey(conversationId, messageId), ConsistentRead: true }));
  return Item ? toMessage(Item) : undefined;
}

/** A position in a thread: the last message of a page. Opaque to clients. */
function encodeCursor(item: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify({ t: item[LSI1SK], m: item.messageId })).toString('base64url');
}

/** `threadSortKey` as this module writes it: `Date#toISOString()`, `#`, a message id (`msg_` + 32 hex). */
const CURSOR_POSITION = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)#(msg_[0-9a-f]{32})$/;

/**
 * A client's cursor back to the key it stands for. Anything this module could not have written is a
 * `ValidationError` (400): passed on, an oversized or odd key would fail the Query (a 500 for a client's fault).
 */
function decodeCursor(conversationId: string, cursor: string): Record<string, unknown> {
  let position: unknown;
  try {
    position = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (cause) {
    throw new ValidationError('Invalid cursor', { cause });
  }
  const p = position as { t?: unknown; m?: unknown } | null;
  const [, at, messageId] = (typeof p?.t === 'string' ? CURSOR_POSITION.exec(p.t) : null) ?? [];
  if (at === undefined || messageId === undefined || messageId !== p?.m || !isIsoTimestamp(at)) throw new ValidationError('Invalid cursor');
  return { ...messageKey(conversationId, messageId), [LSI1SK]: threadSortKey(at, messageId) };
}

/** True for a real instant written as `toISOString()` writes it (no 2026-13-45). */
function isIsoTimestamp(at: string): boolean {
  const ms = Date.parse(at);
  return Number.isFinite(ms) && new Date(ms).toISOString() === at;
}

/**
 * One page of a thread, oldest first, as a single Query on the time-ordered index: its cost depends on
 * the page size, never on the thread's length. `cursor` is the `nextCursor` of the previous page.
 *
 * @example
 * ```ts
 * const { items, nextCursor } = await listThreadPage('conv_…', { limit: 50 });
 * ```
 */
export async function listThreadPage(
  conversationId: string,
  options: { limit: number; cursor?: string; newestFirst?: boolean },
): Promise<{ items: StoredMessage[]; nextCursor: string | null }> {
  const { Items = [], LastEvaluatedKey } = await documentClient.send(
    new QueryCommand({
      TableName: getTableName(),
      IndexName: tableSchema.threadIndex.name,
      KeyConditionExpression: `${PK} = :pk`,
      ExpressionAttributeValues: { ':pk': conversationPk(conversationId) },
      ScanIndexForward: !options.newestFirst,
      Limit: options.limit,
      ...(options.cursor ? { ExclusiveStartKey: decodeCursor(conversationId, options.cursor) } : {}),
    }),
  );
  const last = Items[Items.length - 1];
  return { items: Items.map(toMessage), nextCursor: LastEvaluatedKey && last ? encodeCursor(last) : null };
}

/** The newest message of a thread, for the conversation's `lastMessageAt`. */
export async function latestMessage(conversationId: string): Promise<StoredMessage | undefined> {
  return (await listThreadPage(conversationId, { limit: 1, newestFirst: true })).items[0];
}

/**
 * Moves every message of `fromConversationId` into `toConversationId` (merging two customers). Each
 * page is written to the target before it is deleted from the source, under the same message ids, so a
 * crash or a second run repeats harmlessly: every message ends up exactly once.
 *
 * A source copy is deleted only if no update changed it since it was copied (its revision is the one
 * read): a status callback or a media job that updated it in between finds it still there, and the next
 * round copies it again with that update. Until its source copy is gone, a message is updated there
 * (readers look in the named conversation first), so copying over the target loses nothing.
 */
export async function moveThread(fromConversationId: string, toConversationId: string, toCustomerId: string): Promise<number> {
  const moved = new Set<string>();
  for (;;) {
    // Always the first page: what was moved is gone from the source.
    const { Items = [] } = await documentClient.send(
      new QueryCommand({
        TableName: getTableName(),
        KeyConditionExpression: `${PK} = :pk`,
        ExpressionAttributeValues: { ':pk': conversationPk(fromConversationId) },
        ConsistentRead: true,
        Limit: 25,
      }),
    );
    if (Items.length === 0) return moved.size;
    await Promise.all(Items.map((item) => moveMessage(item, fromConversationId, toConversationId, toCustomerId).then((done) => done && moved.add(item.messageId as string))));
  }
}

/**
 * One message of a move: the copy lands unless the target already holds this revision or a later one
 * (a slower concurrent run of the same merge must not put back an older state), then the source copy
 * goes if still at the revision copied. False when it changed meanwhile (the caller's next round
 * moves it again).
 */
async function moveMessage(item: Record<string, unknown>, fromConversationId: string, toConversationId: string, toCustomerId: string): Promise<boolean> {
  const revision = item[MESSAGE_REVISION] as number | undefined;
  const copy = { ...toItem({ ...toMessage(item), conversationId: toConversationId, customerId: toCustomerId }), ...(revision === undefined ? {} : { [MESSAGE_REVISION]: revision }) };
  const unchanged = revision === undefined ? `attribute_not_exists(${MESSAGE_REVISION})` : `${MESSAGE_REVISION} = :revision`;
  const revisionValue = revision === undefined ? {} : { ExpressionAttributeValues: { ':revision': revision } };
  try {
    await documentClient.send(
      new PutCommand({
        TableName: getTableName(),
        Item: copy,
        ConditionExpression: revision === undefined ? notExists : `${notExists} OR attribute_not_exists(${MESSAGE_REVISION}) OR ${MESSAGE_REVISION} < :revision`,
        ...revisionValue,
      }),
    );
  } catch (err) {
    if (!isConditionFailure(err)) throw err; // the target already has this state or a later one
  }
  try {
    await documentClient.send(new DeleteCommand({ TableName: getTableName(), Key: messageKey(fromConversationId, item.messageId as string), ConditionExpression: unchanged, ...revisionValue }));
    return true;
  } catch (err) {
    if (!isConditionFailure(err)) throw err;
    return false; // changed since the copy: the next round copies it again
  }
}

/** Replaces a message's attachment list (the inbound-work consumer records stored media). */
export async function setAttachments(conversationId: string, messageId: string, attachments: readonly Attachment[]): Promise<void> {
  await documentClient.send(
    new UpdateCommand(
      revised({
        TableName: getTableName(),
        Key: messageKey(conversationId, messageId),
        UpdateExpression: 'SET attachments = :a',
        ConditionExpression: `attribute_exists(${PK})`,
        ExpressionAttributeValues: { ':a': attachments },
      }),
    ),
  );
}
