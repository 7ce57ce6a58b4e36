import { randomBytes } from 'node:crypto';
import { DescribeTableCommand, DescribeTimeToLiveCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, inject, it } from 'vitest';
import { MAX_BODY_BYTES } from '#shared/config.ts';
import { countItems } from '#test/helpers/dynamo.ts';
import { postChat } from '#test/helpers/chat.ts';
import { postTwilioForm } from '#test/helpers/twilio.ts';

const baseUrl = inject('baseUrl');
const env = inject('env');
const aws = { region: env.AWS_REGION, credentials: { accessKeyId: env.AWS_ACCESS_KEY_ID, secretAccessKey: env.AWS_SECRET_ACCESS_KEY } };

describe('the local stack provided to tests', () => {
  it('answers an unknown route with a 404 JSON error', async () => {
    // Act
    const res = await fetch(`${baseUrl}/nope?x=1`);

    // Assess
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ error: { code: 'not_found', message: 'No route for GET /nope' } });
  });

  it('answers a known path with the wrong method with 404, as API Gateway does', async () => {
    // Act
    const res = await fetch(`${baseUrl}/webhooks/chat`);

    // Assess
    expect(res.status).toBe(404);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });

  it('refuses a body over MAX_BODY_BYTES with 413 and writes nothing', async () => {
    // Prepare
    const before = await countItems(env);
    const body = Buffer.alloc(MAX_BODY_BYTES + 1, 0x61);

    // Act
    const res = await fetch(`${baseUrl}/webhooks/chat`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

    // Assess
    expect(res.status).toBe(413);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    expect(await countItems(env)).toBe(before);
  });

  it('refuses an oversized chunked body (no Content-Length) with 413 too', async () => {
    // Prepare: 6 chunks of 1 MiB, streamed
    const chunk = new Uint8Array(1024 * 1024).fill(0x61);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 6) controller.enqueue(chunk);
        else controller.close();
      },
    });

    // Act
    const res = await fetch(`${baseUrl}/webhooks/chat`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: stream,
      duplex: 'half',
    } as RequestInit);

    // Assess
    expect(res.status).toBe(413);
  });

  it('has the single table with its thread LSI and TTL on expiresAt', async () => {
    // Prepare
    const client = new DynamoDBClient({ endpoint: env.DYNAMODB_ENDPOINT, ...aws });

    // Act
    const { Table } = await client.send(new DescribeTableCommand({ TableName: env.TABLE_NAME }));
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: env.TABLE_NAME }));
    client.destroy();

    // Assess
    expect(Table?.KeySchema).toEqual([
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ]);
    expect(Table?.LocalSecondaryIndexes?.map((i) => ({ name: i.IndexName, keys: i.KeySchema }))).toEqual([
      {
        name: 'lsi1',
        keys: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'lsi1sk', KeyType: 'RANGE' },
        ],
      },
    ]);
    expect(ttl.TimeToLiveDescription).toMatchObject({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
  });

  it('has the inbound-work queue with its DLQ after 5 receives', async () => {
    // Prepare
    const sqs = new SQSClient({ endpoint: env.SQS_ENDPOINT, ...aws });

    // Act
    const main = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: env.INBOUND_WORK_QUEUE_URL, AttributeNames: ['All'] }));
    const dlq = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: env.INBOUND_WORK_DLQ_QUEUE_URL!, AttributeNames: ['QueueArn'] }));
    sqs.destroy();

    // Assess
    const redrive = JSON.parse(main.Attributes?.RedrivePolicy ?? '{}') as { deadLetterTargetArn?: string; maxReceiveCount?: string | number };
    expect(redrive.deadLetterTargetArn).toBe(dlq.Attributes?.QueueArn);
    expect(Number(redrive.maxReceiveCount)).toBe(5);
    expect(main.Attributes?.VisibilityTimeout).toBe('2');
  });

  it('gives handlers the outbound settings with their local defaults, and no provider credentials unless set', () => {
    // Assess: the global setup starts the stack from nothing but local defaults
    expect(env).toMatchObject({
      LOCAL_OUTBOX: '1',
      UNSUBSCRIBE_SIGNING_SECRET: 'local-unsubscribe-signing-secret',
      BROADCAST_RATE_SMS_PER_SECOND: '1',
      BROADCAST_RATE_EMAIL_PER_SECOND: '10',
      BROADCAST_RATE_CHAT_PER_SECOND: '20',
      BROADCAST_RATE_VOICE_PER_SECOND: '0.2',
      SMS_HELP_TEXT: 'Support: reply here or use the app chat to reach a person. Reply STOP to opt out.',
    });
    expect(env.TEMPLATE_APPROVALS_QUEUE_URL).toMatch(/\/template-approvals\.fifo$/);
    expect(env.OUTBOUND_QUEUE_URL).toMatch(/\/outbound\.fifo$/);
    for (const name of ['TWILIO_ACCOUNT_SID', 'TWILIO_API_KEY_SID', 'TWILIO_API_KEY_SECRET', 'TWILIO_FROM_NUMBER', 'SENDGRID_API_KEY', 'EMAIL_FROM', 'CHAT_DELIVERY_URL']) {
      expect(env[name], name).toBeUndefined();
    }
  });

  it('serves the local-only GET /dev/outbox route without a staff token', async () => {
    // Act
    const res = await fetch(`${baseUrl}/dev/outbox`);

    // Assess: routed to its handler (a missing route would be 404 not_found, a missing handler 502)
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  });

  it('gives tests helpers whose signatures the webhook handlers accept', async () => {
    // Prepare
    const id = `local-stack-${Date.now()}-${Math.random().toString(36).slice(2)}`;

    // Act
    const chat = await postChat(
      baseUrl,
      { messageId: id, userId: `user-${id}`, text: 'hello from the local stack test', sentAt: new Date().toISOString() },
      { secret: env.CHAT_WEBHOOK_SECRET },
    );
    const sms = await postTwilioForm(
      baseUrl,
      '/webhooks/twilio/sms',
      { MessageSid: `SM${randomBytes(16).toString('hex')}`, AccountSid: 'AC00000000000000000000000000000000', From: '+14155550100', To: '+14155550199', Body: 'hello', NumMedia: '0' },
      { authToken: env.TWILIO_AUTH_TOKEN },
    );
    const forged = await postChat(baseUrl, { messageId: `${id}-forged`, userId: 'u', text: 'x', sentAt: new Date().toISOString() }, { secret: 'not-the-secret' });

    // Assess
    expect(chat.status).toBe(200);
    expect(sms.status).toBe(200);
    expect(sms.headers.get('content-type')).toMatch(/xml/);
    expect(forged.status).toBe(403);
  });
});
