import { httpHandler } from '#shared/http/http-handler.ts';
import { json } from '#shared/http/responses.ts';
import { staffAuth } from '#shared/http/staff-auth.middleware.ts';
import { getTemplate } from '#shared/templates/use-cases/get-template.ts';
import { parseTemplateId } from '#shared/templates/use-cases/inputs.ts';

/** `GET /templates/{templateId}`: the template with every version's status, author, approver and hash. */
export const handler = httpHandler(async (event) => {
  return json(200, await getTemplate(parseTemplateId(event.pathParameters?.templateId)));
}).use(staffAuth({ roles: ['editor', 'approver', 'agent'] }));
