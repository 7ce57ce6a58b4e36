import { requireInboundBasicAuth } from '#shared/channels/email/basic-auth.ts';
import { parseInboundParse } from '#shared/channels/email/inbound-parse.ts';
import { toInboundMessage } from '#shared/channels/email/inbound-message.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { header, rawBody, requireContentType } from '#shared/http/request.ts';
import { json } from '#shared/http/responses.ts';
import { ingestInbound } from '#shared/ingest/ingest-inbound.ts';
import { logger } from '#shared/logger.ts';
import { blobStoreFromEnv, type BlobStore } from '#shared/ports/blob-store.ts';

let blobStore: BlobStore | undefined;

/**
 * SendGrid Inbound Parse (`POST /webhooks/sendgrid/inbound`): Basic auth before the body is read, then
 * the multipart body, attachments to the blob store, the message into the customer's thread. SendGrid
 * only needs a 2xx; a retry of the same Message-ID answers the same ids and adds nothing. A sender that
 * SPF/DKIM do not vouch for is stored all the same (flagged `senderVerified: false`) and logged, by ids
 * and verdicts only: customers' misconfigured mail servers must not lose their messages.
 */
export const handler = httpHandler(
  async (event) => {
    await requireInboundBasicAuth(header(event, 'authorization'));
    const contentType = requireContentType(event, 'multipart/form-data');
    const email = await parseInboundParse(rawBody(event), contentType);
    blobStore ??= blobStoreFromEnv();
    const { conversationId, messageId, duplicate } = await ingestInbound(await toInboundMessage(email, blobStore));
    const { spf, dkim, senderVerified } = email.authentication;
    if (!senderVerified && !duplicate) {
      logger.warn('inbound email sender not verified', { conversationId, messageId, spf: spf ?? 'unreadable', dkimResults: dkim.map((v) => v.result) });
    }
    return json(200, { conversationId, messageId });
  },
  { unauthenticatedHeaders: { 'WWW-Authenticate': 'Basic realm="inbound"' } },
);
