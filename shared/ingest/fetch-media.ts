import { setAttachments } from '#shared/data/conversation-store.ts';
import type { Attachment } from '#shared/domain/message.ts';
import { getSecretSetting, optionalEnv } from '#shared/config.ts';
import { blobStoreFromEnv, contentAddressedKey, type BlobStore } from '#shared/ports/blob-store.ts';
import type { FetchMediaJob } from '#shared/ports/work-queue.ts';
import { findMessageFollowingMerge } from '#shared/ingest/follow-merge.ts';
import { logger } from '#shared/logger.ts';

/** Largest media file copied; Twilio MMS media stops at 5 MB. */
export const MAX_MEDIA_BYTES = 5 * 1024 * 1024;

/**
 * Hosts media may be fetched from, on every hop of a redirect chain (a verified webhook still never makes
 * us fetch elsewhere). Twilio's by default: its API host, where media URLs point, and the CDN hosts it
 * redirects them to (`mms.twiliocdn.com` with "HTTP auth for media" enforced, else `s3-external-1.amazonaws.com`).
 */
export const DEFAULT_MEDIA_HOSTS = 'api.twilio.com,media.twiliocdn.com,mms.twiliocdn.com,s3-external-1.amazonaws.com';

function allowedHosts(): string[] {
  return (optionalEnv('MEDIA_HOSTS') ?? DEFAULT_MEDIA_HOSTS).split(',').map((h) => h.trim().toLowerCase());
}

/** Redirects followed per download: Twilio's media URLs answer one, to its CDN. */
export const MAX_MEDIA_REDIRECTS = 3;
const redirectStatuses = new Set([301, 302, 303, 307, 308]);
/** The one place plain http is accepted (the local stack and tests serve media from this machine). */
const loopbackHosts = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** A failure retrying cannot fix (4xx, a host or scheme refused at any hop, too many redirects, too large): the attachment is marked `failed`. */
class PermanentMediaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentMediaError';
  }
}

export type FetchMediaDeps = { blobStore: () => BlobStore; fetch: typeof fetch };
const defaultDeps: FetchMediaDeps = { blobStore: blobStoreFromEnv, fetch: (...args) => fetch(...args) };

/**
 * A URL we may fetch, resolved against the hop that named it: a host in `MEDIA_HOSTS`, https (http only
 * on a loopback host), no credentials in the URL. Anything else is permanent.
 */
function fetchableUrl(raw: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(raw, base);
  } catch {
    throw new PermanentMediaError('media URL invalid');
  }
  const host = url.hostname.toLowerCase();
  if (!allowedHosts().includes(host)) throw new PermanentMediaError('media host not allowed');
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopbackHosts.has(host))) throw new PermanentMediaError('media scheme not allowed');
  if (url.username || url.password) throw new PermanentMediaError('media URL carries credentials');
  return url;
}

/**
 * Twilio's HTTP auth for media URLs: when an API key is configured, Basic auth with the API key SID and
 * secret (what Twilio recommends for production; the same key the sender uses), never the account's
 * Auth Token, which stays with the webhook verifiers only.
 */
async function twilioBasicAuth(): Promise<string | undefined> {
  const keySid = optionalEnv('TWILIO_API_KEY_SID');
  return keySid ? `Basic ${Buffer.from(`${keySid}:${await getSecretSetting('TWILIO_API_KEY_SECRET')}`).toString('base64')}` : undefined;
}

/** 4xx answers that are not the media's fault: a timeout, a rate limit (and see credentialsRefused below). */
const retriedClientStatuses = new Set([408, 429]);

/**
 * Downloads one media file, following redirects by hand so that every hop is checked like the first
 * (host, scheme), at most {@link MAX_MEDIA_REDIRECTS} of them. The Twilio credentials go to the first
 * URL's origin only: the CDN URL Twilio redirects to is pre-signed, and no other host may see them.
 */
async function download(sourceUrl: string, deps: FetchMediaDeps): Promise<{ content: Buffer; contentType?: string }> {
  const first = fetchableUrl(sourceUrl);
  const auth = await twilioBasicAuth();
  const signal = AbortSignal.timeout(15_000);
  let url = first;
  for (let redirects = 0; ; redirects++) {
    const headers: Record<string, string> = auth && url.origin === first.origin ? { authorization: auth } : {};
    const res = await deps.fetch(url.href, { headers, redirect: 'manual', signal });
    if (redirectStatuses.has(res.status)) {
      await res.body?.cancel();
      const location = res.headers.get('location');
      if (!location) throw new PermanentMediaError(`media answered ${res.status} without a location`);
      if (redirects === MAX_MEDIA_REDIRECTS) throw new PermanentMediaError('media redirected too often');
      url = fetchableUrl(location, url);
      continue;
    }
    // 401/403 from the host our credentials go to say they were refused (an API key unset or rotated,
    // media auth switched on), not that the media is gone: retried, and kept in the DLQ for a redrive once
    // fixed. From a pre-signed CDN hop, which gets no credentials, a 403 is S3's way to say "no such object".
    const credentialsRefused = url.origin === first.origin && (res.status === 401 || res.status === 403);
    if (res.status >= 400 && res.status < 500 && !credentialsRefused && !retriedClientStatuses.has(res.status)) {
      throw new PermanentMediaError(`media answered ${res.status}`);
    }
    if (!res.ok) throw new Error(`media answered ${res.status}`);
    const declared = Number(res.headers.get('content-length') ?? 0);
    if (declared > MAX_MEDIA_BYTES) throw new PermanentMediaError('media too large');
    const content = Buffer.from(await res.arrayBuffer());
    if (content.length > MAX_MEDIA_BYTES) throw new PermanentMediaError('media too large');
    return { content, contentType: res.headers.get('content-type') ?? undefined };
  }
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
  // A merge since the job was queued moved the message into the surviving thread, under the same id.
  const message = await findMessageFollowingMerge(job.conversationId, job.messageId);
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
  // Should a merge have moved the message away since the read above, this write's condition fails and
  // the job is retried: the next try finds the message in the surviving thread.
  await setAttachments(message.conversationId, message.messageId, updated);
}
