import { z } from 'zod';
import { listConversationMessages } from '#shared/conversations/read-conversations.ts';
import { ValidationError } from '#shared/errors.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { json } from '#shared/http/responses.ts';
import { staffAuth } from '#shared/http/staff-auth.middleware.ts';

const querySchema = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().min(1).max(2048).optional(),
});

/** `GET /conversations/{conversationId}/messages?limit=&cursor=`: one page, oldest first. */
export const handler = httpHandler(async (event) => {
  const conversationId = event.pathParameters?.conversationId;
  const query = querySchema.safeParse(event.queryStringParameters ?? {});
  if (!conversationId) throw new ValidationError('conversationId is required');
  if (!query.success) throw new ValidationError('limit must be 1–100; cursor must be a nextCursor from a previous page');
  return json(200, await listConversationMessages(conversationId, query.data));
}).use(staffAuth({ roles: ['agent'] }));
