/**
 * The single table's physical shape, shared by the CDK stack and the local stack's table creation so
 * both build the same table. Key *formats* stay inside `#shared/data/entities.ts`.
 */
export const tableSchema = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Local secondary index ordering a conversation's messages by time. */
  threadIndex: { name: 'lsi1', sortKey: 'lsi1sk' },
  /** Epoch-seconds attribute DynamoDB TTL reads; set by retention rules (none expire yet). */
  ttlAttribute: 'expiresAt',
} as const;

/**
 * CreateTable input for the schema (on-demand), used by the local stack and tests.
 *
 * @example
 * ```ts
 * await client.send(new CreateTableCommand(createTableInput('omnichannel')));
 * ```
 */
export function createTableInput(tableName: string) {
  const { partitionKey, sortKey, threadIndex } = tableSchema;
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST' as const,
    AttributeDefinitions: [
      { AttributeName: partitionKey, AttributeType: 'S' as const },
      { AttributeName: sortKey, AttributeType: 'S' as const },
      { AttributeName: threadIndex.sortKey, AttributeType: 'S' as const },
    ],
    KeySchema: [
      { AttributeName: partitionKey, KeyType: 'HASH' as const },
      { AttributeName: sortKey, KeyType: 'RANGE' as const },
    ],
    LocalSecondaryIndexes: [
      {
        IndexName: threadIndex.name,
        KeySchema: [
          { AttributeName: partitionKey, KeyType: 'HASH' as const },
          { AttributeName: threadIndex.sortKey, KeyType: 'RANGE' as const },
        ],
        Projection: { ProjectionType: 'ALL' as const },
      },
    ],
  };
}
