import { httpHandler } from '#shared/http/http-handler.ts';
import { json } from '#shared/http/responses.ts';
import { staffAuth } from '#shared/http/staff-auth.middleware.ts';
import { getTemplateAudit } from '#shared/templates/use-cases/get-template-audit.ts';
import { parseTemplateId } from '#shared/templates/use-cases/inputs.ts';

/** `GET /templates/{templateId}/audit`: every transition, oldest first, with its actor. */
export const handler = httpHandler(async (event) => {
  return json(200, await getTemplateAudit(parseTemplateId(event.pathParameters?.templateId)));
}).use(staffAuth({ roles: ['editor', 'approver'] }));
