import { parseChatWebhook } from '#shared/channels/chat/chat-inbound.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { json } from '#shared/http/responses.ts';
import { ingestInbound } from '#shared/ingest/ingest-inbound.ts';

/** Chat webhook: a signed message from the chat backend into the customer's thread. */
export const handler = httpHandler(async (event) => {
  const message = await parseChatWebhook(event, Date.now() / 1000);
  const { conversationId, messageId } = await ingestInbound(message);
  return json(200, { conversationId, messageId });
});
