import { QueryCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient, getTableName } from '#shared/data/client.ts';
import { isConditionFailure } from '#shared/data/conversation-store.ts';
import { OUTBOX_PK, outboxKey, PK, SK } from '#shared/data/keys.ts';
import type { Channel } from '#shared/domain/message.ts';

/** What the local outbox keeps of a message it took instead of a provider. */
export type OutboxEntry = {
  readonly messageId: string;
  readonly conversationId: string;
  readonly channel: Channel;
  /** Phone, email address or chat userId. Local outbox only: this store is never deployed with data. */
  readonly to: string;
  readonly body: string;
  readonly subject?: string;
  readonly html?: string;
  /** Email headers the provider would have been given (threading, List-Unsubscribe). */
  readonly headers?: Readonly<Record<string, string>>;
  /** When it was recorded, ISO 8601. */
  readonly at: string;
};

/**
 * One entry per messageId, whatever the retries. The entry's key starts with the time (so the listing is
 * a newest-first Query), which a retry would change; so a guard item keyed by messageId alone is written
 * in the same transaction, both conditioned on not existing. Local-outbox only, so the extra write unit
 * costs nothing that matters.
 *
 * | item         | pk                        | sk                     |
 * | ------------ | ------------------------- | ---------------------- |
 * | outbox entry | `OUTBOX`                  | `<at ISO>#<messageId>` |
 * | guard        | `OUTBOX#MSG#<messageId>`  | `GUARD`                |
 */
const outboxGuardKey = (messageId: string) => ({ [PK]: `${OUTBOX_PK}#MSG#${messageId}`, [SK]: 'GUARD' });

/**
 * Records a message in the local outbox. Returns `true` when recorded now, `false` when this messageId
 * was already recorded (nothing is added).
 *
 * @example
 * ```ts
 * await recordOutbox({ messageId, conversationId, channel: 'sms', to: '+15551234567', body: 'Hi', at: new Date().toISOString() });
 * ```
 */
export async function recordOutbox(entry: OutboxEntry): Promise<boolean> {
  const TableName = getTableName();
  const condition = { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': PK } };
  try {
    await documentClient.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName, Item: { ...outboxGuardKey(entry.messageId), at: entry.at }, ...condition } },
          { Put: { TableName, Item: { ...outboxKey(entry.at, entry.messageId), ...entry }, ...condition } },
        ],
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw err;
  }
}

/**
 * The newest `limit` outbox entries, newest first.
 *
 * @example
 * ```ts
 * const [latest] = await listOutbox(1);
 * ```
 */
export async function listOutbox(limit = 100): Promise<OutboxEntry[]> {
  const { Items = [] } = await documentClient.send(
    new QueryCommand({
      TableName: getTableName(),
      KeyConditionExpression: '#pk = :pk',
      ExpressionAttributeNames: { '#pk': PK },
      ExpressionAttributeValues: { ':pk': OUTBOX_PK },
      ScanIndexForward: false,
      Limit: limit,
    }),
  );
  return Items.map(toEntry);
}

function toEntry(item: Record<string, unknown>): OutboxEntry {
  const { [PK]: _pk, [SK]: _sk, ...entry } = item;
  return entry as OutboxEntry;
}
