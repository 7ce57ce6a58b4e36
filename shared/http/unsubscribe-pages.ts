import type { APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/**
 * What a customer's browser sees of an email unsubscribe link: a confirmation with one button (`confirm`,
 * the GET), then the outcome (`done`, the POST from that button). Static text, nothing of the customer
 * in it. The token is in the URL, so the page sends no referrer and is never cached or framed; its
 * only form posts back to the same URL.
 */
export function unsubscribePage(kind: 'confirm' | 'done'): APIGatewayProxyStructuredResultV2 {
  const body =
    kind === 'confirm'
      ? `<h1>Unsubscribe from our emails?</h1>
<p>You will no longer receive our emails. Messages on other channels (SMS, chat) are not affected.</p>
<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`
      : `<h1>You are unsubscribed</h1>
<p>You will no longer receive our emails. Messages on other channels (SMS, chat) are not affected.</p>`;
  return {
    statusCode: 200,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    },
    body: `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Email preferences</title></head>
<body>
${body}
</body></html>
`,
  };
}

/** Whether a request asks for a page (a browser's form post) rather than data (a mailbox provider's one-click). */
export function wantsHtml(accept: string | undefined): boolean {
  return /\btext\/html\b/i.test(accept ?? '');
}
