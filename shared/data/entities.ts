import { Entity, Service } from 'electrodb';
import { channels, identityKinds } from '#shared/domain/message.ts';
import { documentClient, getTableName } from '#shared/data/client.ts';
import { tableSchema } from '#shared/data/table-schema.ts';

const service = 'omni';
const { partitionKey: pk, sortKey: sk, threadIndex } = tableSchema;

/**
 * An identity (phone, email, chat user) pointing at the customer it belongs to. Its key is the identity
 * itself, so a conditional create is what makes "one identity, one customer" hold under concurrency.
 */
export const identityEntity = new Entity(
  {
    model: { entity: 'identity', version: '1', service },
    attributes: {
      kind: { type: identityKinds, required: true, readOnly: true },
      value: { type: 'string', required: true, readOnly: true },
      customerId: { type: 'string', required: true },
      linkedAt: { type: 'string', required: true },
    },
    indexes: {
      byIdentity: {
        pk: { field: pk, composite: ['kind', 'value'], casing: 'none' },
        sk: { field: sk, composite: [], casing: 'none' },
      },
    },
  },
  { client: documentClient, table: getTableName() },
);

/** A customer and their one conversation. `mergedInto` is set when another customer absorbed this one. */
export const customerEntity = new Entity(
  {
    model: { entity: 'customer', version: '1', service },
    attributes: {
      customerId: { type: 'string', required: true, readOnly: true },
      conversationId: { type: 'string', required: true, readOnly: true },
      identities: { type: 'set', items: 'string' },
      status: { type: ['open', 'closed'] as const, required: true, default: 'open' },
      displayName: { type: 'string' },
      createdAt: { type: 'string', required: true, readOnly: true },
      mergedInto: { type: 'string' },
      mergedAt: { type: 'string' },
    },
    indexes: {
      byCustomer: {
        pk: { field: pk, composite: ['customerId'], casing: 'none' },
        sk: { field: sk, composite: [], casing: 'none' },
      },
    },
  },
  { client: documentClient, table: getTableName() },
);

const attachment = {
  type: 'map',
  properties: {
    name: { type: 'string' },
    contentType: { type: 'string', required: true },
    size: { type: 'number' },
    sourceUrl: { type: 'string' },
    storageKey: { type: 'string' },
    status: { type: ['stored', 'pending', 'failed'] as const, required: true },
  },
} as const;

/**
 * A message in a conversation thread. Keyed by `messageId` (derived from the provider's delivery id, so a
 * retried delivery collides and is refused by the create condition), ordered by the `lsi1` index on
 * `createdAt#messageId`, so one page is one Query whatever the thread's length.
 */
export const messageEntity = new Entity(
  {
    model: { entity: 'message', version: '1', service },
    attributes: {
      conversationId: { type: 'string', required: true },
      messageId: { type: 'string', required: true, readOnly: true },
      customerId: { type: 'string', required: true },
      channel: { type: channels, required: true },
      direction: { type: ['inbound', 'outbound'] as const, required: true },
      body: { type: 'string', required: true },
      createdAt: { type: 'string', required: true },
      sentAt: { type: 'string' },
      status: { type: 'string' },
      subject: { type: 'string' },
      attachments: { type: 'list', items: attachment },
      emailMessageId: { type: 'string' },
      emailInReplyTo: { type: 'string' },
      emailReferences: { type: 'list', items: { type: 'string' } },
      templateId: { type: 'string' },
      templateVersion: { type: 'number' },
      expiresAt: { type: 'number', field: tableSchema.ttlAttribute },
    },
    indexes: {
      byMessage: {
        pk: { field: pk, composite: ['conversationId'], casing: 'none' },
        sk: { field: sk, composite: ['messageId'], casing: 'none' },
      },
      thread: {
        index: threadIndex.name,
        pk: { field: pk, composite: ['conversationId'], casing: 'none' },
        sk: { field: threadIndex.sortKey, composite: ['createdAt', 'messageId'], casing: 'none' },
      },
    },
  },
  { client: documentClient, table: getTableName() },
);

/** The three entities as one ElectroDB service, for transactions across them. */
export const omniService = new Service(
  { identity: identityEntity, customer: customerEntity, message: messageEntity },
  { client: documentClient, table: getTableName() },
);
