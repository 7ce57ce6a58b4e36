import { tableSchema } from '#shared/data/table-schema.ts';
import type { IdentityRef } from '#shared/domain/message.ts';

/**
 * Key formats of the single table. Only the data module imports this file (and the stack, for the
 * partition prefix of the audit trail, which IAM keeps append-only).
 *
 * | item     | pk                      | sk              | lsi1sk                   |
 * | -------- | ----------------------- | --------------- | ------------------------ |
 * | identity | `IDENT#<kind>#<value>`  | `IDENT`         |                          |
 * | customer | `CUST#<customerId>`     | `CUST`          |                          |
 * | message  | `CONV#<conversationId>` | `MSG#<msgId>`   | `<createdAt>#<msgId>`    |
 */
const { partitionKey: PK, sortKey: SK, threadIndex } = tableSchema;
export const LSI1SK = threadIndex.sortKey;
export { PK, SK };

export const identityKey = (ref: IdentityRef) => ({ [PK]: `IDENT#${ref.kind}#${ref.value}`, [SK]: 'IDENT' });
export const customerKey = (customerId: string) => ({ [PK]: `CUST#${customerId}`, [SK]: 'CUST' });
export const conversationPk = (conversationId: string) => `CONV#${conversationId}`;
export const messageKey = (conversationId: string, messageId: string) => ({ [PK]: conversationPk(conversationId), [SK]: `MSG#${messageId}` });
export const threadSortKey = (createdAt: string, messageId: string) => `${createdAt}#${messageId}`;

/**
 * A message item's revision: every update of a message adds 1, so a merge moving the thread deletes the
 * source copy only if nothing changed it since it was copied (an update landing in between is copied again).
 */
export const MESSAGE_REVISION = 'rev';

/**
 * The same message update, also counting the revision (`ADD rev :revisionStep`).
 *
 * @example
 * ```ts
 * new UpdateCommand(revised({ TableName, Key, UpdateExpression: 'SET a = :a', ExpressionAttributeValues: { ':a': 1 } }));
 * ```
 */
export function revised<T extends { UpdateExpression?: string; ExpressionAttributeValues?: Record<string, unknown> }>(update: T): T {
  return {
    ...update,
    UpdateExpression: `${update.UpdateExpression ?? ''} ADD ${MESSAGE_REVISION} :revisionStep`.trimStart(),
    ExpressionAttributeValues: { ...update.ExpressionAttributeValues, ':revisionStep': 1 },
  };
}

// Outbound (issue 3).
//
// | item              | pk                          | sk                                  |
// | ----------------- | --------------------------- | ----------------------------------- |
// | template          | `TPL#<templateId>`          | `META`                              |
// | template version  | `TPL#<templateId>`          | `V#<version, 6 digits>`             |
// | audit entry       | `AUDIT#<subject>`           | `<at ISO>#<entryId>`                |
// | pending approval  | `APPROVALS`                 | `<submittedAt>#<templateId>#<ver>`  |
// | consent           | `CUST#<customerId>`         | `CONSENT#<channel>`                 |
// | broadcast         | `BCAST#<broadcastId>`       | `META`                              |
// | pacing window     | `PACE#<channel>`            | `META`                              |
// | local outbox      | `OUTBOX`                    | `<at ISO>#<messageId>`              |
export const templateKey = (templateId: string) => ({ [PK]: `TPL#${templateId}`, [SK]: 'META' });
export const templatePk = (templateId: string) => `TPL#${templateId}`;
export const templateVersionSk = (version: number) => `V#${String(version).padStart(6, '0')}`;
export const templateVersionKey = (templateId: string, version: number) => ({ [PK]: templatePk(templateId), [SK]: templateVersionSk(version) });
/** `subject` is `TPL#<templateId>` or `CUST#<customerId>`. */
export const AUDIT_PK_PREFIX = 'AUDIT#';
export const auditPk = (subject: string) => `${AUDIT_PK_PREFIX}${subject}`;
export const auditKey = (subject: string, at: string, entryId: string) => ({ [PK]: auditPk(subject), [SK]: `${at}#${entryId}` });
export const PENDING_APPROVALS_PK = 'APPROVALS';
export const pendingApprovalKey = (submittedAt: string, templateId: string, version: number) => ({
  [PK]: PENDING_APPROVALS_PK,
  [SK]: `${submittedAt}#${templateId}#${templateVersionSk(version)}`,
});
export const consentKey = (customerId: string, channel: string) => ({ [PK]: `CUST#${customerId}`, [SK]: `CONSENT#${channel}` });
export const broadcastKey = (broadcastId: string) => ({ [PK]: `BCAST#${broadcastId}`, [SK]: 'META' });
export const pacingKey = (channel: string) => ({ [PK]: `PACE#${channel}`, [SK]: 'META' });
export const OUTBOX_PK = 'OUTBOX';
export const outboxKey = (at: string, messageId: string) => ({ [PK]: OUTBOX_PK, [SK]: `${at}#${messageId}` });
