import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { optionalEnv, requireEnv } from '#shared/config.ts';

/** Tries of a single-item request that met an item locked by a transaction in flight. */
const TRANSACTION_CONFLICT_TRIES = 4;

/**
 * Retries a request DynamoDB refused with `TransactionConflictException`: a plain Put/Update/Delete on an
 * item that a transaction in flight holds (the sender's claim holds the consent item, an identity claim
 * the customer item). Nothing was written, so trying again is safe; the SDK does not retry this error, so
 * without this a rare overlap became a 5xx. A transaction's own conflicts (`TransactionCanceledException`)
 * are left to the code that sent it, which decides again.
 *
 * @example
 * ```ts
 * retryTransactionConflicts(new DynamoDBClient({ endpoint }));
 * ```
 */
export function retryTransactionConflicts<C extends DynamoDBClient>(client: C): C {
  client.middlewareStack.add(
    (next) => async (args) => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await next(args);
        } catch (err) {
          if ((err as { name?: string }).name !== 'TransactionConflictException' || attempt >= TRANSACTION_CONFLICT_TRIES) throw err;
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 25 * 2 ** attempt));
        }
      }
    },
    { step: 'initialize', name: 'retryTransactionConflicts' },
  );
  return client;
}

/** Created once per cold start; `DYNAMODB_ENDPOINT` points it at DynamoDB Local. */
export const dynamoClient = retryTransactionConflicts(
  new DynamoDBClient({
    endpoint: optionalEnv('DYNAMODB_ENDPOINT'),
    maxAttempts: 3,
  }),
);

export const documentClient = DynamoDBDocumentClient.from(dynamoClient, {
  marshallOptions: { removeUndefinedValues: true },
});

let tableName: string | undefined;

/** The table name, read once and failing fast when unset. */
export function getTableName(): string {
  tableName ??= requireEnv('TABLE_NAME');
  return tableName;
}

/**
 * Capacity consumed by this process's DynamoDB calls, when `DYNAMODB_CAPACITY_METER=1` (benchmarks), while
 * `on` (a benchmark turns it off for the runs it times: asking DynamoDB for its consumed capacity is
 * not part of the product).
 */
export const capacityMeter = { on: true, read: 0, write: 0, calls: 0, reset() { this.read = 0; this.write = 0; this.calls = 0; } };

type Capacity = { ReadCapacityUnits?: number; WriteCapacityUnits?: number; CapacityUnits?: number; TableName?: string };

if (process.env.DYNAMODB_CAPACITY_METER === '1') {
  dynamoClient.middlewareStack.add(
    (next, context) => async (args) => {
      if (!capacityMeter.on) return next(args);
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
