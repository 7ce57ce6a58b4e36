import { GetCommand, QueryCommand, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient, getTableName } from '#shared/data/client.ts';
import { auditPutItem } from '#shared/data/audit-store.ts';
import { isConditionFailure, toCustomer, type CustomerRecord } from '#shared/data/conversation-store.ts';
import { PK, SK, consentKey, customerKey } from '#shared/data/keys.ts';
import { channels, type Channel } from '#shared/domain/message.ts';

/**
 * The consent ledger: one item per customer and channel (`CUST#<id>` / `CONSENT#<channel>`), absent
 * until the first change. Every change is written together with its audit entry (`AUDIT#CUST#<id>`) in
 * one transaction, so the ledger and its history cannot disagree.
 */

export type ConsentStatus = 'opted_in' | 'opted_out';

/** No record means the customer never opted out: contacting them on that channel is allowed. */
export const DEFAULT_CONSENT: ConsentStatus = 'opted_in';

export type ConsentChange = {
  customerId: string;
  channel: Channel;
  status: ConsentStatus;
  /** Where the change came from: `sms:keyword`, `twilio:OptOutType`, `email:one-click`, `agent:…`. */
  source: string;
  /** Who asked for it: `customer`, or a staff user id. */
  actor: string;
  /** ISO 8601: when the change is written (the audit entry's time). */
  now: string;
  /**
   * ISO 8601: when the customer asked, i.e. the time of the message that asked (a retried delivery
   * carries its first delivery's time). A change asked for before the recorded one is skipped. Defaults
   * to `now`.
   */
  requestedAt?: string;
};

const CONSENT_SK_PREFIX = 'CONSENT#';
/** A concurrent transaction on the same items (two copies of one STOP): worth trying again. */
const MAX_ATTEMPTS = 3;

/**
 * A customer and their consent on one channel, from one strongly consistent Query of the customer's
 * partition (the customer item and its few `CONSENT#<channel>` items): the first read of every send,
 * one round trip instead of two.
 *
 * @example
 * ```ts
 * const { customer, consent } = await getCustomerWithConsent(customerId, 'sms');
 * ```
 */
export async function getCustomerWithConsent(customerId: string, channel: Channel): Promise<{ customer: CustomerRecord | undefined; consent: ConsentStatus }> {
  const { Items = [] } = await documentClient.send(
    new QueryCommand({
      TableName: getTableName(),
      KeyConditionExpression: `${PK} = :pk`,
      ExpressionAttributeValues: { ':pk': customerKey(customerId)[PK] },
      ConsistentRead: true,
    }),
  );
  const customerItem = Items.find((item) => item[SK] === customerKey(customerId)[SK]);
  const consentItem = Items.find((item) => item[SK] === consentKey(customerId, channel)[SK]);
  return { customer: customerItem ? toCustomer(customerItem) : undefined, consent: (consentItem?.status as ConsentStatus | undefined) ?? DEFAULT_CONSENT };
}

/** A customer's consent items, one per channel ever changed (strongly consistent): one Query. */
async function consentItems(customerId: string): Promise<Array<Record<string, unknown> & { channel: Channel }>> {
  const { Items = [] } = await documentClient.send(
    new QueryCommand({
      TableName: getTableName(),
      KeyConditionExpression: `${PK} = :pk AND begins_with(${SK}, :prefix)`,
      ExpressionAttributeValues: { ':pk': customerKey(customerId)[PK], ':prefix': CONSENT_SK_PREFIX },
      ConsistentRead: true,
    }),
  );
  return Items.filter((item): item is Record<string, unknown> & { channel: Channel } => channels.includes(item.channel as Channel));
}

/**
 * The channels a customer opted out of, each with when they asked (`requestedAt`, or the time it was
 * recorded for a change written before request times were kept): what a merge carries to the survivor.
 *
 * @example
 * ```ts
 * const optOuts = await listOptOuts(customerId); // [{ channel: 'sms', requestedAt: '2026-…' }]
 * ```
 */
export async function listOptOuts(customerId: string): Promise<Array<{ channel: Channel; requestedAt?: string }>> {
  return (await consentItems(customerId))
    .filter((item) => item.status === 'opted_out')
    .map((item) => {
      const requestedAt = typeof item.requestedAt === 'string' ? item.requestedAt : typeof item.updatedAt === 'string' ? item.updatedAt : undefined;
      return { channel: item.channel, ...(requestedAt !== undefined ? { requestedAt } : {}) };
    });
}

/**
 * A customer's consent on every channel (channels never changed are `opted_in`): one Query.
 *
 * @example
 * ```ts
 * const { sms, email } = await listConsent(customerId);
 * ```
 */
export async function listConsent(customerId: string): Promise<Record<Channel, ConsentStatus>> {
  const state = Object.fromEntries(channels.map((c) => [c, DEFAULT_CONSENT])) as Record<Channel, ConsentStatus>;
  for (const item of await consentItems(customerId)) state[item.channel] = item.status as ConsentStatus;
  return state;
}

/**
 * Records a consent change and its audit entry in one TransactWriteItems. Returns false, writing no
 * change, when the status already is `status` (a retried STOP, a second unsubscribe click), or when the
 * recorded change was asked for later than this one (a STOP retried by Twilio after the customer's
 * START): the condition on the consent item says so, so two concurrent copies still make one change and
 * keywords applied out of order keep the customer's last word. An equal time is the same request again.
 *
 * @example
 * ```ts
 * const changed = await setConsent({ customerId, channel: 'sms', status: 'opted_out', source: 'sms:keyword', actor: 'customer', now });
 * ```
 */
export async function setConsent(change: ConsentChange): Promise<boolean> {
  const { customerId, channel, status, source, actor, now } = change;
  const requestedAt = change.requestedAt ?? now;
  const TableName = getTableName();
  const subject = `CUST#${customerId}`;
  // Absent counts as the default: opting in a customer who never opted out is not a change.
  const differs = status === DEFAULT_CONSENT ? `attribute_exists(${PK}) AND #s <> :status` : `attribute_not_exists(${PK}) OR #s <> :status`;
  for (let attempt = 1; ; attempt++) {
    try {
      await documentClient.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName,
                Item: { ...consentKey(customerId, channel), customerId, channel, status, source, actor, updatedAt: now, requestedAt },
                ConditionExpression: `(${differs}) AND (${NOT_LATER_ON_RECORD})`,
                ExpressionAttributeNames: { '#s': 'status', '#r': 'requestedAt' },
                ExpressionAttributeValues: { ':status': status, ':requestedAt': requestedAt },
              },
            },
            // A new entry (new id, create-only) per attempt: the audit trail is append-only.
            auditPutItem({ subject, at: now, actor, action: status, details: { channel, source } }),
          ],
        }),
      );
      return true;
    } catch (err) {
      const reasons = cancellationReasons(err);
      if (reasons?.[0] === 'ConditionalCheckFailed') {
        if (await keepRequestTime(change, requestedAt)) return false;
        // The status changed between the two writes: decide again.
        if (attempt < MAX_ATTEMPTS) continue;
        throw new Error('Consent kept changing while being set', { cause: err });
      }
      if (reasons?.includes('TransactionConflict') && attempt < MAX_ATTEMPTS) continue;
      throw err;
    }
  }
}

/**
 * `requestedAt` on record is never later than this: ISO 8601 strings of one format compare as times.
 * An item written before `requestedAt` was kept has no order to keep.
 */
const NOT_LATER_ON_RECORD = 'attribute_not_exists(#r) OR #r <= :requestedAt';

/**
 * A request that changes nothing (the status already is `status`) still moves the recorded time forward,
 * so that a keyword asked for before it and retried after it is skipped too (STOP stored but not applied,
 * then START, then the STOP's retry). No audit entry: nothing changed. True when settled (moved, or a
 * later request is on record); false when the status differs by now.
 */
async function keepRequestTime(change: ConsentChange, requestedAt: string): Promise<boolean> {
  const { customerId, channel, status } = change;
  const Key = consentKey(customerId, channel);
  const sameStatus = status === DEFAULT_CONSENT ? `(attribute_not_exists(${PK}) OR #s = :status)` : '#s = :status';
  try {
    await documentClient.send(
      new UpdateCommand({
        TableName: getTableName(),
        Key,
        UpdateExpression: 'SET requestedAt = :requestedAt, customerId = :customerId, channel = :channel, #s = :status',
        ConditionExpression: `${sameStatus} AND (${NOT_LATER_ON_RECORD})`,
        ExpressionAttributeNames: { '#s': 'status', '#r': 'requestedAt' },
        ExpressionAttributeValues: { ':status': status, ':requestedAt': requestedAt, ':customerId': customerId, ':channel': channel },
      }),
    );
    return true;
  } catch (err) {
    if (!isConditionFailure(err)) throw err;
    const { Item } = await documentClient.send(new GetCommand({ TableName: getTableName(), Key, ConsistentRead: true }));
    return typeof Item?.requestedAt === 'string' && Item.requestedAt > requestedAt;
  }
}

/** The per-item codes of a cancelled transaction (`None`, `ConditionalCheckFailed`, `TransactionConflict`…). */
function cancellationReasons(err: unknown): string[] | undefined {
  if ((err as { name?: string } | undefined)?.name !== 'TransactionCanceledException') return undefined;
  const reasons = (err as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? [];
  return reasons.map((r) => r.Code ?? 'None');
}
