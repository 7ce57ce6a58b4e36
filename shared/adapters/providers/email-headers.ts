import type { OutboundDelivery } from '#shared/ports/channel-sender.ts';

/**
 * The email headers we add: threading (`In-Reply-To`, and `References` ending with it, RFC 5322 §3.6.4)
 * when answering an inbound email, and RFC 8058 one-click unsubscribe.
 *
 * @example
 * ```ts
 * emailHeaders({ inReplyTo: '<a@x>', unsubscribeUrl: 'https://…/unsubscribe/t' });
 * // { 'In-Reply-To': '<a@x>', References: '<a@x>', 'List-Unsubscribe': '<https://…/unsubscribe/t>', 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' }
 * ```
 */
export function emailHeaders(delivery: Pick<OutboundDelivery, 'inReplyTo' | 'references' | 'unsubscribeUrl'>): Record<string, string> {
  const headers: Record<string, string> = {};
  if (delivery.inReplyTo) {
    headers['In-Reply-To'] = delivery.inReplyTo;
    const references = [...(delivery.references ?? [])];
    if (!references.includes(delivery.inReplyTo)) references.push(delivery.inReplyTo);
    headers.References = references.join(' ');
  } else if (delivery.references?.length) {
    headers.References = delivery.references.join(' ');
  }
  if (delivery.unsubscribeUrl) {
    headers['List-Unsubscribe'] = `<${delivery.unsubscribeUrl}>`;
    headers['List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
  }
  return headers;
}
