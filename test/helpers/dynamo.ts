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

/** A table item as canonical JSON (keys sorted at every depth), so two reads of one state compare equal. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value instanceof Set) return `set(${[...value].map(canonical).sort().join(',')})`;
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  if (value instanceof Uint8Array) return `bytes(${Buffer.from(value).toString('base64')})`;
  return JSON.stringify(value) ?? 'undefined';
}

/**
 * Every item of the table, by key (`pk` and `sk`), as canonical JSON: what "nothing written" tests
 * compare before and after, so that a change to an existing item shows as well as a new or lost one.
 *
 * @example
 * ```ts
 * const before = await tableSnapshot(env);
 * // … a refused request …
 * expect(diffSnapshots(before, await tableSnapshot(env))).toEqual({ added: [], removed: [], changed: [] });
 * ```
 */
export async function tableSnapshot(env: Pick<LocalStackEnv, 'TABLE_NAME' | 'DYNAMODB_ENDPOINT' | 'AWS_REGION' | 'AWS_ACCESS_KEY_ID' | 'AWS_SECRET_ACCESS_KEY'>): Promise<Map<string, string>> {
  const items = new Map<string, string>();
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo(env).send(new ScanCommand({ TableName: env.TABLE_NAME, ConsistentRead: true, ExclusiveStartKey: startKey }));
    for (const item of page.Items ?? []) items.set(`${String(item.pk)} ${String(item.sk)}`, canonical(item));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}

/** The keys added, removed and changed between two {@link tableSnapshot}s. */
export function diffSnapshots(before: Map<string, string>, after: Map<string, string>): { added: string[]; removed: string[]; changed: string[] } {
  return {
    added: [...after.keys()].filter((k) => !before.has(k)),
    removed: [...before.keys()].filter((k) => !after.has(k)),
    changed: [...after.keys()].filter((k) => before.has(k) && before.get(k) !== after.get(k)),
  };
}
