import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fsBlobStore } from '#shared/adapters/blob-store/fs-blob-store.ts';
import { blobStoreFromEnv, contentAddressedKey, sanitizeFilename } from '#shared/ports/blob-store.ts';
import { ConfigError } from '#shared/errors.ts';

describe('fsBlobStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'blobs-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the content under the directory at the key, and rewrites it harmlessly', async () => {
    // Prepare
    const store = fsBlobStore(dir);
    const content = Buffer.from([0, 1, 2, 255]);
    const key = contentAddressedKey(content, 'scan.bin');

    // Act
    await store.put(key, content, 'application/octet-stream');
    await store.put(key, content, 'application/octet-stream');

    // Assess
    expect(await readFile(join(dir, key))).toEqual(content);
    expect(await readdir(join(dir, key, '..'))).toEqual(['scan.bin']);
  });

  it.each([['../escape.txt'], ['a/../../escape.txt'], ['/etc/passwd'], ['a//b'], ['a/./b'], ['a\\..\\b'], [''], ['nul\0byte']])(
    'refuses the key %j',
    async (key) => {
      // Prepare
      const store = fsBlobStore(join(dir, 'store'));

      // Act
      const writing = store.put(key, Buffer.from('x'), 'text/plain');

      // Assess
      await expect(writing).rejects.toThrow(/outside the store/);
      expect(await readdir(dir)).toEqual([]);
    },
  );
});

describe('contentAddressedKey', () => {
  it('names a blob by the SHA-256 of its content and a safe file name', () => {
    // Act
    const key = contentAddressedKey(Buffer.from('hi'), '../../Q3 report (final).pdf');

    // Assess
    expect(key).toBe('attachments/8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4/Q3_report_final.pdf');
  });

  it.each([
    ['...', 'attachment'],
    ['.htaccess', 'attachment.htaccess'],
    ['../../etc/passwd', 'etc_passwd'],
    ['Rechnung März.pdf', 'Rechnung_Marz.pdf'],
    ['報告.docx', 'attachment.docx'],
    [`${'a'.repeat(300)}.tar.gz`, `${'a'.repeat(97)}.gz`],
  ])('sanitizes %j to %j', (name, expected) => {
    expect(sanitizeFilename(name)).toBe(expected);
  });
});

describe('blobStoreFromEnv', () => {
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('refuses to start without ATTACHMENTS_DIR or ATTACHMENTS_BUCKET', () => {
    // Prepare
    delete process.env.ATTACHMENTS_DIR;
    delete process.env.ATTACHMENTS_BUCKET;

    // Act
    const create = () => blobStoreFromEnv();

    // Assess
    expect(create).toThrow(ConfigError);
  });

  it('uses the directory when ATTACHMENTS_DIR is set', async () => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), 'blobs-env-'));
    process.env.ATTACHMENTS_DIR = dir;

    // Act
    await blobStoreFromEnv().put('attachments/k/file.txt', Buffer.from('content'), 'text/plain');

    // Assess
    expect(await readFile(join(dir, 'attachments/k/file.txt'), 'utf8')).toBe('content');
    await rm(dir, { recursive: true, force: true });
  });
});
