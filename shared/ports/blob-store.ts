import { createHash } from 'node:crypto';
import { optionalEnv } from '#shared/config.ts';
import { ConfigError } from '#shared/errors.ts';
import { fsBlobStore } from '#shared/adapters/blob-store/fs-blob-store.ts';
import { s3BlobStore } from '#shared/adapters/blob-store/s3-blob-store.ts';

/**
 * Where attachment content lives: S3 in the cloud, a directory under `.data/` locally. Writing the same
 * key twice with the same content is harmless, which is what makes a retried delivery safe.
 */
export type BlobStore = {
  put(key: string, body: Buffer, contentType: string): Promise<void>;
};

/**
 * The blob store this deployment is configured for: the directory `ATTACHMENTS_DIR` (local stack) or the
 * bucket `ATTACHMENTS_BUCKET` (cloud). Neither set: {@link ConfigError}.
 *
 * The S3 adapter is imported statically, not loaded on first `put`: a Lambda bundle is one file either
 * way, and a dynamic import keeps esbuild from tree-shaking the S3 client (~36 KB more in the email
 * handler's bundle). Its client is still created on first `put` only.
 *
 * @example
 * ```ts
 * await blobStoreFromEnv().put(key, content, 'application/pdf');
 * ```
 */
export function blobStoreFromEnv(): BlobStore {
  const dir = optionalEnv('ATTACHMENTS_DIR');
  if (dir !== undefined) return fsBlobStore(dir);
  const bucket = optionalEnv('ATTACHMENTS_BUCKET');
  if (bucket !== undefined) return s3BlobStore(bucket);
  throw new ConfigError('Missing required setting ATTACHMENTS_DIR or ATTACHMENTS_BUCKET');
}

/**
 * A content-addressed key: `attachments/<sha256 of content>/<sanitized filename>`. The same content under
 * the same name always lands on the same key, so a retried delivery rewrites it instead of adding one.
 *
 * @example
 * ```ts
 * contentAddressedKey(Buffer.from('hi'), 'Q3 report (final).pdf');
 * // 'attachments/8f434346…/Q3_report_final.pdf'
 * ```
 */
export function contentAddressedKey(content: Buffer, filename: string): string {
  const digest = createHash('sha256').update(content).digest('hex');
  return `attachments/${digest}/${sanitizeFilename(filename)}`;
}

/**
 * A file name safe in a path and an S3 key: ASCII letters, digits, `.`, `_`, `-` (accents dropped, other
 * characters become `_`); no leading dot; at most 100 characters, the extension kept.
 *
 * @example
 * ```ts
 * sanitizeFilename('../../etc/passwd'); // 'etc_passwd'
 * sanitizeFilename('Rechnung März.pdf'); // 'Rechnung_Marz.pdf'
 * ```
 */
export function sanitizeFilename(filename: string): string {
  const cleaned = filename
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .replace(/[^A-Za-z0-9._-]+/g, '_');
  const ext = /\.[A-Za-z0-9]{1,15}$/.exec(cleaned)?.[0] ?? '';
  const stem = cleaned
    .slice(0, cleaned.length - ext.length)
    .replace(/\.{2,}/g, '.')
    .slice(0, 100 - ext.length)
    .replace(/^[._-]+|[._-]+$/g, '');
  return (stem === '' ? 'attachment' : stem) + ext;
}
