import middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { requireInboundBasicAuth } from '#shared/channels/email/basic-auth.ts';
import { parseInboundParse } from '#shared/channels/email/inbound-parse.ts';
import { toInboundMessage } from '#shared/channels/email/inbound-message.ts';
import { httpErrorHandler } from '#shared/http/error-handler.middleware.ts';
import { header, rawBody, requireContentType } from '#shared/http/request.ts';
import { json } from '#shared/http/responses.ts';
import { ingestInbound } from '#shared/ingest/ingest-inbound.ts';
import { blobStoreFromEnv, type BlobStore } from '#shared/ports/blob-store.ts';

let blobStore: BlobStore | undefined;

/**
 * SendGrid Inbound Parse (`POST /webhooks/sendgrid/inbound`): Basic auth first, then the multipart body,
 * attachments to the blob store, the message to the thread. SendGrid only needs a 2xx; a retry of the
 * same Message-ID answers the same ids and adds nothing.
 */
async function sendgridInbound(event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> {
  await requireInboundBasicAuth(header(event, 'authorization'));
  const contentType = requireContentType(event, 'multipart/form-data');
  const email = await parseInboundParse(rawBody(event), contentType);
  blobStore ??= blobStoreFromEnv();
  const result = await ingestInbound(await toInboundMessage(email, blobStore));
  return json(200, { conversationId: result.conversationId, messageId: result.messageId });
}

export const handler = middy(sendgridInbound).use(
  httpErrorHandler({ unauthenticatedHeaders: { 'WWW-Authenticate': 'Basic realm="inbound"' } }),
);
