import { parseChatWebhook } from '#shared/channels/chat/chat-inbound.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { json } from '#shared/http/responses.ts';
import { defaultIngestDeps, ingestInbound } from '#shared/ingest/ingest-inbound.ts';
import { resolveCustomer } from '#shared/ingest/resolve-customer.ts';

/** Chat messages link identities (the `email`/`phone` the customer's app vouches for): resolved with merges. */
const chatIngest = { ...defaultIngestDeps, resolve: resolveCustomer };

/** Chat webhook: a signed message from the chat backend into the customer's thread. */
export const handler = httpHandler(async (event) => {
  const message = await parseChatWebhook(event, Date.now() / 1000);
  const { conversationId, messageId } = await ingestInbound(message, chatIngest);
  return json(200, { conversationId, messageId });
});
