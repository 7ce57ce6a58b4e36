import { httpHandler } from '#shared/http/http-handler.ts';
import { parseJsonBody, rawBody } from '#shared/http/request.ts';
import { json } from '#shared/http/responses.ts';
import { staffAuth, type StaffContext } from '#shared/http/staff-auth.middleware.ts';
import { parseDraft } from '#shared/templates/draft-schema.ts';
import { createVersion } from '#shared/templates/use-cases/create-version.ts';
import { MAX_TEMPLATE_BODY_BYTES, parseTemplateId } from '#shared/templates/use-cases/inputs.ts';

/** `POST /templates/{templateId}/versions` (editor): a new draft version; earlier versions never change. */
export const handler = httpHandler(async (event, context) => {
  const templateId = parseTemplateId(event.pathParameters?.templateId);
  const draft = parseDraft(parseJsonBody(rawBody(event, MAX_TEMPLATE_BODY_BYTES)));
  const author = (context as unknown as StaffContext).staff!.sub;
  return json(201, await createVersion({ templateId, draft, author, now: new Date().toISOString() }));
}).use(staffAuth({ roles: ['editor'] }));
