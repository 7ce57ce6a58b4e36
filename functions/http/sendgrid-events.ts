import { sendgridEventSchema, verifiedSendgridEvents, type SendgridEvent } from '#shared/channels/sendgrid/event-webhook.ts';
import { httpHandler } from '#shared/http/http-handler.ts';
import { logger } from '#shared/logger.ts';
import { applySendgridEvents } from '#shared/outbound/status-callbacks.ts';

/**
 * SendGrid Event Webhook (`POST /webhooks/sendgrid/events`): a signed JSON array of events. Delivery
 * events move messages forward; unsubscribes and spam reports opt the customer out of email. Entries the
 * product does not read are skipped (SendGrid would only retry them), a bad signature is a 403.
 */
export const handler = httpHandler(async (event) => {
  const entries = await verifiedSendgridEvents(event);
  const events: SendgridEvent[] = [];
  for (const entry of entries) {
    const parsed = sendgridEventSchema.safeParse(entry);
    if (parsed.success) events.push(parsed.data);
  }
  if (events.length < entries.length) logger.warn('unreadable SendGrid events skipped', { skipped: entries.length - events.length });
  await applySendgridEvents(events);
  return { statusCode: 200, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: '' };
});
