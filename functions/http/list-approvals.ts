import { httpHandler } from '#shared/http/http-handler.ts';
import { json } from '#shared/http/responses.ts';
import { staffAuth } from '#shared/http/staff-auth.middleware.ts';
import { listApprovals } from '#shared/templates/use-cases/list-approvals.ts';

/** `GET /approvals` (approver): versions waiting for a decision, oldest submission first. */
export const handler = httpHandler(async () => json(200, await listApprovals())).use(staffAuth({ roles: ['approver'] }));
