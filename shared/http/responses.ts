import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/**
 * A JSON answer.
 *
 * @example
 * ```ts
 * return json(200, { conversationId, messageId });
 * ```
 */
export function json(statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
    body: JSON.stringify(body),
  };
}

/**
 * A TwiML answer (`text/xml`), as Twilio expects from its webhooks.
 *
 * @example
 * ```ts
 * return twiml('<Response/>');
 * ```
 */
export function twiml(xml: string): APIGatewayProxyStructuredResultV2 {
  return { statusCode: 200, headers: { 'content-type': 'text/xml; charset=utf-8' }, body: xml };
}

/**
 * The product's error body: `{"error":{"code","message"}}`.
 *
 * @example
 * ```ts
 * return errorResponse(404, 'not_found', 'No such conversation');
 * ```
 */
export function errorResponse(statusCode: number, code: string, message: string, headers: Record<string, string> = {}): APIGatewayProxyStructuredResultV2 {
  const res = json(statusCode, { error: { code, message } });
  return { ...res, headers: { ...res.headers, ...headers } };
}
