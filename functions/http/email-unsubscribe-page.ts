import { httpHandler } from '#shared/http/http-handler.ts';
import { unsubscribePage } from '#shared/http/unsubscribe-pages.ts';
import { verifyUnsubscribeToken } from '#shared/outbound/unsubscribe-token.ts';

/**
 * The unsubscribe link opened in a browser (`GET /unsubscribe/{token}`): mail clients without RFC 8058
 * one-click support, or a customer who copies the `List-Unsubscribe` URL, arrive here with a GET.
 *
 * 1. verify the token (403 when forged or tampered), reading nothing else
 * 2. answer a page with one button that POSTs the one-click body to the same URL
 *
 * The GET itself unsubscribes nobody (RFC 8058 §3.1: link scanners and prefetches fetch URLs); the POST
 * route does, with its audit entry.
 */
export const handler = httpHandler(async (event) => {
  await verifyUnsubscribeToken(event.pathParameters?.token ?? '');
  return unsubscribePage('confirm');
});
