import * as z from 'zod/mini';
import { channels } from '#shared/domain/message.ts';
import { ValidationError } from '#shared/errors.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { parseJsonBody, rawBody, requireContentType } from '#shared/http/request.ts';
import { json } from '#shared/http/responses.ts';
import { staffAuth, type StaffContext } from '#shared/http/staff-auth.middleware.ts';
import { MAX_BODY_CHARS, sendMessage } from '#shared/outbound/send-message.ts';

const MAX_REQUEST_BYTES = 256 * 1024;
const channel = z.enum(channels);

/** `{channel, templateId, version?, variables?}`: an approved template. */
const templateSend = z.strictObject({
  channel,
  templateId: z.string().check(z.minLength(1), z.maxLength(100)),
  version: z.optional(z.number().check(z.int(), z.minimum(1), z.maximum(999_999))),
  variables: z.optional(z.record(z.string().check(z.minLength(1), z.maxLength(64)), z.string().check(z.maxLength(MAX_BODY_CHARS)))),
});

/** `{channel, body, subject?}`: an agent's own words. */
const bodySend = z.strictObject({
  channel,
  body: z.string().check(z.minLength(1), z.maxLength(MAX_BODY_CHARS)),
  subject: z.optional(z.string().check(z.minLength(1), z.maxLength(998))),
});

const requestSchema = z.union([templateSend, bodySend]);

/**
 * `POST /conversations/{conversationId}/messages` (agent): queues a templated message or an agent's own
 * words → 202 `{messageId, conversationId, status: 'queued', sms?}`.
 */
export const handler = httpHandler(async (event, context) => {
  const conversationId = event.pathParameters?.conversationId;
  if (!conversationId) throw new ValidationError('conversationId is required');
  requireContentType(event, 'application/json');
  const body = parseJsonBody(rawBody(event, MAX_REQUEST_BYTES));
  const parsed = requestSchema.safeParse(body);
  if (!parsed.success) {
    throw new ValidationError('Give {channel, templateId, version?, variables?} or {channel, body, subject?}; variables are strings');
  }
  const staff = (context as unknown as StaffContext).staff!;
  return json(202, await sendMessage({ conversationId, sentBy: staff.sub, ...parsed.data }));
}).use(staffAuth({ roles: ['agent'] }));
