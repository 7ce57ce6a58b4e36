import busboy from 'busboy';
import { getCustomer } from '#shared/data/conversation-store.ts';
import { setConsent } from '#shared/data/consent-store.ts';
import { NotFoundError, PayloadTooLargeError, ValidationError } from '#shared/errors.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { header, rawBody } from '#shared/http/request.ts';
import { json } from '#shared/http/responses.ts';
import { unsubscribePage, wantsHtml } from '#shared/http/unsubscribe-pages.ts';
import { rootCustomer } from '#shared/ingest/resolve-customer.ts';
import { verifyUnsubscribeToken } from '#shared/outbound/unsubscribe-token.ts';

/** `List-Unsubscribe=One-Click` is 26 bytes; a multipart envelope around it a few hundred. */
const MAX_ONE_CLICK_BODY_BYTES = 4096;

/**
 * RFC 8058 one-click unsubscribe (`POST /unsubscribe/{token}`): the mailbox provider POSTs the key/value
 * pair of our `List-Unsubscribe-Post` header, `List-Unsubscribe=One-Click`, to the `List-Unsubscribe`
 * URL, with no cookie or credentials; the signed token in the path names the customer.
 *
 * 1. verify the token (403 when forged or tampered: nothing learned about the body)
 * 2. require the one-click body (400 otherwise): a GET or a prefetch never unsubscribes anyone
 * 3. opt the live customer (after merges) out of email, with its audit entry; a second click is a no-op
 *
 * Answers 200 directly (RFC 8058 forbids answering with a redirect): JSON, or a page when the request
 * asks for HTML (the button of the page a browser gets from `GET /unsubscribe/{token}`).
 */
export const handler = httpHandler(async (event) => {
  const { customerId } = await verifyUnsubscribeToken(event.pathParameters?.token ?? '');
  await requireOneClickBody(rawBody(event, MAX_ONE_CLICK_BODY_BYTES), header(event, 'content-type') ?? '');
  const live = await rootCustomer(customerId);
  if (!(await getCustomer(live))) throw new NotFoundError('Unknown customer');
  await setConsent({ customerId: live, channel: 'email', status: 'opted_out', source: 'email:one-click', actor: 'customer', now: new Date().toISOString() });
  // The button of the page the link opens in a browser (GET /unsubscribe/{token}) gets a page back.
  if (wantsHtml(header(event, 'accept'))) return unsubscribePage('done');
  return json(200, { channel: 'email', status: 'opted_out', message: 'You will no longer receive these emails.' });
});

/**
 * RFC 8058 §3.2: mail receivers SHOULD post `multipart/form-data` and MAY post
 * `application/x-www-form-urlencoded`; busboy reads both. The form must carry `List-Unsubscribe` with
 * the value `One-Click`; anything else (another media type, another value, an empty body) is a 400.
 */
function requireOneClickBody(body: Buffer, contentType: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let oneClick = false;
    let settled = false;
    let parser: busboy.Busboy | undefined;
    const settle = (err?: Error) => {
      if (settled) return;
      settled = true;
      if (err) {
        parser?.destroy();
        reject(err);
      } else if (oneClick) resolve();
      else reject(new ValidationError('Expected the one-click unsubscribe body List-Unsubscribe=One-Click'));
    };
    try {
      parser = busboy({ headers: { 'content-type': contentType }, limits: { fields: 8, fieldSize: 256, files: 0, parts: 8 } });
    } catch (cause) {
      settle(new ValidationError('Expected a form body (multipart/form-data or application/x-www-form-urlencoded)', { cause }));
      return;
    }
    parser.on('field', (name, value) => {
      if (name === 'List-Unsubscribe' && value === 'One-Click') oneClick = true;
    });
    parser.on('file', (_name, stream) => stream.resume());
    parser.on('fieldsLimit', () => settle(new PayloadTooLargeError('Too many form fields')));
    parser.on('partsLimit', () => settle(new PayloadTooLargeError('Too many form parts')));
    parser.on('error', (cause: unknown) => settle(new ValidationError('Malformed form body', { cause })));
    parser.on('close', () => settle());
    parser.end(body);
  });
}
