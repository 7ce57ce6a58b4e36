import { sqsApprovalQueue } from '#shared/adapters/sqs/approval-queue.adapter.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { json } from '#shared/http/responses.ts';
import { staffAuth, type StaffContext } from '#shared/http/staff-auth.middleware.ts';
import { parseTemplateId, parseVersion } from '#shared/templates/use-cases/inputs.ts';
import { submitVersion } from '#shared/templates/use-cases/submit-version.ts';

/** `POST /templates/{templateId}/versions/{version}/submit` (editor): draft → pending_approval, onto the approval queue. */
export const handler = httpHandler(async (event, context) => {
  const templateId = parseTemplateId(event.pathParameters?.templateId);
  const version = parseVersion(event.pathParameters?.version);
  const actor = (context as unknown as StaffContext).staff!.sub;
  return json(200, await submitVersion({ templateId, version, actor, now: new Date().toISOString() }, { queue: sqsApprovalQueue }));
}).use(staffAuth({ roles: ['editor'] }));
