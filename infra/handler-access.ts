import { basename } from 'node:path';
import type { SecretName } from '#shared/config.ts';
import type { HttpRoute, QueueConsumer } from '#shared/routes.ts';

/** Where every webhook hands slower work (media download, classification) to. */
export const inboundWorkQueue = 'inbound-work';

/**
 * Everything one deployed handler may touch. The stack turns this into IAM grants and environment
 * variables and nothing else, so least privilege is reviewed here, in one place.
 */
export type HandlerAccess = {
  /** `read`: GetItem/Query only; `readWrite`: also Put/Update/Delete/TransactWrite. */
  readonly table: 'read' | 'readWrite';
  /** Secrets the handler reads (gets `<NAME>_SECRET_ARN` and `GetSecretValue` on that secret only). */
  readonly secrets: readonly SecretName[];
  /** Queue logical names (`queueConsumers[].queue`) the handler sends to. */
  readonly enqueue: readonly string[];
  /** Writes attachment content to the attachments bucket. */
  readonly putAttachments: boolean;
  /** Verifies staff JWTs itself (gets the Cognito issuer, audience and JWKS URL). */
  readonly staffJwt: boolean;
  /** Needs the public base URL (Twilio signs the full URL the provider called). */
  readonly publicBaseUrl: boolean;
};

/**
 * Each provider webhook verifies its own signature with exactly one secret, picked by the entry file's
 * name: a new `twilio-*.ts` webhook gets the Twilio token without touching the stack, and a webhook whose
 * file matches none of these fails the synth instead of being deployed without a key.
 */
const webhookSecretByEntryPrefix: ReadonlyArray<readonly [prefix: string, secret: SecretName]> = [
  ['twilio-', 'TWILIO_AUTH_TOKEN'],
  ['sendgrid-inbound', 'SENDGRID_INBOUND_SECRET'],
  ['sendgrid-event', 'SENDGRID_EVENT_PUBLIC_KEY'],
  ['chat-', 'CHAT_WEBHOOK_SECRET'],
];

/** Only the email webhook receives attachment content inline (multipart files); the others carry URLs. */
const webhooksStoringAttachments = ['sendgrid-inbound'];

function entryName(entry: string): string {
  return basename(entry).replace(/\.[cm]?[jt]s$/, '');
}

/**
 * The access an HTTP route's handler needs.
 *
 * @example
 * ```ts
 * accessForRoute({ name: 'GetCustomer', method: 'GET', path: '/customers', entry: '…', auth: 'staff' });
 * // → { table: 'read', secrets: [], enqueue: [], putAttachments: false, staffJwt: true, publicBaseUrl: false }
 * ```
 */
export function accessForRoute(route: HttpRoute): HandlerAccess {
  const name = entryName(route.entry);
  switch (route.auth) {
    case 'webhook': {
      const secret = webhookSecretByEntryPrefix.find(([prefix]) => name.startsWith(prefix))?.[1];
      if (secret === undefined) {
        throw new Error(
          `Webhook route ${route.name} (${route.entry}) has no provider secret; add its entry prefix to webhookSecretByEntryPrefix in infra/handler-access.ts`,
        );
      }
      return {
        table: 'readWrite',
        secrets: [secret],
        enqueue: [inboundWorkQueue],
        putAttachments: webhooksStoringAttachments.includes(name),
        staffJwt: false,
        publicBaseUrl: true,
      };
    }
    case 'staff':
      // Reads stay read-only at the IAM level too; staff writes (templates, sends) come as POST routes.
      return {
        table: route.method === 'GET' ? 'read' : 'readWrite',
        secrets: [],
        enqueue: [],
        putAttachments: false,
        staffJwt: true,
        publicBaseUrl: false,
      };
    case 'dev':
      throw new Error(`Route ${route.name} is local-only (auth 'dev') and is never deployed`);
  }
}

/**
 * The access a queue consumer needs besides consuming its own queue: it completes inbound work (stores
 * downloaded media, updates messages).
 *
 * @example
 * ```ts
 * accessForConsumer(queueConsumers[0]); // → { table: 'readWrite', putAttachments: true, … }
 * ```
 */
export function accessForConsumer(_consumer: QueueConsumer): HandlerAccess {
  return { table: 'readWrite', secrets: [], enqueue: [], putAttachments: true, staffJwt: false, publicBaseUrl: false };
}

/**
 * The environment variable holding a queue's URL: `inbound-work` → `INBOUND_WORK_QUEUE_URL`.
 *
 * @example
 * ```ts
 * queueUrlEnvName('inbound-work'); // 'INBOUND_WORK_QUEUE_URL'
 * ```
 */
export function queueUrlEnvName(queue: string): string {
  return `${queue.replace(/[^A-Za-z0-9]+/g, '_').toUpperCase()}_QUEUE_URL`;
}
