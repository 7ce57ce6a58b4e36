import { httpHandler } from '#shared/http/http-handler.ts';
import { parseJsonBody, rawBody } from '#shared/http/request.ts';
import { json } from '#shared/http/responses.ts';
import { staffAuth } from '#shared/http/staff-auth.middleware.ts';
import { MAX_TEMPLATE_BODY_BYTES, parsePreviewBody, parseTemplateId, parseVersion } from '#shared/templates/use-cases/inputs.ts';
import { previewVersion } from '#shared/templates/use-cases/preview-version.ts';

/** `POST /templates/{templateId}/versions/{version}/preview`, body `{"channel","variables"}`: the rendered message (and SMS segments). */
export const handler = httpHandler(async (event) => {
  const templateId = parseTemplateId(event.pathParameters?.templateId);
  const version = parseVersion(event.pathParameters?.version);
  const { channel, variables } = parsePreviewBody(parseJsonBody(rawBody(event, MAX_TEMPLATE_BODY_BYTES)));
  return json(200, await previewVersion({ templateId, version, channel, variables }));
}).use(staffAuth({ roles: ['editor', 'approver', 'agent'] }));
