import type middy from '@middy/core';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { authenticateStaff, requireRole, type StaffPrincipal, type StaffRole } from '#shared/auth/staff-auth.ts';
import { header } from '#shared/http/request.ts';

type Options = { roles: readonly StaffRole[] };

/** Where the middleware leaves the verified caller for the handler. */
export type StaffContext = { staff?: StaffPrincipal };

/**
 * Verifies the staff bearer token (401) and the route's role (403) before the handler runs.
 *
 * @example
 * ```ts
 * export const handler = httpHandler(fn).use(staffAuth({ roles: ['agent'] }));
 * ```
 */
export function staffAuth(options: Options): middy.MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> {
  const staffAuthBefore: middy.MiddlewareFn<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> = async (request) => {
    const principal = await authenticateStaff(header(request.event, 'authorization'));
    requireRole(principal, options.roles);
    (request.context as unknown as StaffContext).staff = principal;
  };
  return { before: staffAuthBefore };
}
