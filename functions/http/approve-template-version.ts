import { httpHandler } from '#shared/http/http-handler.ts';
import { parseJsonBody, rawBody } from '#shared/http/request.ts';
import { json } from '#shared/http/responses.ts';
import { staffAuth, type StaffContext } from '#shared/http/staff-auth.middleware.ts';
import { approveVersion } from '#shared/templates/use-cases/approve-version.ts';
import { MAX_TEMPLATE_BODY_BYTES, parseApproveBody, parseTemplateId, parseVersion } from '#shared/templates/use-cases/inputs.ts';

/**
 * `POST /templates/{templateId}/versions/{version}/approve` (approver), optional body
 * `{"contentHash"}` (the hash the approver saw). 403 `four_eyes` for the version's author.
 */
export const handler = httpHandler(async (event, context) => {
  const templateId = parseTemplateId(event.pathParameters?.templateId);
  const version = parseVersion(event.pathParameters?.version);
  const { contentHash } = parseApproveBody(parseJsonBody(rawBody(event, MAX_TEMPLATE_BODY_BYTES), { optional: true }));
  const approver = (context as unknown as StaffContext).staff!.sub;
  return json(200, await approveVersion({ templateId, version, approver, ...(contentHash ? { seenHash: contentHash } : {}), now: new Date().toISOString() }));
}).use(staffAuth({ roles: ['approver'] }));
