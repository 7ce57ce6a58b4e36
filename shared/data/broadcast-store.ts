import { GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient, getTableName } from '#shared/data/client.ts';
import { PK, SK, broadcastKey, pacingKey } from '#shared/data/keys.ts';
import { isConditionFailure } from '#shared/data/conversation-store.ts';
import type { Channel } from '#shared/domain/message.ts';

/**
 * A broadcast: one approved template version sent to a list of customers. Recorded before the first
 * message is queued (`queuing`), so a broadcast cut short still leaves a record that its messages'
 * `broadcastId` points to; completed with its counts once every customer has been tried.
 */
export type BroadcastRecord = {
  broadcastId: string;
  templateId: string;
  version: number;
  channel: Channel;
  createdBy: string;
  createdAt: string;
  status: 'queuing' | 'queued';
  /** Customers asked for. */
  requested: number;
  accepted: number;
  refused: number;
  completedAt?: string;
};

/**
 * Records a new broadcast (`queuing`, counts 0). Create-only: an id is never reused.
 *
 * @example
 * ```ts
 * await recordBroadcast({ broadcastId, templateId, version: 3, channel: 'sms', createdBy: 'alice', createdAt: now, requested: 120 });
 * ```
 */
export async function recordBroadcast(input: Omit<BroadcastRecord, 'status' | 'accepted' | 'refused' | 'completedAt'>): Promise<void> {
  await documentClient.send(
    new PutCommand({
      TableName: getTableName(),
      Item: { ...broadcastKey(input.broadcastId), ...input, status: 'queuing', accepted: 0, refused: 0 },
      ConditionExpression: `attribute_not_exists(${PK})`,
    }),
  );
}

/**
 * Marks a broadcast `queued` with how many customers were accepted and refused.
 *
 * @example
 * ```ts
 * await completeBroadcast(broadcastId, { accepted: 118, refused: 2, now });
 * ```
 */
export async function completeBroadcast(broadcastId: string, counts: { accepted: number; refused: number; now: string }): Promise<void> {
  await documentClient.send(
    new UpdateCommand({
      TableName: getTableName(),
      Key: broadcastKey(broadcastId),
      UpdateExpression: 'SET #s = :queued, accepted = :accepted, refused = :refused, completedAt = :now',
      ConditionExpression: `attribute_exists(${PK})`,
      ExpressionAttributeNames: { '#s': 'status' },
      ExpressionAttributeValues: { ':queued': 'queued', ':accepted': counts.accepted, ':refused': counts.refused, ':now': counts.now },
    }),
  );
}

/**
 * A broadcast by id, or undefined.
 *
 * @example
 * ```ts
 * const record = await getBroadcast('bc_…');
 * ```
 */
export async function getBroadcast(broadcastId: string): Promise<BroadcastRecord | undefined> {
  const { Item } = await documentClient.send(new GetCommand({ TableName: getTableName(), Key: broadcastKey(broadcastId), ConsistentRead: true }));
  if (!Item) return undefined;
  const { [PK]: _pk, [SK]: _sk, ...record } = Item;
  return record as BroadcastRecord;
}

/** Tries at reserving a window when other broadcasts keep reserving first. */
const MAX_RESERVE_ATTEMPTS = 10;

/**
 * Reserves the next `seconds` of a channel's send capacity for one broadcast and returns when that
 * window starts: now, or when the window reserved last (by any broadcast, from any handler) ends. So
 * broadcasts on one channel take turns at the configured rate instead of each sending at the full rate
 * (two at once would otherwise double what a Twilio long code is asked to send). An optimistic,
 * conditional write on one item per channel; a reservation that lost a race reads again. Nothing is
 * reserved when the window would end after `latestEnd`: the answer then says until when the channel is
 * booked.
 *
 * @example
 * ```ts
 * const window = await reservePacingWindow('sms', 120, new Date(), latestEnd); // { start } or { bookedUntil }
 * ```
 */
export async function reservePacingWindow(channel: Channel, seconds: number, now: Date, latestEnd: Date): Promise<{ start: Date } | { bookedUntil: Date }> {
  const TableName = getTableName();
  const Key = pacingKey(channel);
  for (let attempt = 1; ; attempt++) {
    const { Item } = await documentClient.send(new GetCommand({ TableName, Key, ConsistentRead: true }));
    const reservedUntil = typeof Item?.reservedUntil === 'number' ? Item.reservedUntil : undefined;
    const startMs = Math.max(now.getTime(), reservedUntil ?? 0);
    if (startMs + seconds * 1000 > latestEnd.getTime()) return { bookedUntil: new Date(startMs) };
    try {
      await documentClient.send(
        new PutCommand({
          TableName,
          Item: { ...Key, channel, reservedUntil: startMs + seconds * 1000, updatedAt: now.toISOString() },
          ConditionExpression: reservedUntil === undefined ? `attribute_not_exists(${PK})` : 'reservedUntil = :seen',
          ...(reservedUntil === undefined ? {} : { ExpressionAttributeValues: { ':seen': reservedUntil } }),
        }),
      );
      return { start: new Date(startMs) };
    } catch (err) {
      if (!isConditionFailure(err) || attempt >= MAX_RESERVE_ATTEMPTS) throw err;
    }
  }
}

/**
 * Gives back the unused tail of a window this broadcast reserved (`reservedUntil` as it set it, epoch
 * ms), down to `usedUntil`: only while no broadcast has reserved after it (the channel's item still ends
 * where this one's window ends), so a later broadcast's window is never shortened. True when given back.
 *
 * @example
 * ```ts
 * await releasePacingTail('sms', windowEnd, lastQueuedSlotEnd); // false: another broadcast came after
 * ```
 */
export async function releasePacingTail(channel: Channel, reservedUntil: number, usedUntil: number): Promise<boolean> {
  if (usedUntil >= reservedUntil) return false;
  try {
    await documentClient.send(
      new UpdateCommand({
        TableName: getTableName(),
        Key: pacingKey(channel),
        UpdateExpression: 'SET reservedUntil = :used',
        ConditionExpression: 'reservedUntil = :ours',
        ExpressionAttributeValues: { ':used': usedUntil, ':ours': reservedUntil },
      }),
    );
    return true;
  } catch (err) {
    if (isConditionFailure(err)) return false;
    throw err;
  }
}
