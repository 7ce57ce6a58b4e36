import { findCustomerByIdentity } from '#shared/conversations/read-conversations.ts';
import { identity } from '#shared/domain/identity.ts';
import { ValidationError } from '#shared/errors.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { json } from '#shared/http/responses.ts';
import { staffAuth } from '#shared/http/staff-auth.middleware.ts';

const lookups = { phone: identity.phone, email: identity.email, chatUserId: identity.chat } as const;

/** `GET /customers?phone=…|email=…|chatUserId=…`: exactly one identity, normalized as ingest does. */
export const handler = httpHandler(async (event) => {
  const query = event.queryStringParameters ?? {};
  const given = (Object.keys(lookups) as Array<keyof typeof lookups>).filter((k) => query[k] !== undefined);
  if (given.length !== 1) throw new ValidationError('Give exactly one of phone, email or chatUserId');
  const key = given[0]!;
  return json(200, await findCustomerByIdentity(lookups[key](query[key]!)));
}).use(staffAuth({ roles: ['agent'] }));
