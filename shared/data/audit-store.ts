import { randomBytes } from 'node:crypto';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { documentClient, getTableName } from '#shared/data/client.ts';
import { PK, SK, auditKey, auditPk } from '#shared/data/keys.ts';
import type { AuditEntry } from '#shared/domain/template.ts';

/**
 * The audit trail: append-only by construction. This module offers no update and no delete, and every
 * write is a Put under a new key with `attribute_not_exists`, so an entry, once written, never changes.
 *
 * Entries of one subject share a partition (`AUDIT#<subject>`) sorted by `<at>#<entryId>`: reading a
 * trail oldest first is one Query.
 */

let sequence = 0;

/**
 * A new entry id: a per-process sequence (so entries written by one process within the same
 * millisecond keep their order) followed by randomness (so two processes never collide).
 */
function newEntryId(): string {
  sequence = (sequence + 1) % 0x1_0000_0000;
  return `${sequence.toString(16).padStart(8, '0')}${randomBytes(8).toString('hex')}`;
}

/**
 * The item of a new audit entry with its create-only condition, for a `TransactWriteItems` that changes
 * state and records that change atomically. Only the data module uses it (template and consent stores).
 *
 * @example
 * ```ts
 * TransactItems: [{ Update: … }, auditPutItem({ subject: 'TPL#tpl_…', at, actor, action: 'approved' })]
 * ```
 */
export function auditPutItem(entry: Omit<AuditEntry, 'entryId'>): { Put: { TableName: string; Item: Record<string, unknown>; ConditionExpression: string } } {
  const entryId = newEntryId();
  return {
    Put: {
      TableName: getTableName(),
      Item: { ...auditKey(entry.subject, entry.at, entryId), ...entry, entryId },
      ConditionExpression: `attribute_not_exists(${PK})`,
    },
  };
}

/**
 * Appends one entry to a subject's trail (`TPL#<templateId>` or `CUST#<customerId>`).
 *
 * @example
 * ```ts
 * await appendAudit({ subject: `TPL#${templateId}`, at: now, actor: 'alice', action: 'submitted', details: { version: 2 } });
 * ```
 */
export async function appendAudit(entry: Omit<AuditEntry, 'entryId'>): Promise<void> {
  await documentClient.send(new PutCommand(auditPutItem(entry).Put));
}

function toEntry(item: Record<string, unknown>): AuditEntry {
  const { [PK]: _pk, [SK]: _sk, ...entry } = item;
  return entry as AuditEntry;
}

/**
 * A subject's whole trail, oldest first (one Query, followed across pages).
 *
 * @example
 * ```ts
 * const entries = await listAudit(`TPL#${templateId}`);
 * ```
 */
export async function listAudit(subject: string): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await documentClient.send(
      new QueryCommand({
        TableName: getTableName(),
        KeyConditionExpression: `${PK} = :pk`,
        ExpressionAttributeValues: { ':pk': auditPk(subject) },
        ConsistentRead: true,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    entries.push(...(page.Items ?? []).map(toEntry));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return entries;
}
