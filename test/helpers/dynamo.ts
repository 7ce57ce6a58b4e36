import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { LocalStackEnv } from '#local/stack.ts';

const clients = new Map<string, DynamoDBDocumentClient>();

/**
 * A document client on the stack's DynamoDB Local, for asserting what handlers wrote.
 *
 * @example
 * ```ts
 * const { Items } = await dynamo(env).send(new QueryCommand({ TableName: env.TABLE_NAME, … }));
 * ```
 */
export function dynamo(env: Pick<LocalStackEnv, 'DYNAMODB_ENDPOINT' | 'AWS_REGION' | 'AWS_ACCESS_KEY_ID' | 'AWS_SECRET_ACCESS_KEY'>): DynamoDBDocumentClient {
  let client = clients.get(env.DYNAMODB_ENDPOINT);
  if (!client) {
    const base = new DynamoDBClient({
      endpoint: env.DYNAMODB_ENDPOINT,
      region: env.AWS_REGION,
      credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY },
    });
    client = DynamoDBDocumentClient.from(base, { marshallOptions: { removeUndefinedValues: true } });
    clients.set(env.DYNAMODB_ENDPOINT, client);
  }
  return client;
}

/**
 * How many items the table holds (a COUNT Scan over every page). "Nothing written" tests compare it
 * before and after; the table is shared by the whole run, so compare, never expect a fixed number.
 *
 * @example
 * ```ts
 * const before = await countItems(env);
 * // … a forged request …
 * expect(await countItems(env)).toBe(before);
 * ```
 */
export async function countItems(env: Pick<LocalStackEnv, 'TABLE_NAME' | 'DYNAMODB_ENDPOINT' | 'AWS_REGION' | 'AWS_ACCESS_KEY_ID' | 'AWS_SECRET_ACCESS_KEY'>): Promise<number> {
  let count = 0;
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo(env).send(new ScanCommand({ TableName: env.TABLE_NAME, Select: 'COUNT', ExclusiveStartKey: startKey }));
    count += page.Count ?? 0;
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return count;
}

/**
 * The key (`pk` and `sk`) of every item in the table: what "nothing written" tests compare before and
 * after, so that an item added and another removed show, where a count would not.
 *
 * @example
 * ```ts
 * const before = await tableKeys(env);
 * // … a refused request …
 * expect(keysDiff(before, await tableKeys(env))).toEqual({ added: [], removed: [] });
 * ```
 */
export async function tableKeys(env: Pick<LocalStackEnv, 'TABLE_NAME' | 'DYNAMODB_ENDPOINT' | 'AWS_REGION' | 'AWS_ACCESS_KEY_ID' | 'AWS_SECRET_ACCESS_KEY'>): Promise<Set<string>> {
  const keys = new Set<string>();
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo(env).send(new ScanCommand({ TableName: env.TABLE_NAME, ProjectionExpression: 'pk, sk', ConsistentRead: true, ExclusiveStartKey: startKey }));
    for (const item of page.Items ?? []) keys.add(`${String(item.pk)} ${String(item.sk)}`);
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return keys;
}

/** The keys added and removed between two {@link tableKeys} reads. */
export function keysDiff(before: ReadonlySet<string>, after: ReadonlySet<string>): { added: string[]; removed: string[] } {
  return { added: [...after].filter((k) => !before.has(k)), removed: [...before].filter((k) => !after.has(k)) };
}

/**
 * Runs `act` with every command `client` sends shown to `watch` first, from a middleware on that very
 * client (the data module's own, imported by the test): `watch` may record the call, throw (or reject)
 * to make it fail as a store fault would, or hold it (return a promise) as a throttled table would,
 * before it reaches DynamoDB Local.
 *
 * @example
 * ```ts
 * const calls: string[] = [];
 * await watchingDynamo(dynamoClient, (name) => calls.push(name), () => applySendgridEvents(events));
 * ```
 */
export async function watchingDynamo<T>(client: DynamoDBClient, watch: (commandName: string, input: unknown) => void | Promise<void>, act: () => Promise<T>): Promise<T> {
  const name = `watch-${Math.random().toString(16).slice(2)}`;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      await watch(context.commandName ?? '', args.input);
      return next(args);
    },
    { step: 'initialize', name },
  );
  try {
    return await act();
  } finally {
    client.middlewareStack.remove(name);
  }
}
