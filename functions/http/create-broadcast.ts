import type { Context } from 'aws-lambda';
import { httpHandler } from '#shared/http/http-handler.ts';
import { parseJsonBody, rawBody, requireContentType } from '#shared/http/request.ts';
import { json } from '#shared/http/responses.ts';
import { staffAuth, type StaffContext } from '#shared/http/staff-auth.middleware.ts';
import { defaultBroadcastDeps, MAX_BROADCAST_BODY_BYTES, parseBroadcastRequest, startBroadcast } from '#shared/outbound/broadcast.ts';

/** API Gateway (HTTP API) stops waiting after 30 s, whatever the function's own timeout. */
const GATEWAY_TIMEOUT_MS = 29_000;
/** Time kept back from that budget to finish the sends in flight, record the counts and answer. */
const ANSWER_RESERVE_MS = 3000;
/** Time kept back to answer once the counts are recorded (or given up on). */
const RESPONSE_MARGIN_MS = 500;

/**
 * `POST /broadcasts` (agent; admin passes): one approved template to up to 1000 customers, paced per
 * channel. 202 `{broadcastId, templateId, version, channel, accepted: [{customerId, messageId, notBefore}],
 * refused: [{customerId, code, message}]}`; an unapproved template is a 409 with nothing queued.
 */
export const handler = httpHandler(async (event, context: Context) => {
  const staff = (context as unknown as StaffContext).staff!;
  requireContentType(event, 'application/json');
  const request = parseBroadcastRequest(parseJsonBody(rawBody(event, MAX_BROADCAST_BODY_BYTES)));
  const budgetEnd = Date.now() + Math.min(context.getRemainingTimeInMillis(), GATEWAY_TIMEOUT_MS);
  const deadline = budgetEnd - ANSWER_RESERVE_MS;
  return json(202, await startBroadcast({ ...request, createdBy: staff.sub }, { ...defaultBroadcastDeps, deadline, answerBy: budgetEnd - RESPONSE_MARGIN_MS }));
}).use(staffAuth({ roles: ['agent'] }));
