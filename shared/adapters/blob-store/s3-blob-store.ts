import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { BlobStore } from '#shared/ports/blob-store.ts';

let client: S3Client | undefined;

/** One client per container, created on first use (region and credentials from the Lambda environment). */
function s3(): S3Client {
  client ??= new S3Client({});
  return client;
}

/**
 * The cloud blob store: one object per key in `bucket` (the bucket's default encryption applies).
 *
 * @example
 * ```ts
 * await s3BlobStore('attachments-bucket').put('attachments/ab12…/report.pdf', content, 'application/pdf');
 * ```
 */
export function s3BlobStore(bucket: string): BlobStore {
  return {
    async put(key, body, contentType) {
      await s3().send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
    },
  };
}
