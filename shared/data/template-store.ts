import { setTimeout as sleep } from 'node:timers/promises';
import { GetCommand, QueryCommand, TransactWriteCommand, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import { auditPutItem } from '#shared/data/audit-store.ts';
import { documentClient, getTableName } from '#shared/data/client.ts';
import { isConditionFailure } from '#shared/data/conversation-store.ts';
import { PENDING_APPROVALS_PK, PK, SK, pendingApprovalKey, templateKey, templatePk, templateVersionKey, templateVersionSk } from '#shared/data/keys.ts';
import type { AuditEntry, TemplateDraft, TemplateVersion } from '#shared/domain/template.ts';

/**
 * Templates, their numbered versions, the pending-approval list and the state transitions between
 * them. Every transition is one `TransactWriteItems` that changes the version under a condition on its
 * current state and appends the audit entry, so the trail can never disagree with the state.
 *
 * | item             | pk                 | sk                                   |
 * | ---------------- | ------------------ | ------------------------------------ |
 * | template         | `TPL#<templateId>` | `META` (name, latestVersion)         |
 * | template version | `TPL#<templateId>` | `V#<version, 6 digits>`              |
 * | pending approval | `APPROVALS`        | `<submittedAt>#<templateId>#V#<ver>` |
 *
 * The four-eyes rule lives here, in the condition of the approving write (`author <> :approver`): no
 * caller of this module can approve a version with the author's identity, whatever it checked before.
 */

/** What the store keeps of a version beyond the domain type. */
export type StoredTemplateVersion = TemplateVersion & {
  /** Who moved the draft to `pending_approval`. */
  submittedBy?: string;
  /** The content hash the rejecting approver saw. */
  rejectedHash?: string;
};

export type TemplateRecord = {
  templateId: string;
  /** Name of the newest version. */
  name: string;
  latestVersion: number;
  createdAt: string;
  createdBy: string;
};

/** One entry of the approval queue that `GET /approvals` reads. */
export type PendingApproval = {
  templateId: string;
  version: number;
  name: string;
  author: string;
  submittedAt: string;
  contentHash: string;
};

/**
 * The outcome of a transition: `done` with the version as it now is, or `refused` with the version as
 * it is (undefined when it does not exist), from which the caller says why.
 */
export type Transition = { outcome: 'done'; version: StoredTemplateVersion } | { outcome: 'refused'; current: StoredTemplateVersion | undefined };

type TransactItems = NonNullable<TransactWriteCommandInput['TransactItems']>;

/** Audit subject of a template (`listAudit(templateAuditSubject(id))`). */
export const templateAuditSubject = (templateId: string) => `TPL#${templateId}`;

const MAX_TRANSACTION_ATTEMPTS = 8;

function cancellationCodes(err: unknown): string[] {
  return ((err as { CancellationReasons?: Array<{ Code?: string }> }).CancellationReasons ?? []).map((r) => r.Code ?? 'None');
}

/** Another transaction held one of the items: nothing was written, the write may simply be retried. */
function isTransactionConflict(err: unknown): boolean {
  const name = (err as { name?: string } | undefined)?.name;
  if (name === 'TransactionConflictException') return true;
  return name === 'TransactionCanceledException' && cancellationCodes(err).includes('TransactionConflict');
}

/**
 * Runs one transaction, retrying (with jittered backoff) while it collides with another transaction on
 * the same items. Returns which items' conditions failed when it is cancelled by a condition.
 */
async function transact(items: TransactItems): Promise<{ ok: true } | { ok: false; failed: boolean[] }> {
  for (let attempt = 1; ; attempt++) {
    try {
      await documentClient.send(new TransactWriteCommand({ TransactItems: items }));
      return { ok: true };
    } catch (err) {
      if (isConditionFailure(err)) return { ok: false, failed: cancellationCodes(err).map((code) => code === 'ConditionalCheckFailed') };
      if (!isTransactionConflict(err) || attempt >= MAX_TRANSACTION_ATTEMPTS) throw err;
      await sleep(Math.random() * 20 * 2 ** attempt);
    }
  }
}

/** A template version item without its keys. */
export function toVersion(item: Record<string, unknown>): StoredTemplateVersion {
  const { [PK]: _pk, [SK]: _sk, ...version } = item;
  return version as StoredTemplateVersion;
}

function toTemplate(item: Record<string, unknown>): TemplateRecord {
  return {
    templateId: item.templateId as string,
    name: item.name as string,
    latestVersion: item.latestVersion as number,
    createdAt: item.createdAt as string,
    createdBy: item.createdBy as string,
  };
}

function versionItem(version: TemplateVersion): Record<string, unknown> {
  return { ...templateVersionKey(version.templateId, version.version), ...version };
}

function audit(version: Pick<TemplateVersion, 'templateId' | 'version'>, entry: { at: string; actor: string; action: string; details?: Record<string, unknown> }) {
  const details: Record<string, unknown> = { version: version.version, ...entry.details };
  const record: Omit<AuditEntry, 'entryId'> = { subject: templateAuditSubject(version.templateId), at: entry.at, actor: entry.actor, action: entry.action, details };
  return auditPutItem(record);
}

const notExists = `attribute_not_exists(${PK})`;

/**
 * Creates a template with its first version (a draft), atomically, with its `created` audit entry.
 *
 * @example
 * ```ts
 * await createTemplate({ ...draft, templateId, version: 1, status: 'draft', contentHash, author: 'alice', createdAt: now });
 * ```
 */
export async function createTemplate(first: TemplateVersion): Promise<void> {
  const TableName = getTableName();
  const template = { ...templateKey(first.templateId), templateId: first.templateId, name: first.name, latestVersion: first.version, createdAt: first.createdAt, createdBy: first.author };
  const outcome = await transact([
    { Put: { TableName, Item: template, ConditionExpression: notExists } },
    { Put: { TableName, Item: versionItem(first), ConditionExpression: notExists } },
    audit(first, { at: first.createdAt, actor: first.author, action: 'created', details: { contentHash: first.contentHash } }),
  ]);
  // A fresh random id cannot already exist; if it somehow does, nothing was written: fail loudly.
  if (!outcome.ok) throw new Error('Template id collision');
}

/** A template's summary (consistent read), or undefined. */
async function getTemplateRecord(templateId: string): Promise<TemplateRecord | undefined> {
  const { Item } = await documentClient.send(new GetCommand({ TableName: getTableName(), Key: templateKey(templateId), ConsistentRead: true }));
  return Item ? toTemplate(Item) : undefined;
}

/**
 * Adds a new draft version (the latest number plus one) to an existing template; earlier versions are
 * never touched (copy-on-write). Two concurrent calls get distinct numbers: each moves
 * `latestVersion` from the value it read, in the same transaction as its version Put, and the loser
 * reads again. Returns undefined when the template does not exist.
 *
 * @example
 * ```ts
 * const v = await createTemplateVersion({ templateId, draft, contentHash, author: 'alice', now });
 * ```
 */
export async function createTemplateVersion(input: {
  templateId: string;
  draft: TemplateDraft;
  contentHash: string;
  author: string;
  now: string;
}): Promise<StoredTemplateVersion | undefined> {
  const TableName = getTableName();
  for (let attempt = 1; attempt <= MAX_TRANSACTION_ATTEMPTS; attempt++) {
    const template = await getTemplateRecord(input.templateId);
    if (!template) return undefined;
    const { name, locale, variables, content } = input.draft;
    const version: StoredTemplateVersion = {
      templateId: input.templateId,
      version: template.latestVersion + 1,
      status: 'draft',
      name,
      ...(locale !== undefined ? { locale } : {}),
      variables,
      content,
      contentHash: input.contentHash,
      author: input.author,
      createdAt: input.now,
    };
    const outcome = await transact([
      {
        Update: {
          TableName,
          Key: templateKey(input.templateId),
          UpdateExpression: 'SET latestVersion = :next, #name = :name, updatedAt = :now',
          ConditionExpression: 'latestVersion = :prev',
          ExpressionAttributeNames: { '#name': 'name' },
          ExpressionAttributeValues: { ':next': version.version, ':prev': template.latestVersion, ':name': name, ':now': input.now },
        },
      },
      { Put: { TableName, Item: versionItem(version), ConditionExpression: notExists } },
      audit(version, { at: input.now, actor: input.author, action: 'version_created', details: { contentHash: input.contentHash } }),
    ]);
    if (outcome.ok) return version;
    // Another version was created meanwhile: read the new latest number and try again.
    await sleep(Math.random() * 10 * attempt);
  }
  throw new Error('Could not allocate a template version number under contention');
}

/**
 * A template and all its versions, oldest first: one Query on the template's partition.
 *
 * @example
 * ```ts
 * const found = await getTemplateWithVersions('tpl_…'); // { template, versions } | undefined
 * ```
 */
export async function getTemplateWithVersions(templateId: string): Promise<{ template: TemplateRecord; versions: StoredTemplateVersion[] } | undefined> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await documentClient.send(
      new QueryCommand({
        TableName: getTableName(),
        KeyConditionExpression: `${PK} = :pk`,
        ExpressionAttributeValues: { ':pk': templatePk(templateId) },
        ConsistentRead: true,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  const metaSk = templateKey(templateId)[SK];
  const meta = items.find((item) => item[SK] === metaSk);
  if (!meta) return undefined;
  const versions = items.filter((item) => item[SK] !== metaSk).map(toVersion);
  versions.sort((a, b) => a.version - b.version);
  return { template: toTemplate(meta), versions };
}

/**
 * One version (consistent read: the sender re-checks approval at send time), or undefined.
 *
 * @example
 * ```ts
 * const v = await getTemplateVersion('tpl_…', 2);
 * if (v?.status !== 'approved') throw new StateConflictError('not_approved', '…');
 * ```
 */
export async function getTemplateVersion(templateId: string, version: number): Promise<StoredTemplateVersion | undefined> {
  const { Item } = await documentClient.send(new GetCommand({ TableName: getTableName(), Key: templateVersionKey(templateId, version), ConsistentRead: true }));
  return Item ? toVersion(Item) : undefined;
}

/** Versions whose content the sender has read, by template, version and hash: see {@link versionToSend}. */
const contentForSending = new Map<string, StoredTemplateVersion>();
/** Enough for every template a busy deployment sends from; the least recently used goes first. */
const CONTENT_FOR_SENDING_ENTRIES = 256;

/**
 * The version a queued message was rendered from, for the sender to render it again: undefined when there
 * is no such version, and a version carrying another hash as it is (the caller refuses it). A version's
 * content never changes once written (an edit is a new version), so an approved version read once with
 * the message's hash is kept in this process and not read again: a broadcast's thousands of sends cost no
 * read each. Its `status` is as read then and may be stale: approval is checked where it counts, in the
 * sender's claim transaction (`claimForSending`).
 *
 * @example
 * ```ts
 * const version = await versionToSend('tpl_…', 2, message.contentHash);
 * ```
 */
export async function versionToSend(templateId: string, version: number, contentHash: string | undefined): Promise<StoredTemplateVersion | undefined> {
  const key = `${getTableName()}#${templateId}#${version}#${contentHash ?? ''}`;
  const kept = contentForSending.get(key);
  if (kept) {
    // Most recently used last: the oldest entry is the least recently used.
    contentForSending.delete(key);
    contentForSending.set(key, kept);
    return kept;
  }
  const read = await getTemplateVersion(templateId, version);
  if (read?.status === 'approved' && read.contentHash === contentHash) {
    if (contentForSending.size >= CONTENT_FOR_SENDING_ENTRIES) contentForSending.delete(contentForSending.keys().next().value!);
    contentForSending.set(key, read);
  }
  return read;
}

/**
 * The highest-numbered approved (and not revoked) version of a template, or undefined: a Query of the
 * template's versions newest first (consistent), stopping at the first approved one.
 *
 * @example
 * ```ts
 * const v = await latestApprovedVersion('tpl_…');
 * ```
 */
export async function latestApprovedVersion(templateId: string): Promise<StoredTemplateVersion | undefined> {
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await documentClient.send(
      new QueryCommand({
        TableName: getTableName(),
        KeyConditionExpression: `${PK} = :pk AND ${SK} BETWEEN :first AND :last`,
        FilterExpression: '#status = :approved',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':pk': templatePk(templateId), ':first': templateVersionSk(1), ':last': templateVersionSk(999_999), ':approved': 'approved' },
        ScanIndexForward: false,
        ConsistentRead: true,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    const found = page.Items?.[0];
    if (found) return toVersion(found);
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return undefined;
}

/**
 * `draft` → `pending_approval`, with `submitted` in the audit trail. Refused (with the current version)
 * when the version is missing or not a draft.
 *
 * @example
 * ```ts
 * const t = await submitTemplateVersion({ templateId, version: 2, actor: 'alice', now });
 * ```
 */
export async function submitTemplateVersion(input: { templateId: string; version: number; actor: string; now: string }): Promise<Transition> {
  const current = await getTemplateVersion(input.templateId, input.version);
  if (current?.status !== 'draft') return { outcome: 'refused', current };
  const outcome = await transact([
    {
      Update: {
        TableName: getTableName(),
        Key: templateVersionKey(input.templateId, input.version),
        UpdateExpression: 'SET #status = :pending, submittedAt = :now, submittedBy = :actor',
        ConditionExpression: '#status = :draft AND contentHash = :hash',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':pending': 'pending_approval', ':draft': 'draft', ':now': input.now, ':actor': input.actor, ':hash': current.contentHash },
      },
    },
    audit(current, { at: input.now, actor: input.actor, action: 'submitted', details: { contentHash: current.contentHash } }),
  ]);
  if (!outcome.ok) return { outcome: 'refused', current: await getTemplateVersion(input.templateId, input.version) };
  return { outcome: 'done', version: { ...current, status: 'pending_approval', submittedAt: input.now, submittedBy: input.actor } };
}

/**
 * Puts a submitted version on the pending-approval list, once: only while the version is still
 * pending from that very submission (checked in the same transaction, so an approval that raced ahead
 * cannot leave a stale entry), and only if the entry is not there yet (a redelivered queue message
 * adds nothing, not even an audit entry).
 *
 * @example
 * ```ts
 * await recordPendingApproval({ templateId, version: 2, submittedAt, actor: 'system:approval-queue', now });
 * ```
 */
export async function recordPendingApproval(input: {
  templateId: string;
  version: number;
  submittedAt: string;
  actor: string;
  now: string;
}): Promise<'recorded' | 'already_recorded' | 'not_pending'> {
  const current = await getTemplateVersion(input.templateId, input.version);
  if (current?.status !== 'pending_approval' || current.submittedAt !== input.submittedAt) return 'not_pending';
  const TableName = getTableName();
  const entry: PendingApproval = {
    templateId: current.templateId,
    version: current.version,
    name: current.name,
    author: current.author,
    submittedAt: input.submittedAt,
    contentHash: current.contentHash,
  };
  const outcome = await transact([
    {
      ConditionCheck: {
        TableName,
        Key: templateVersionKey(input.templateId, input.version),
        ConditionExpression: '#status = :pending AND submittedAt = :submittedAt',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':pending': 'pending_approval', ':submittedAt': input.submittedAt },
      },
    },
    { Put: { TableName, Item: { ...pendingApprovalKey(input.submittedAt, input.templateId, input.version), ...entry }, ConditionExpression: notExists } },
    audit(current, { at: input.now, actor: input.actor, action: 'queued_for_approval', details: { contentHash: current.contentHash } }),
  ]);
  if (outcome.ok) return 'recorded';
  return outcome.failed[0] ? 'not_pending' : 'already_recorded';
}

/**
 * The pending-approval list, oldest submission first (one Query, followed across pages).
 *
 * @example
 * ```ts
 * const queue = await listPendingApprovals();
 * ```
 */
export async function listPendingApprovals(): Promise<PendingApproval[]> {
  const entries: PendingApproval[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await documentClient.send(
      new QueryCommand({
        TableName: getTableName(),
        KeyConditionExpression: `${PK} = :pk`,
        ExpressionAttributeValues: { ':pk': PENDING_APPROVALS_PK },
        ConsistentRead: true,
        ...(startKey ? { ExclusiveStartKey: startKey } : {}),
      }),
    );
    for (const item of page.Items ?? []) {
      entries.push({
        templateId: item.templateId as string,
        version: item.version as number,
        name: item.name as string,
        author: item.author as string,
        submittedAt: item.submittedAt as string,
        contentHash: item.contentHash as string,
      });
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return entries;
}

/**
 * `pending_approval` → `approved`, recording who, when and the hash they saw; removes the version from
 * the pending list; appends `approved` to the trail. One transaction whose condition is the rule:
 * still pending, the approver is not the author (four eyes), and the content is what they saw.
 *
 * @example
 * ```ts
 * const t = await approveTemplateVersion({ templateId, version: 2, approver: 'bob', seenHash, now });
 * ```
 */
export async function approveTemplateVersion(input: {
  templateId: string;
  version: number;
  approver: string;
  /** The content hash the approver saw; defaults to the stored one (approving what is there). */
  seenHash?: string;
  now: string;
}): Promise<Transition> {
  const current = await getTemplateVersion(input.templateId, input.version);
  // Only a pending version can become approved, and a pending one always has `submittedAt` (it keys
  // the pending-list entry). Whether this approver may approve it is decided by the write's condition.
  if (current?.status !== 'pending_approval' || current.submittedAt === undefined) return { outcome: 'refused', current };
  const seenHash = input.seenHash ?? current.contentHash;
  const TableName = getTableName();
  const outcome = await transact([
    {
      Update: {
        TableName,
        Key: templateVersionKey(input.templateId, input.version),
        UpdateExpression: 'SET #status = :approved, approvedBy = :approver, approvedAt = :now, approvedHash = :seen',
        ConditionExpression: '#status = :pending AND author <> :approver AND contentHash = :seen AND submittedAt = :submittedAt',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':approved': 'approved',
          ':pending': 'pending_approval',
          ':approver': input.approver,
          ':now': input.now,
          ':seen': seenHash,
          ':submittedAt': current.submittedAt,
        },
      },
    },
    { Delete: { TableName, Key: pendingApprovalKey(current.submittedAt, input.templateId, input.version) } },
    audit(current, { at: input.now, actor: input.approver, action: 'approved', details: { contentHash: seenHash } }),
  ]);
  if (!outcome.ok) return { outcome: 'refused', current: await getTemplateVersion(input.templateId, input.version) };
  return { outcome: 'done', version: { ...current, status: 'approved', approvedBy: input.approver, approvedAt: input.now, approvedHash: seenHash } };
}

/**
 * `pending_approval` → `rejected`, recording who, when, why and the hash they saw; removes the version
 * from the pending list; appends `rejected` to the trail.
 *
 * @example
 * ```ts
 * const t = await rejectTemplateVersion({ templateId, version: 2, rejecter: 'bob', reason: 'Wrong tone', now });
 * ```
 */
export async function rejectTemplateVersion(input: {
  templateId: string;
  version: number;
  rejecter: string;
  reason: string;
  seenHash?: string;
  now: string;
}): Promise<Transition> {
  const current = await getTemplateVersion(input.templateId, input.version);
  if (current?.status !== 'pending_approval' || current.submittedAt === undefined) return { outcome: 'refused', current };
  const seenHash = input.seenHash ?? current.contentHash;
  const TableName = getTableName();
  const outcome = await transact([
    {
      Update: {
        TableName,
        Key: templateVersionKey(input.templateId, input.version),
        UpdateExpression: 'SET #status = :rejected, rejectedBy = :by, rejectedAt = :now, rejectReason = :reason, rejectedHash = :seen',
        ConditionExpression: '#status = :pending AND contentHash = :seen AND submittedAt = :submittedAt',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: {
          ':rejected': 'rejected',
          ':pending': 'pending_approval',
          ':by': input.rejecter,
          ':now': input.now,
          ':reason': input.reason,
          ':seen': seenHash,
          ':submittedAt': current.submittedAt,
        },
      },
    },
    { Delete: { TableName, Key: pendingApprovalKey(current.submittedAt, input.templateId, input.version) } },
    audit(current, { at: input.now, actor: input.rejecter, action: 'rejected', details: { contentHash: seenHash, reason: input.reason } }),
  ]);
  if (!outcome.ok) return { outcome: 'refused', current: await getTemplateVersion(input.templateId, input.version) };
  return {
    outcome: 'done',
    version: { ...current, status: 'rejected', rejectedBy: input.rejecter, rejectedAt: input.now, rejectReason: input.reason, rejectedHash: seenHash },
  };
}

/**
 * `approved` → `revoked` (the sender re-checks the status at send time, so a revoked version is never
 * sent, even when it was queued before); appends `revoked` to the trail.
 *
 * @example
 * ```ts
 * const t = await revokeTemplateVersion({ templateId, version: 2, revoker: 'bob', reason: 'Outdated prices', now });
 * ```
 */
export async function revokeTemplateVersion(input: { templateId: string; version: number; revoker: string; reason: string; now: string }): Promise<Transition> {
  const current = await getTemplateVersion(input.templateId, input.version);
  if (current?.status !== 'approved') return { outcome: 'refused', current };
  const outcome = await transact([
    {
      Update: {
        TableName: getTableName(),
        Key: templateVersionKey(input.templateId, input.version),
        UpdateExpression: 'SET #status = :revoked, revokedBy = :by, revokedAt = :now, revokeReason = :reason',
        ConditionExpression: '#status = :approved',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':revoked': 'revoked', ':approved': 'approved', ':by': input.revoker, ':now': input.now, ':reason': input.reason },
      },
    },
    audit(current, { at: input.now, actor: input.revoker, action: 'revoked', details: { contentHash: current.contentHash, reason: input.reason } }),
  ]);
  if (!outcome.ok) return { outcome: 'refused', current: await getTemplateVersion(input.templateId, input.version) };
  return { outcome: 'done', version: { ...current, status: 'revoked', revokedBy: input.revoker, revokedAt: input.now, revokeReason: input.reason } };
}
