import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { optionalEnv, requireEnv } from '#shared/config.ts';

/** Created once per cold start; `DYNAMODB_ENDPOINT` points it at DynamoDB Local. */
export const dynamoClient = new DynamoDBClient({
  endpoint: optionalEnv('DYNAMODB_ENDPOINT'),
  maxAttempts: 3,
});

export const documentClient = DynamoDBDocumentClient.from(dynamoClient, {
  marshallOptions: { removeUndefinedValues: true },
});

let tableName: string | undefined;

/** The table name, read once and failing fast when unset. */
export function getTableName(): string {
  tableName ??= requireEnv('TABLE_NAME');
  return tableName;
}
