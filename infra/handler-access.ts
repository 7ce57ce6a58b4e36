import { basename } from 'node:path';
import type { SecretName } from '#shared/config.ts';
import type { HttpRoute, QueueConsumer } from '#shared/routes.ts';
import { PENDING_APPROVALS_PK, conversationPk } from '#shared/data/keys.ts';

/** Every conversation's partition (its messages), as an IAM `dynamodb:LeadingKeys` pattern. */
const threadKeys = `${conversationPk('')}*`;

/** Where the ingest webhooks hand slower work (media download, merge sweeps) to. */
export const inboundWorkQueue = 'inbound-work';
/** Submitted template versions, grouped by template (FIFO). */
export const templateApprovalsQueue = 'template-approvals';
/** Send jobs, grouped by conversation (FIFO). */
export const outboundQueue = 'outbound';

/**
 * Non-secret settings an operator chooses per deployment. The stack takes each as a CloudFormation
 * parameter without a default (see `OmnichannelStack`), so nothing is guessed in code.
 */
export const stackSettingNames = [
  'TWILIO_ACCOUNT_SID',
  'TWILIO_API_KEY_SID',
  'TWILIO_FROM_NUMBER',
  'EMAIL_FROM',
  'CHAT_DELIVERY_URL',
  'SMS_HELP_TEXT',
  'VOICE_HUMAN_CONTACT',
  'BROADCAST_RATE_SMS_PER_SECOND',
  'BROADCAST_RATE_EMAIL_PER_SECOND',
  'BROADCAST_RATE_CHAT_PER_SECOND',
  'BROADCAST_RATE_VOICE_PER_SECOND',
] as const;

export type StackSettingName = (typeof stackSettingNames)[number];

/**
 * Everything one deployed handler may touch. The stack turns this into IAM grants and environment
 * variables and nothing else, so least privilege is reviewed here, in one place.
 */
export type HandlerAccess = {
  /**
   * `none`: no access and no `TABLE_NAME`; `read`: GetItem/BatchGetItem/Query/ConditionCheckItem (no Scan);
   * `readWrite`: also PutItem/UpdateItem (alone or in TransactWriteItems); `readWriteDelete`: also
   * DeleteItem, for the few handlers whose code deletes (a merge's thread move, a decided approval's
   * list entry), and only under `deletesUnder`. Deleting a consent item would opt a customer back in.
   */
  readonly table: 'none' | 'read' | 'readWrite' | 'readWriteDelete';
  /**
   * With `readWriteDelete`: the partition keys (IAM `dynamodb:LeadingKeys` patterns) under which it may
   * delete, and nowhere else: a message's thread move deletes messages (`CONV#*`), a decision deletes the
   * version's pending-list entry (`APPROVALS`). Never a customer's items, consent among them.
   */
  readonly deletesUnder?: readonly string[];
  /** Secrets the handler reads (gets `<NAME>_SECRET_ARN` and `GetSecretValue` on that secret only). */
  readonly secrets: readonly SecretName[];
  /** Queue logical names (`queueConsumers[].queue`) the handler sends to (gets `<QUEUE>_QUEUE_URL` and SendMessage). */
  readonly enqueue: readonly string[];
  /**
   * Consumers only: the queue it consumes, whose URL it gets as `<QUEUE>_QUEUE_URL` to postpone a received
   * message (ChangeMessageVisibility, part of what the event source grants). No SendMessage on it.
   */
  readonly consumes?: string;
  /** Writes attachment content to the attachments bucket. */
  readonly putAttachments: boolean;
  /** Verifies staff JWTs itself (gets the Cognito issuer, audience and JWKS URL). */
  readonly staffJwt: boolean;
  /** Needs the public base URL (Twilio signs the full URL it called; status callback and unsubscribe links). */
  readonly publicBaseUrl: boolean;
  /** Deploy-time settings (stack parameters) it reads, as env vars of the same name. */
  readonly settings: readonly StackSettingName[];
};

/**
 * Each provider webhook verifies its own request with exactly one secret, picked by the entry file's
 * name (first match wins): a new `twilio-*.ts` webhook gets the Twilio token without touching the
 * stack, and a webhook whose file matches none of these fails the synth instead of being deployed
 * without a key.
 */
const webhookSecretByEntryPrefix: ReadonlyArray<readonly [prefix: string, secret: SecretName]> = [
  ['twilio-status', 'TWILIO_AUTH_TOKEN'],
  ['sendgrid-events', 'SENDGRID_EVENT_PUBLIC_KEY'],
  // One-click unsubscribe (RFC 8058): the path carries a token signed with this key.
  ['email-unsubscribe', 'UNSUBSCRIBE_SIGNING_SECRET'],
  ['twilio-', 'TWILIO_AUTH_TOKEN'],
  ['sendgrid-inbound', 'SENDGRID_INBOUND_SECRET'],
  ['chat-', 'CHAT_WEBHOOK_SECRET'],
];

/** The webhooks that put customer messages into threads; only they hand work to the inbound-work queue. */
const ingestWebhooks = ['twilio-sms', 'twilio-voice-transcription', 'sendgrid-inbound', 'chat-inbound'];

/**
 * The voice webhook only answers with TwiML (the transcription callback stores the message), the
 * unsubscribe page only checks its token: no table access.
 */
const webhooksWithoutData = ['twilio-voice', 'email-unsubscribe-page'];

/** Only the email webhook receives attachment content inline (multipart files); the others carry URLs. */
const webhooksStoringAttachments = ['sendgrid-inbound'];

/** What a handler needs beyond the baseline of its kind, by entry file name. */
const extraByEntry: Readonly<Record<string, Partial<Pick<HandlerAccess, 'table' | 'deletesUnder' | 'secrets' | 'enqueue' | 'settings' | 'publicBaseUrl'>>>> = {
  // A POST that only renders a stored version: reads only.
  'preview-template-version': { table: 'read' },
  // A chat message's links can merge two customers: the merge moves the absorbed thread (copy, then delete).
  'chat-inbound': { table: 'readWriteDelete', deletesUnder: [threadKeys] },
  // A decision takes the version off the pending list, in the same transaction.
  'approve-template-version': { table: 'readWriteDelete', deletesUnder: [PENDING_APPROVALS_PK] },
  'reject-template-version': { table: 'readWriteDelete', deletesUnder: [PENDING_APPROVALS_PK] },
  // HELP is answered with the configured text.
  'twilio-sms': { settings: ['SMS_HELP_TEXT'] },
  // Callers hear how to reach a person before anything is recorded.
  'twilio-voice': { settings: ['VOICE_HUMAN_CONTACT'] },
  'submit-template-version': { enqueue: [templateApprovalsQueue] },
  'send-message': { enqueue: [outboundQueue] },
  // Each accepted recipient is queued like a single send, paced per channel.
  'create-broadcast': {
    enqueue: [outboundQueue],
    settings: ['BROADCAST_RATE_SMS_PER_SECOND', 'BROADCAST_RATE_EMAIL_PER_SECOND', 'BROADCAST_RATE_CHAT_PER_SECOND', 'BROADCAST_RATE_VOICE_PER_SECOND'],
  },
};

function entryName(entry: string): string {
  return basename(entry).replace(/\.[cm]?[jt]s$/, '');
}

/**
 * The access an HTTP route's handler needs.
 *
 * @example
 * ```ts
 * accessForRoute({ name: 'GetCustomer', method: 'GET', path: '/customers', entry: '…', auth: 'staff', roles: ['agent'] });
 * // → { table: 'read', secrets: [], enqueue: [], settings: [], putAttachments: false, staffJwt: true, publicBaseUrl: false }
 * ```
 */
export function accessForRoute(route: HttpRoute): HandlerAccess {
  const name = entryName(route.entry);
  const extra = extraByEntry[name] ?? {};
  switch (route.auth) {
    case 'webhook': {
      const secret = webhookSecretByEntryPrefix.find(([prefix]) => name.startsWith(prefix))?.[1];
      if (secret === undefined) {
        throw new Error(
          `Webhook route ${route.name} (${route.entry}) has no provider secret; add its entry prefix to webhookSecretByEntryPrefix in infra/handler-access.ts`,
        );
      }
      return {
        table: webhooksWithoutData.includes(name) ? 'none' : (extra.table ?? 'readWrite'),
        ...(extra.deletesUnder ? { deletesUnder: extra.deletesUnder } : {}),
        secrets: [secret, ...(extra.secrets ?? [])],
        enqueue: [...(ingestWebhooks.includes(name) ? [inboundWorkQueue] : []), ...(extra.enqueue ?? [])],
        putAttachments: webhooksStoringAttachments.includes(name),
        staffJwt: false,
        publicBaseUrl: true,
        settings: extra.settings ?? [],
      };
    }
    case 'staff':
      if (!route.roles || route.roles.length === 0) {
        throw new Error(`Staff route ${route.name} declares no roles (shared/routes.ts): say who may call it`);
      }
      // Reads stay read-only at the IAM level too; staff writes (templates, approvals, sends) are POST routes.
      return {
        table: extra.table ?? (route.method === 'GET' ? 'read' : 'readWrite'),
        ...(extra.deletesUnder ? { deletesUnder: extra.deletesUnder } : {}),
        secrets: extra.secrets ?? [],
        enqueue: extra.enqueue ?? [],
        putAttachments: false,
        staffJwt: true,
        publicBaseUrl: extra.publicBaseUrl ?? false,
        settings: extra.settings ?? [],
      };
    case 'dev':
      throw new Error(`Route ${route.name} is local-only (auth 'dev') and is never deployed`);
  }
}

/** Each consumer's access, by the queue it consumes. */
const consumerAccessByQueue: Readonly<Record<string, Omit<HandlerAccess, 'consumes'>>> = {
  // Completes inbound work: copies media (Twilio media URLs take Basic auth with the API key, not the
  // Auth Token) and sweeps merges. A sweep whose request stopped before marking the merge does the merge,
  // which queues its own sweep.
  [inboundWorkQueue]: {
    // A merge sweep moves messages (copy, then delete the source).
    table: 'readWriteDelete',
    deletesUnder: [threadKeys],
    secrets: ['TWILIO_API_KEY_SECRET'],
    enqueue: [inboundWorkQueue],
    putAttachments: true,
    staffJwt: false,
    publicBaseUrl: false,
    settings: ['TWILIO_API_KEY_SID'],
  },
  // Keeps the pending-approval list.
  [templateApprovalsQueue]: { table: 'readWrite', secrets: [], enqueue: [], putAttachments: false, staffJwt: false, publicBaseUrl: false, settings: [] },
  // Delivers through the providers: Twilio (SMS, voice), SendGrid (email with a List-Unsubscribe link), the chat backend (signed POST).
  [outboundQueue]: {
    table: 'readWrite',
    secrets: ['TWILIO_API_KEY_SECRET', 'SENDGRID_API_KEY', 'CHAT_WEBHOOK_SECRET', 'UNSUBSCRIBE_SIGNING_SECRET'],
    enqueue: [],
    putAttachments: false,
    staffJwt: false,
    // Twilio status callback URL and the unsubscribe link.
    publicBaseUrl: true,
    settings: ['TWILIO_ACCOUNT_SID', 'TWILIO_API_KEY_SID', 'TWILIO_FROM_NUMBER', 'EMAIL_FROM', 'CHAT_DELIVERY_URL'],
  },
};

/**
 * The access a queue consumer needs besides consuming its own queue (which the event source grants).
 *
 * @example
 * ```ts
 * accessForConsumer(queueConsumers[0]); // inbound-work → { table: 'readWrite', putAttachments: true, consumes: 'inbound-work', … }
 * ```
 */
export function accessForConsumer(consumer: QueueConsumer): HandlerAccess {
  const access = consumerAccessByQueue[consumer.queue];
  if (!access) {
    throw new Error(`Queue consumer ${consumer.name} (${consumer.queue}) has no access profile; add one to consumerAccessByQueue in infra/handler-access.ts`);
  }
  return { ...access, consumes: consumer.queue };
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
