import * as z from 'zod/mini';
import { listConversationMessages } from '#shared/conversations/read-conversations.ts';
import { ValidationError } from '#shared/errors.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { json } from '#shared/http/responses.ts';
import { staffAuth } from '#shared/http/staff-auth.middleware.ts';

const querySchema = z.object({
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(100)), 50),
  cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
});

/** `GET /conversations/{conversationId}/messages?limit=&cursor=`: one page, oldest first. */
export const handler = httpHandler(async (event) => {
  const conversationId = event.pathParameters?.conversationId;
  const query = querySchema.safeParse(event.queryStringParameters ?? {});
  if (!conversationId) throw new ValidationError('conversationId is required');
  if (!query.success) throw new ValidationError('limit must be 1–100; cursor must be a nextCursor from a previous page');
  return json(200, await listConversationMessages(conversationId, query.data));
}).use(staffAuth({ roles: ['agent'] }));
