import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import type { BlobStore } from '#shared/ports/blob-store.ts';

/**
 * The local blob store: one file per key under `dir`. Keys are relative `/`-separated paths; an absolute
 * key, a `..` segment or anything that would resolve outside `dir` is refused. Each write goes to a temp
 * file renamed into place, so a concurrent retry never sees half a file. The content type is not kept
 * (the message's attachment metadata holds it).
 *
 * @example
 * ```ts
 * await fsBlobStore('.data/blobs').put('attachments/ab12…/report.pdf', content, 'application/pdf');
 * ```
 */
export function fsBlobStore(dir: string): BlobStore {
  const root = resolve(dir);
  return {
    async put(key, body) {
      const path = pathFor(root, key);
      await mkdir(dirname(path), { recursive: true });
      const tmp = `${path}.${randomUUID()}.tmp`;
      try {
        await writeFile(tmp, body);
        await rename(tmp, path);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
    },
  };
}

function pathFor(root: string, key: string): string {
  const segments = key.split('/');
  const unsafe =
    key === '' ||
    key.includes('\0') ||
    key.includes('\\') ||
    isAbsolute(key) ||
    segments.some((segment) => segment === '' || segment === '.' || segment === '..');
  const path = resolve(root, key);
  const rel = relative(root, path);
  if (unsafe || rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
    throw new Error('Refusing a blob key outside the store');
  }
  return path;
}
