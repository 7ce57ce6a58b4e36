import * as z from 'zod/mini';
import { optionalEnv } from '#shared/config.ts';
import { listOutbox } from '#shared/data/outbox-store.ts';
import { NotFoundError, ValidationError } from '#shared/errors.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { json } from '#shared/http/responses.ts';

const querySchema = z.object({
  limit: z._default(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(500)), 100),
});

/**
 * `GET /dev/outbox?limit=`: what the local outbox recorded instead of calling a provider, newest first
 * (`{"items":[…]}`, limit 1–500, default 100). Mounted by the local stack only (route auth `dev`, never
 * deployed); it also answers 404 unless `LOCAL_OUTBOX=1`, should it ever be mounted elsewhere.
 */
export const handler = httpHandler(async (event) => {
  if (optionalEnv('LOCAL_OUTBOX') !== '1') throw new NotFoundError(`No route for GET ${event.rawPath}`);
  const query = querySchema.safeParse(event.queryStringParameters ?? {});
  if (!query.success) throw new ValidationError('limit must be an integer from 1 to 500');
  return json(200, { items: await listOutbox(query.data.limit) });
});
