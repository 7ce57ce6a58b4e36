import { listAudit } from '#shared/data/audit-store.ts';
import { listConsent } from '#shared/data/consent-store.ts';
import { getCustomer } from '#shared/data/conversation-store.ts';
import { NotFoundError } from '#shared/errors.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { json } from '#shared/http/responses.ts';
import { staffAuth } from '#shared/http/staff-auth.middleware.ts';
import { rootCustomer } from '#shared/ingest/resolve-customer.ts';

const CUSTOMER_ID = /^cus_[0-9a-f]{32}$/;

/**
 * `GET /customers/{customerId}/consent`: the customer's consent per channel and the audit trail of every
 * change (oldest first). A customer merged into another answers with the surviving customer's ledger,
 * `mergedFrom` naming the id that was asked for.
 */
export const handler = httpHandler(async (event) => {
  const asked = event.pathParameters?.customerId ?? '';
  if (!CUSTOMER_ID.test(asked)) throw new NotFoundError('Unknown customer');
  const customerId = await rootCustomer(asked);
  if (!(await getCustomer(customerId))) throw new NotFoundError('Unknown customer');
  const [channels, history] = await Promise.all([listConsent(customerId), listAudit(`CUST#${customerId}`)]);
  return json(200, { customerId, channels, history, ...(customerId !== asked ? { mergedFrom: asked } : {}) });
}).use(staffAuth({ roles: ['agent'] }));
