import MailModule from '@sendgrid/helpers/classes/mail.js';
import { logger } from '#shared/logger.ts';
import { PermanentDeliveryError, TransientDeliveryError, type ChannelSender, type DeliveryResult, type OutboundDelivery } from '#shared/ports/channel-sender.ts';
import { cjsDefault } from './cjs-interop.ts';
import { emailHeaders } from './email-headers.ts';
import { deliveryErrorForStatus, networkDeliveryError, PROVIDER_TIMEOUT_MS } from './delivery-errors.ts';

// CommonJS `module.exports = Mail`, typed as `export default class Mail`.
const Mail = cjsDefault<typeof MailModule.default>(MailModule);

/** Where the real SendGrid v3 API lives; `SENDGRID_API_BASE_URL` (tests, local fakes only) replaces it. */
export const SENDGRID_API_BASE_URL = 'https://api.sendgrid.com';

export type SendgridSettings = {
  /** Read on first send, never during init (in the cloud it comes from Secrets Manager). */
  readonly apiKey: () => Promise<string>;
  /** Our sender address (`EMAIL_FROM`), e.g. `Support <support@example.com>`. */
  readonly from: string;
  /** Test/local only: a local HTTP server speaking SendGrid's v3 API. */
  readonly baseUrl?: string;
  readonly timeoutMs?: number;
};

/**
 * Email through SendGrid v3 `POST /v3/mail/send`. The JSON body is built by the official SendGrid
 * `Mail` helper (`@sendgrid/helpers`, what `@sendgrid/mail`'s `send()` uses): one personalization to the
 * customer, our `from`, subject, text and optional html, `custom_args` `{messageId, conversationId}` (so
 * Event Webhook events name our message), and {@link emailHeaders}. Answers SendGrid's `X-Message-Id`.
 *
 * Why not `@sendgrid/mail` itself: its client statically requires axios, whose Node build pulls mime-db
 * (together ~285 KB minified, against 20 KB for the helper) into a handler with a 600 KB budget; the request is one authenticated
 * JSON POST, sent with `fetch` (10 s timeout).
 *
 * Errors: 401/403 (our key, our sender) → `ProviderConfigError('sendgrid:<status>')`; 400/413 (any
 * other 4xx but 408/429) → `PermanentDeliveryError('sendgrid:<status>')`; 408, 429, network →
 * `TransientDeliveryError`; 5xx and timeouts → `TransientDeliveryError` with the outcome unknown.
 *
 * @example
 * ```ts
 * const email = createSendgridEmailSender({ apiKey: () => getSecretSetting('SENDGRID_API_KEY'), from: 'support@example.com' });
 * const { providerMessageId } = await email.send(delivery);
 * ```
 */
export function createSendgridEmailSender(settings: SendgridSettings): ChannelSender {
  const endpoint = `${(settings.baseUrl ?? SENDGRID_API_BASE_URL).replace(/\/+$/, '')}/v3/mail/send`;
  const timeoutMs = settings.timeoutMs ?? PROVIDER_TIMEOUT_MS;
  return {
    async send(delivery: OutboundDelivery): Promise<DeliveryResult> {
      let body: string;
      try {
        const mail = Mail.create({
          to: delivery.to,
          from: settings.from,
          subject: delivery.subject ?? '',
          text: delivery.body,
          ...(delivery.html ? { html: delivery.html } : {}),
          customArgs: { messageId: delivery.messageId, conversationId: delivery.conversationId },
          headers: emailHeaders(delivery),
        });
        body = JSON.stringify(mail.toJSON());
      } catch (err) {
        // The helper refuses a malformed address or header; SendGrid would answer 400 to it too.
        throw new PermanentDeliveryError('sendgrid:invalid_request', { cause: new Error((err as Error).name) });
      }
      const apiKey = await settings.apiKey();
      let res: Response;
      try {
        res = await fetch(endpoint, {
          method: 'POST',
          headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json', Accept: 'application/json', 'User-Agent': 'omnichannel-support sendgrid-helpers' },
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (err) {
        throw networkDeliveryError('sendgrid', err, timeoutMs);
      }
      const answer = await res.text().catch(() => '');
      if (res.status >= 500) {
        // A 5xx may come from in front of SendGrid's API after it took the message: the outcome is unknown,
        // and the retry goes ahead only if no `processed` event has named the message by then.
        throw new TransientDeliveryError(`sendgrid:${res.status}: HTTP ${res.status}, worth retrying`, { outcomeUnknown: true });
      }
      if (res.status < 200 || res.status >= 300) {
        throw deliveryErrorForStatus({ status: res.status, reason: `sendgrid:${res.status}`, detail: errorFields(answer) });
      }
      const providerMessageId = res.headers.get('x-message-id');
      if (providerMessageId) return { provider: 'sendgrid', providerMessageId };
      // Accepted all the same: retrying would send twice. Events still carry our messageId in custom_args.
      logger.warn('sendgrid accepted a message without X-Message-Id', { messageId: delivery.messageId, status: res.status });
      return { provider: 'sendgrid', providerMessageId: delivery.messageId };
    },
  };
}

/** The `field`s of SendGrid's `{"errors":[{"message","field"}]}`; never the messages, which may quote addresses. */
function errorFields(answer: string): string | undefined {
  try {
    const parsed = JSON.parse(answer) as { errors?: Array<{ field?: unknown }> };
    const fields = (parsed.errors ?? []).map((e) => e.field).filter((f): f is string => typeof f === 'string' && f !== '');
    return fields.length ? `fields: ${fields.join(', ')}` : undefined;
  } catch {
    return undefined;
  }
}
