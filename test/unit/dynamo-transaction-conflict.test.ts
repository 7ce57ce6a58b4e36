import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, TransactWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dynamoClient, retryTransactionConflicts } from '#shared/data/client.ts';
import { startFakeServer, type FakeAnswer, type FakeRequest, type RunningServer } from '#test/fakes/http-server.ts';

/*
 * The data module's DynamoDB client retries a single-item write that DynamoDB refused because a
 * transaction in flight holds the item (`TransactionConflictException`, which the SDK does not retry).
 * The real SDK client, with the same middleware, against a local server answering DynamoDB's JSON
 * protocol: DynamoDB Local cannot be made to hold an item in a transaction at a chosen moment.
 */

let server: RunningServer;
const requests: FakeRequest[] = [];
const answers: FakeAnswer[] = [];

const awsError = (type: string, extra: Record<string, unknown> = {}): FakeAnswer => ({
  status: 400,
  headers: { 'content-type': 'application/x-amz-json-1.0' },
  body: JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message: type, ...extra }),
});

beforeAll(async () => {
  server = await startFakeServer((req) => {
    requests.push(req);
    return answers.shift() ?? { status: 200, headers: { 'content-type': 'application/x-amz-json-1.0' }, body: '{}' };
  });
});
afterAll(() => server.close());
beforeEach(() => {
  requests.length = 0;
  answers.length = 0;
});

const client = () =>
  DynamoDBDocumentClient.from(
    retryTransactionConflicts(new DynamoDBClient({ endpoint: server.baseUrl, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 3 })),
  );
const update = new UpdateCommand({ TableName: 't', Key: { pk: 'CONSENT', sk: 'x' }, UpdateExpression: 'SET a = :a', ExpressionAttributeValues: { ':a': 1 } });

describe('retrying transaction conflicts', () => {
  it('is on the data module’s own client', () => {
    expect(dynamoClient.middlewareStack.identify().some((entry) => entry.startsWith('retryTransactionConflicts'))).toBe(true);
  });

  it('sends a single-item write again after TransactionConflictException, and it succeeds', async () => {
    answers.push(awsError('TransactionConflictException'), awsError('TransactionConflictException'));
    await expect(client().send(update)).resolves.toBeDefined();
    expect(requests).toHaveLength(3);
    expect(requests.every((r) => r.headers['x-amz-target'] === 'DynamoDB_20120810.UpdateItem')).toBe(true);
  });

  it('gives up after four tries with the conflict', async () => {
    for (let i = 0; i < 6; i++) answers.push(awsError('TransactionConflictException'));
    await expect(client().send(update)).rejects.toMatchObject({ name: 'TransactionConflictException' });
    expect(requests).toHaveLength(4);
  });

  it('leaves a condition failure and a cancelled transaction to the caller: one request each', async () => {
    answers.push(awsError('ConditionalCheckFailedException'));
    await expect(client().send(update)).rejects.toMatchObject({ name: 'ConditionalCheckFailedException' });
    expect(requests).toHaveLength(1);
    answers.push(awsError('TransactionCanceledException', { CancellationReasons: [{ Code: 'TransactionConflict' }] }));
    await expect(client().send(new TransactWriteCommand({ TransactItems: [{ Update: { TableName: 't', Key: { pk: 'a', sk: 'b' }, UpdateExpression: 'SET a = :a', ExpressionAttributeValues: { ':a': 1 } } }] }))).rejects.toMatchObject({
      name: 'TransactionCanceledException',
    });
    expect(requests).toHaveLength(2);
  });
});
