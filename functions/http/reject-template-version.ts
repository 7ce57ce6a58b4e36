import { httpHandler } from '#shared/http/http-handler.ts';
import { parseJsonBody, rawBody } from '#shared/http/request.ts';
import { json } from '#shared/http/responses.ts';
import { staffAuth, type StaffContext } from '#shared/http/staff-auth.middleware.ts';
import { MAX_TEMPLATE_BODY_BYTES, parseReasonBody, parseTemplateId, parseVersion } from '#shared/templates/use-cases/inputs.ts';
import { rejectVersion } from '#shared/templates/use-cases/reject-version.ts';

/** `POST /templates/{templateId}/versions/{version}/reject` (approver), body `{"reason", "contentHash"?}`. */
export const handler = httpHandler(async (event, context) => {
  const templateId = parseTemplateId(event.pathParameters?.templateId);
  const version = parseVersion(event.pathParameters?.version);
  const { reason, contentHash } = parseReasonBody(parseJsonBody(rawBody(event, MAX_TEMPLATE_BODY_BYTES)));
  const rejecter = (context as unknown as StaffContext).staff!.sub;
  return json(200, await rejectVersion({ templateId, version, rejecter, reason, ...(contentHash ? { seenHash: contentHash } : {}), now: new Date().toISOString() }));
}).use(staffAuth({ roles: ['approver'] }));
