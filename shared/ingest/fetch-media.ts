import { getMessage, setAttachments } from '#shared/data/conversation-store.ts';
import type { Attachment } from '#shared/domain/message.ts';
import { getSecretSetting, optionalEnv } from '#shared/config.ts';
import { blobStoreFromEnv, contentAddressedKey, type BlobStore } from '#shared/ports/blob-store.ts';
import type { FetchMediaJob } from '#shared/ports/work-queue.ts';
import { logger } from '#shared/logger.ts';

/** Largest media file copied; Twilio MMS media stops at 5 MB. */
export const MAX_MEDIA_BYTES = 5 * 1024 * 1024;

/** Hosts media may be fetched from (Twilio's by default): a verified webhook still never makes us fetch elsewhere. */
function allowedHosts(): string[] {
  return (optionalEnv('MEDIA_HOSTS') ?? 'api.twilio.com,media.twiliocdn.com').split(',').map((h) => h.trim().toLowerCase());
}

/** A failure retrying cannot fix (4xx, refused host, too large): the attachment is marked `failed`. */
class PermanentMediaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentMediaError';
  }
}

export type FetchMediaDeps = { blobStore: () => BlobStore; fetch: typeof fetch };
const defaultDeps: FetchMediaDeps = { blobStore: blobStoreFromEnv, fetch: (...args) => fetch(...args) };

async function download(url: string, deps: FetchMediaDeps): Promise<{ content: Buffer; contentType?: string }> {
  const parsed = new URL(url);
  if (!allowedHosts().includes(parsed.hostname.toLowerCase())) throw new PermanentMediaError('media host not allowed');
  const headers: Record<string, string> = {};
  // Twilio's "HTTP auth for media" setting: when an account SID is configured, authenticate as it.
  const sid = optionalEnv('TWILIO_ACCOUNT_SID');
  if (sid) headers.authorization = `Basic ${Buffer.from(`${sid}:${await getSecretSetting('TWILIO_AUTH_TOKEN')}`).toString('base64')}`;
  const res = await deps.fetch(url, { headers, signal: AbortSignal.timeout(15_000) });
  if (res.status >= 400 && res.status < 500 && res.status !== 429) throw new PermanentMediaError(`media answered ${res.status}`);
  if (!res.ok) throw new Error(`media answered ${res.status}`);
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > MAX_MEDIA_BYTES) throw new PermanentMediaError('media too large');
  const content = Buffer.from(await res.arrayBuffer());
  if (content.length > MAX_MEDIA_BYTES) throw new PermanentMediaError('media too large');
  return { content, contentType: res.headers.get('content-type') ?? undefined };
}

/**
 * Copies a message's pending provider-hosted media into our blob store and records where it is.
 * Idempotent: stored attachments are skipped, keys are content-addressed. A transient failure throws
 * (the queue retries, then the DLQ keeps it); a permanent one marks that attachment `failed`.
 *
 * @example
 * ```ts
 * await fetchMedia({ type: 'fetch-media', conversationId, messageId });
 * ```
 */
export async function fetchMedia(job: FetchMediaJob, deps: FetchMediaDeps = defaultDeps): Promise<void> {
  const message = await getMessage(job.conversationId, job.messageId);
  if (!message) {
    logger.warn('media job for a missing message', { conversationId: job.conversationId, messageId: job.messageId });
    return;
  }
  const attachments = message.attachments ?? [];
  if (!attachments.some((a) => a.status === 'pending')) return;
  const updated: Attachment[] = [];
  for (const [index, attachment] of attachments.entries()) {
    if (attachment.status !== 'pending' || !attachment.sourceUrl) {
      updated.push(attachment);
      continue;
    }
    try {
      const { content } = await download(attachment.sourceUrl, deps);
      const key = contentAddressedKey(content, attachment.name ?? `${message.messageId}-${index}`);
      await deps.blobStore().put(key, content, attachment.contentType);
      updated.push({ ...attachment, storageKey: key, size: content.length, status: 'stored' });
    } catch (err) {
      if (!(err instanceof PermanentMediaError)) throw err;
      logger.warn('media not copied', { messageId: message.messageId, reason: err.message });
      updated.push({ ...attachment, status: 'failed' });
    }
  }
  await setAttachments(message.conversationId, message.messageId, updated);
}
