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

/** Capacity consumed by this process's DynamoDB calls, when `DYNAMODB_CAPACITY_METER=1` (benchmarks). */
export const capacityMeter = { read: 0, write: 0, calls: 0, reset() { this.read = 0; this.write = 0; this.calls = 0; } };

type Capacity = { ReadCapacityUnits?: number; WriteCapacityUnits?: number; CapacityUnits?: number; TableName?: string };

if (process.env.DYNAMODB_CAPACITY_METER === '1') {
  dynamoClient.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { ReturnConsumedCapacity?: string };
      input.ReturnConsumedCapacity = 'TOTAL';
      const result = await next(args);
      const consumed = (result.output as { ConsumedCapacity?: Capacity | Capacity[] }).ConsumedCapacity;
      const isWrite = /^(Put|Update|Delete|BatchWrite|TransactWrite)/.test(context.commandName ?? '');
      for (const c of Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) {
        const units = c.CapacityUnits ?? (isWrite ? c.WriteCapacityUnits : c.ReadCapacityUnits) ?? 0;
        if (isWrite) capacityMeter.write += units;
        else capacityMeter.read += units;
      }
      capacityMeter.calls++;
      return result;
    },
    { step: 'initialize', name: 'capacityMeter' },
  );
}
