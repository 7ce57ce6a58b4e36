import { createHash } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeServer, type FakeAnswer, type FakeRequest, type RunningServer } from '#test/fakes/http-server.ts';

/*
 * The cloud blob store: the real S3 client (through `blobStoreFromEnv` with ATTACHMENTS_BUCKET set, as
 * the email webhook and the inbound-work consumer use it), pointed (AWS_ENDPOINT_URL_S3) at a local
 * server that answers like S3's PutObject. An IP endpoint makes the client address the bucket in the path.
 */

let server: RunningServer;
const requests: FakeRequest[] = [];
/** Answers to give, in order, before the default success. */
const answers: FakeAnswer[] = [];
const names = ['AWS_ENDPOINT_URL_S3', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'ATTACHMENTS_BUCKET', 'ATTACHMENTS_DIR'];
const saved = new Map(names.map((n) => [n, process.env[n]] as const));

beforeAll(async () => {
  server = await startFakeServer((req) => {
    requests.push(req);
    return answers.shift() ?? { status: 200, headers: { etag: `"${createHash('md5').update(req.rawBody).digest('hex')}"` } };
  });
  for (const n of names) delete process.env[n];
  Object.assign(process.env, { AWS_ENDPOINT_URL_S3: server.baseUrl, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', ATTACHMENTS_BUCKET: 'omni-attachments' });
});
afterAll(async () => {
  for (const [n, v] of saved) if (v === undefined) delete process.env[n];
  else process.env[n] = v;
  await server.close();
});
beforeEach(() => {
  requests.length = 0;
  answers.length = 0;
});

const s3Error = (status: number, code: string): FakeAnswer => ({
  status,
  headers: { 'content-type': 'application/xml' },
  body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message><RequestId>R1</RequestId></Error>`,
});

describe('the S3 blob store (ATTACHMENTS_BUCKET)', () => {
  it('puts the content under its key in the bucket, with its content type, signed, with a checksum', async () => {
    const { blobStoreFromEnv, contentAddressedKey } = await import('#shared/ports/blob-store.ts');
    const content = Buffer.from('%PDF-1.4 statement for March');
    const key = contentAddressedKey(content, 'statement.pdf');
    await blobStoreFromEnv().put(key, content, 'application/pdf');
    expect(requests).toHaveLength(1);
    const [put] = requests;
    expect(put).toMatchObject({ method: 'PUT', path: `/omni-attachments/${key}` });
    expect(put!.rawBody.equals(content)).toBe(true);
    expect(put!.headers['content-type']).toBe('application/pdf');
    expect(String(put!.headers.authorization)).toMatch(/^AWS4-HMAC-SHA256 Credential=test\/\d{8}\/us-east-1\/s3\/aws4_request/);
    expect(put!.headers['x-amz-checksum-crc32']).toEqual(expect.any(String));
  });

  it('rejects when S3 refuses (403) or keeps failing (500), so the webhook answers 5xx and the provider retries', async () => {
    const { blobStoreFromEnv } = await import('#shared/ports/blob-store.ts');
    const store = blobStoreFromEnv();
    answers.push(s3Error(403, 'AccessDenied'));
    await expect(store.put('attachments/x/a.txt', Buffer.from('a'), 'text/plain')).rejects.toMatchObject({ name: 'AccessDenied' });
    expect(requests).toHaveLength(1);
    answers.push(...Array.from({ length: 5 }, () => s3Error(500, 'InternalError')));
    await expect(store.put('attachments/x/b.txt', Buffer.from('b'), 'text/plain')).rejects.toMatchObject({ name: 'InternalError' });
    expect(requests.length).toBeGreaterThan(1);
  });

  it('rides out one 500 with the client’s own retry (a second PUT of the same key)', async () => {
    const { blobStoreFromEnv } = await import('#shared/ports/blob-store.ts');
    answers.push(s3Error(500, 'InternalError'));
    await expect(blobStoreFromEnv().put('attachments/x/c.txt', Buffer.from('c'), 'text/plain')).resolves.toBeUndefined();
    expect(requests.map((r) => r.method)).toEqual(['PUT', 'PUT']);
  });
});
