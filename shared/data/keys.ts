import { tableSchema } from '#shared/data/table-schema.ts';
import type { IdentityRef } from '#shared/domain/message.ts';

/**
 * Key formats of the single table. Only the data module imports this file.
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
