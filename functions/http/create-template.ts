import { httpHandler } from '#shared/http/http-handler.ts';
import { parseJsonBody, rawBody } from '#shared/http/request.ts';
import { json } from '#shared/http/responses.ts';
import { staffAuth, type StaffContext } from '#shared/http/staff-auth.middleware.ts';
import { parseDraft } from '#shared/templates/draft-schema.ts';
import { createTemplate } from '#shared/templates/use-cases/create-template.ts';
import { MAX_TEMPLATE_BODY_BYTES } from '#shared/templates/use-cases/inputs.ts';

/** `POST /templates` (editor): a new template whose version 1 is a draft authored by the caller. */
export const handler = httpHandler(async (event, context) => {
  const draft = parseDraft(parseJsonBody(rawBody(event, MAX_TEMPLATE_BODY_BYTES)));
  const author = (context as unknown as StaffContext).staff!.sub;
  return json(201, await createTemplate({ draft, author, now: new Date().toISOString() }));
}).use(staffAuth({ roles: ['editor'] }));
