import { getConversation } from '#shared/conversations/read-conversations.ts';
import { ValidationError } from '#shared/errors.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { json } from '#shared/http/responses.ts';
import { staffAuth } from '#shared/http/staff-auth.middleware.ts';

/** `GET /conversations/{conversationId}`. */
export const handler = httpHandler(async (event) => {
  const conversationId = event.pathParameters?.conversationId;
  if (!conversationId) throw new ValidationError('conversationId is required');
  return json(200, await getConversation(conversationId));
}).use(staffAuth({ roles: ['agent'] }));
