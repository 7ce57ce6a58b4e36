import { createHash } from 'node:crypto';
import { normalizeEmail } from '#shared/domain/identity.ts';
import type { Attachment, InboundMessage } from '#shared/domain/message.ts';
import { contentAddressedKey, type BlobStore } from '#shared/ports/blob-store.ts';
import type { ParsedInboundEmail } from '#shared/channels/email/inbound-parse.ts';

/**
 * Longest body kept inline in the message, in UTF-8 bytes. A DynamoDB item stops at 400 KB; a longer
 * mail keeps its first 100 kB inline and its whole text as a `full-body.txt` attachment, so nothing is
 * lost and the store never refuses the write (which would answer 5xx and make SendGrid retry for days).
 */
export const MAX_INLINE_BODY_BYTES = 100_000;
/** RFC 5322 line limit; a longer subject or message id is not one a real mailer wrote. */
const MAX_HEADER_CHARS = 998;
/** References kept: the thread's root and the most recent ones, which is what threading uses. */
const MAX_REFERENCES = 50;
/** Longest Message-ID used as the dedupe key as is; a longer one is hashed so it always fits a table key. */
const MAX_DEDUPE_KEY_BYTES = 256;

/**
 * The key that makes a retried delivery a no-op.
 *
 * Decision: the sender's address and the `Message-ID` header, as written. SendGrid retries repeat the
 * mail byte for byte, so they repeat both; scoping by sender means nobody can pre-empt someone else's
 * mail by sending one with its Message-ID first. Over 256 bytes it is hashed (`sha256:<hex>`) so it fits
 * any key. A mail without `Message-ID` (rare; MTAs add one) gets `sha256:<hex>` over sender,
 * recipients, subject, `Date` header and text, NUL-separated: a retry repeats all five, two different
 * mails almost never do.
 *
 * @example
 * ```ts
 * emailDedupeKey(email); // 'jane@example.com <CAF=abc@mail.gmail.com>'
 * ```
 */
export function emailDedupeKey(email: ParsedInboundEmail): string {
  const messageId = email.headers.messageId;
  if (messageId !== undefined && messageId !== '') {
    const key = `${email.fromAddress} ${messageId}`;
    return Buffer.byteLength(key) <= MAX_DEDUPE_KEY_BYTES ? key : `sha256:${sha256(key)}`;
  }
  const parts = [email.fromAddress, email.toAddresses.join(','), email.subject, email.headers.date ?? '', email.text];
  return `sha256:${sha256(parts.join('\u0000'))}`;
}

/**
 * Stores the attachments (content-addressed, so a retry rewrites the same keys) and builds the message
 * the ingest use case takes.
 *
 * @example
 * ```ts
 * const message = await toInboundMessage(email, blobStoreFromEnv());
 * const result = await ingestInbound(message);
 * ```
 */
export async function toInboundMessage(email: ParsedInboundEmail, store: BlobStore): Promise<InboundMessage> {
  const { body, overflow } = inlineBody(email.text);
  const files = overflow ? [...email.attachments, fullBodyFile(email.text)] : email.attachments;
  const attachments = await Promise.all(
    files.map(async (file): Promise<Attachment> => {
      const storageKey = contentAddressedKey(file.content, file.name);
      await store.put(storageKey, file.content, file.contentType);
      return { name: file.name, contentType: file.contentType, size: file.size, storageKey, status: 'stored' };
    }),
  );
  const { messageId, inReplyTo, references } = email.headers;
  const subject = email.subject.slice(0, MAX_HEADER_CHARS);
  return {
    channel: 'email',
    dedupeKey: emailDedupeKey(email),
    // The parser lower-cased it under the same rule: this never throws, it only says it once.
    from: { kind: 'email', value: normalizeEmail(email.fromAddress) },
    body,
    ...(subject === '' ? {} : { subject }),
    ...(attachments.length === 0 ? {} : { attachments }),
    email: {
      ...(messageId === undefined ? {} : { messageId: messageId.slice(0, MAX_HEADER_CHARS) }),
      ...(inReplyTo === undefined ? {} : { inReplyTo: inReplyTo.slice(0, MAX_HEADER_CHARS) }),
      references: keptReferences(references),
      authentication: email.authentication,
    },
    ...(email.displayName === undefined ? {} : { displayName: email.displayName.slice(0, MAX_HEADER_CHARS) }),
  };
}

function inlineBody(text: string): { body: string; overflow: boolean } {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= MAX_INLINE_BODY_BYTES) return { body: text, overflow: false };
  // cut on a character boundary: drop a trailing partial sequence the byte cut may leave
  const body = new TextDecoder('utf-8').decode(bytes.subarray(0, MAX_INLINE_BODY_BYTES)).replace(/\uFFFD$/, '');
  return { body, overflow: true };
}

function fullBodyFile(text: string) {
  const content = Buffer.from(text, 'utf8');
  return { name: 'full-body.txt', contentType: 'text/plain; charset=utf-8', size: content.length, content };
}

function keptReferences(references: readonly string[]): string[] {
  const valid = references.filter((id) => id.length <= MAX_HEADER_CHARS);
  if (valid.length <= MAX_REFERENCES) return valid;
  return [valid[0]!, ...valid.slice(valid.length - (MAX_REFERENCES - 1))];
}

function sha256(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}
