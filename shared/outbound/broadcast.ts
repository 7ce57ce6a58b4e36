import { randomUUID } from 'node:crypto';
import * as z from 'zod/mini';
import { requireEnv } from '#shared/config.ts';
import { completeBroadcast, recordBroadcast, releasePacingTail, reservePacingWindow } from '#shared/data/broadcast-store.ts';
import { getTemplateVersion, latestApprovedVersion } from '#shared/data/template-store.ts';
import { channels, type Channel } from '#shared/domain/message.ts';
import type { TemplateVersion } from '#shared/domain/template.ts';
import { ConfigError, DomainError, NotFoundError, StateConflictError, UnprocessableError, ValidationError } from '#shared/errors.ts';
import { liveCustomerWithConsent } from '#shared/ingest/resolve-customer.ts';
import { logger } from '#shared/logger.ts';
import { sendMessage as queueMessage, type SendMessageCommand, type SendMessageResult } from '#shared/outbound/send-message.ts';
import { renderTemplate } from '#shared/templates/render.ts';
import { smsInfo } from '#shared/templates/sms-segments.ts';

/**
 * How far ahead a broadcast's window may end: the outbound queue keeps a job 4 days, so a message held
 * longer would be dropped by SQS before its slot. Beyond it, the broadcast is refused (409
 * `pacing_backlog`), naming when the channel is free.
 */
export const MAX_PACING_HORIZON_SECONDS = 3 * 24 * 3600;

/** Most customers one broadcast takes: the request is answered once every message is queued. */
export const MAX_BROADCAST_CUSTOMERS = 1000;
/** A broadcast's JSON body: 1000 customers with their own variables fit well within it. */
export const MAX_BROADCAST_BODY_BYTES = 1024 * 1024;
/** Reads (customer, consent) in flight at once while preparing. */
const PREPARE_CONCURRENCY = 32;
/**
 * Messages being queued at once. Measured on the local stack (2 cores, DynamoDB Local, the sender
 * consuming meanwhile): 1000 chat messages in about 22 s with 32 in flight; with 16, only ~780 within a
 * 24 s budget. In the cloud each send is I/O-bound (a few DynamoDB calls, one SQS call): much faster.
 */
const SEND_CONCURRENCY = 32;

const variablesSchema = z.record(z.string().check(z.minLength(1), z.maxLength(64)), z.string().check(z.maxLength(10_000)));

const broadcastSchema = z.strictObject({
  templateId: z.string().check(z.minLength(1), z.maxLength(100)),
  version: z.optional(z.int().check(z.minimum(1), z.maximum(999_999))),
  channel: z.enum(channels),
  customerIds: z.array(z.string().check(z.minLength(1), z.maxLength(100))).check(z.minLength(1), z.maxLength(MAX_BROADCAST_CUSTOMERS)),
  variables: z.optional(variablesSchema),
  perCustomerVariables: z.optional(z.record(z.string().check(z.maxLength(100)), variablesSchema)),
});

export type BroadcastRequest = z.infer<typeof broadcastSchema>;

export type BroadcastCommand = BroadcastRequest & { createdBy: string };

export type BroadcastAccepted = { customerId: string; messageId: string; notBefore: string };
export type BroadcastRefused = { customerId: string; code: string; message: string };
export type BroadcastResult = { broadcastId: string; templateId: string; version: number; channel: Channel; accepted: BroadcastAccepted[]; refused: BroadcastRefused[] };

export type BroadcastDeps = {
  sendMessage: (cmd: SendMessageCommand) => Promise<SendMessageResult>;
  now: () => Date;
  /** Messages per second on a channel (for SMS: segments per second). */
  ratePerSecond: (channel: Channel) => number;
  /**
   * When to stop starting sends (epoch ms): the handler's time budget. Customers not reached by then are
   * refused `not_attempted`, so the answer always says exactly what was queued; a timeout would not, and
   * sending the whole list again would then text some customers twice.
   */
  deadline?: number;
  /**
   * When the answer must be on its way (epoch ms): the last write, the broadcast's record, is waited for
   * until then and no longer (a throttled table would otherwise hold the answer past the gateway's
   * timeout, and the caller, seeing a 5xx with every message queued, send the broadcast again).
   */
  answerBy?: number;
};

const rates = new Map<Channel, number>();

/** `BROADCAST_RATE_<CHANNEL>_PER_SECOND`, read once per channel; a positive number (0.5 = one every 2 s). */
export function broadcastRate(channel: Channel): number {
  let rate = rates.get(channel);
  if (rate === undefined) {
    const name = `BROADCAST_RATE_${channel.toUpperCase()}_PER_SECOND`;
    rate = Number(requireEnv(name));
    if (!Number.isFinite(rate) || rate <= 0) throw new ConfigError(`${name} must be a positive number`);
    rates.set(channel, rate);
  }
  return rate;
}

export const defaultBroadcastDeps: BroadcastDeps = { sendMessage: (cmd) => queueMessage(cmd), now: () => new Date(), ratePerSecond: broadcastRate };

/**
 * A broadcast request from its JSON: the schema (400 naming the fields), customer ids unique, and
 * per-customer variables only for customers in the list.
 *
 * @example
 * ```ts
 * const request = parseBroadcastRequest(JSON.parse(body));
 * ```
 */
export function parseBroadcastRequest(json: unknown): BroadcastRequest {
  const parsed = broadcastSchema.safeParse(json);
  if (!parsed.success) {
    const fields = [...new Set(parsed.error.issues.map((i) => i.path.join('.') || '(body)'))].join(', ');
    throw new ValidationError(`Invalid broadcast fields: ${fields}`);
  }
  const request = parsed.data;
  const ids = new Set(request.customerIds);
  if (ids.size !== request.customerIds.length) throw new ValidationError('customerIds must not repeat a customer');
  const strays = Object.keys(request.perCustomerVariables ?? {}).filter((id) => !ids.has(id));
  if (strays.length > 0) throw new ValidationError('perCustomerVariables names customers that are not in customerIds');
  return request;
}

type Candidate = { index: number; customerId: string; conversationId: string; variables: Record<string, string>; cost: number };

/**
 * Sends one approved template version to a list of customers, paced per channel.
 *
 * 1. the template version, once for all: approved (else 409 before anything is queued) and with content
 *    for the channel (else 422); without `version`, the latest approved one, pinned for every customer
 * 2. prepare each customer: known (404), live customer after merges, not opted out (409), and the cost
 *    of its message in rate slots (SMS: the rendered body's segment count; other channels: 1)
 * 3. reserve the broadcast's window on the channel (all its slots at the rate; it starts when the
 *    window of the broadcast before it on that channel ends, or now), record the broadcast, then queue
 *    each message through `sendMessage` (the same consent and approval checks as any send), holding
 *    message k until `start + floor(slot_k / rate)` seconds, where slot_k is the slots used by the
 *    messages before it in the list
 * 4. one customer's refusal never stops the others: it is reported with its code; customers not reached
 *    before `deps.deadline` are refused `not_attempted` (send again to those only)
 * 5. the window's unused tail (after the last queued message) is given back, unless another broadcast
 *    has reserved after it; the broadcast's record gets its counts
 *
 * @example
 * ```ts
 * const { broadcastId, accepted, refused } = await startBroadcast({ ...request, createdBy: 'alice' });
 * ```
 */
export async function startBroadcast(cmd: BroadcastCommand, deps: BroadcastDeps = defaultBroadcastDeps): Promise<BroadcastResult> {
  const rate = deps.ratePerSecond(cmd.channel);
  const version = await approvedVersion(cmd.templateId, cmd.version, cmd.channel);
  const refused = new Map<number, BroadcastRefused>();
  const refuse = (index: number, customerId: string, err: DomainError) => refused.set(index, { customerId, code: err.code, message: err.message });

  // 2. prepare (reads only)
  const roots = new Map<string, number>();
  const prepared = await mapPool(cmd.customerIds, PREPARE_CONCURRENCY, (customerId, index) => prepare(cmd, version, customerId, index));
  const candidates: Candidate[] = [];
  for (const [index, outcome] of prepared.entries()) {
    const customerId = cmd.customerIds[index]!;
    if (outcome instanceof DomainError) {
      refuse(index, customerId, outcome);
    } else if (roots.has(outcome.conversationId)) {
      // Two ids that merged into one customer: one message, not two.
      refuse(index, customerId, new StateConflictError('duplicate_customer', `Same customer as ${cmd.customerIds[roots.get(outcome.conversationId)!]}`));
    } else {
      roots.set(outcome.conversationId, index);
      candidates.push(outcome);
    }
  }

  // 3. pace (this broadcast's turn on the channel), record, queue
  const slots = candidates.reduce((sum, c) => sum + c.cost, 0);
  // Whole seconds: message k goes at start + floor(slot_k / rate) s, so the last one's second is all its own.
  const now = deps.now();
  const window = candidates.length > 0 ? await reservePacingWindow(cmd.channel, Math.ceil(slots / rate), now, new Date(now.getTime() + MAX_PACING_HORIZON_SECONDS * 1000)) : { start: now };
  if ('bookedUntil' in window) {
    const fits = Math.floor(MAX_PACING_HORIZON_SECONDS * rate);
    throw new StateConflictError(
      'pacing_backlog',
      Math.ceil(slots / rate) > MAX_PACING_HORIZON_SECONDS
        ? `This broadcast needs ${slots} ${cmd.channel} slots; at ${rate}/s at most ${fits} fit within ${MAX_PACING_HORIZON_SECONDS / 3600} hours. Send it to fewer customers at a time.`
        : `Broadcasts on ${cmd.channel} are booked until ${window.bookedUntil.toISOString()}; this one would end more than ${MAX_PACING_HORIZON_SECONDS / 3600} hours ahead. Send it later or to fewer customers.`,
    );
  }
  const start = window.start;
  const windowEnd = start.getTime() + Math.ceil(slots / rate) * 1000;
  const broadcastId = `bc_${randomUUID().replaceAll('-', '')}`;
  await recordBroadcast({
    broadcastId,
    templateId: version.templateId,
    version: version.version,
    channel: cmd.channel,
    createdBy: cmd.createdBy,
    createdAt: deps.now().toISOString(),
    requested: cmd.customerIds.length,
  });
  let slot = 0;
  const paced = candidates.map((c) => {
    const notBefore = new Date(start.getTime() + Math.floor(slot / rate) * 1000).toISOString();
    slot += c.cost;
    return { ...c, notBefore, slotsEnd: slot };
  });
  const accepted = new Map<number, BroadcastAccepted>();
  await mapPool(paced, SEND_CONCURRENCY, async (c) => {
    if (deps.deadline !== undefined && deps.now().getTime() >= deps.deadline) {
      refused.set(c.index, { customerId: c.customerId, code: 'not_attempted', message: 'Not queued: the broadcast ran out of time; send again to this customer' });
      return;
    }
    try {
      const result = await deps.sendMessage({
        conversationId: c.conversationId,
        channel: cmd.channel,
        sentBy: cmd.createdBy,
        templateId: version.templateId,
        version: version.version,
        variables: c.variables,
        broadcastId,
        notBefore: c.notBefore,
      });
      accepted.set(c.index, { customerId: c.customerId, messageId: result.messageId, notBefore: c.notBefore });
    } catch (err) {
      if (err instanceof DomainError) return refuse(c.index, c.customerId, err);
      // The others may already be queued: report this one for a retry rather than fail the broadcast.
      logger.error('broadcast message could not be queued', { broadcastId, conversationId: c.conversationId, error: err });
      refused.set(c.index, { customerId: c.customerId, code: 'internal_error', message: 'Could not queue this message; send it again' });
    }
  });

  // The messages are queued: a failure to record the counts must not answer 5xx, which would have the
  // caller send the broadcast again and every customer get it twice. Logged; the record stays `queuing`.
  // The window's tail past the last queued message (customers not reached, or refused at the end) is
  // given back, so that sending again to those customers does not wait for slots nobody used.
  const lastQueued = paced.findLast((c) => accepted.has(c.index));
  const usedUntil = start.getTime() + Math.ceil((lastQueued?.slotsEnd ?? 0) / rate) * 1000;
  const release = releasePacingTail(cmd.channel, windowEnd, usedUntil).catch((err: unknown) =>
    logger.warn('unused broadcast slots could not be given back', { broadcastId, channel: cmd.channel, error: err }),
  );
  // Waited for until `answerBy` only: past it, the answer goes and the record may stay `queuing`.
  const completion = Promise.all([
    completeBroadcast(broadcastId, { accepted: accepted.size, refused: refused.size, now: deps.now().toISOString() }).catch((err: unknown) =>
      logger.error('broadcast queued; its record could not be completed', { broadcastId, accepted: accepted.size, refused: refused.size, error: err }),
    ),
    release,
  ]).then(() => 'completed' as const);
  let timer: NodeJS.Timeout | undefined;
  const outOfTime = new Promise<'out_of_time'>((resolve) => {
    if (deps.answerBy !== undefined) timer = setTimeout(() => resolve('out_of_time'), Math.max(0, deps.answerBy - Date.now()));
  });
  if ((await Promise.race([completion, outOfTime])) === 'out_of_time') {
    logger.error('broadcast queued; its record was not completed in time', { broadcastId, accepted: accepted.size, refused: refused.size });
  }
  clearTimeout(timer);
  logger.info('broadcast queued', { broadcastId, templateId: version.templateId, version: version.version, channel: cmd.channel, accepted: accepted.size, refused: refused.size });
  const inOrder = <T>(m: Map<number, T>) => [...m.entries()].sort(([a], [b]) => a - b).map(([, v]) => v);
  return { broadcastId, templateId: version.templateId, version: version.version, channel: cmd.channel, accepted: inOrder(accepted), refused: inOrder(refused) };
}

/** The version every message of the broadcast uses: approved, with content for the channel. */
async function approvedVersion(templateId: string, wanted: number | undefined, channel: Channel): Promise<TemplateVersion> {
  let version: TemplateVersion | undefined;
  if (wanted !== undefined) {
    version = await getTemplateVersion(templateId, wanted);
    if (!version) throw new NotFoundError(`Template ${templateId} has no version ${wanted}`);
    if (version.status !== 'approved') throw new StateConflictError('not_approved', `Version ${wanted} of template ${templateId} is ${version.status}, not approved`);
  } else {
    version = await latestApprovedVersion(templateId);
    if (!version) {
      if (!(await getTemplateVersion(templateId, 1))) throw new NotFoundError(`Unknown template ${templateId}`);
      throw new StateConflictError('not_approved', `Template ${templateId} has no approved version`);
    }
  }
  if (version.content[channel] === undefined) throw new UnprocessableError('channel_not_in_template', `Template ${templateId} has no ${channel} content`);
  return version;
}

/** One customer's candidate message, or the domain error that refuses it. Store failures propagate: nothing is queued yet. */
async function prepare(cmd: BroadcastCommand, version: TemplateVersion, customerId: string, index: number): Promise<Candidate | DomainError> {
  const { customer, consent } = await liveCustomerWithConsent(customerId, cmd.channel);
  if (!customer) return new NotFoundError(`Unknown customer ${customerId}`);
  if (consent === 'opted_out') return new StateConflictError('opted_out', `The customer opted out of ${cmd.channel}`);
  const variables = { ...(cmd.variables ?? {}), ...(cmd.perCustomerVariables?.[customerId] ?? {}) };
  let cost = 1;
  if (cmd.channel === 'sms') {
    try {
      cost = smsInfo(renderTemplate(version, 'sms', variables).body).segments;
    } catch (err) {
      // sendMessage renders the same way and reports the error for this customer; no slot is used.
      if (!(err instanceof DomainError)) throw err;
      cost = 0;
    }
  }
  return { index, customerId, conversationId: customer.conversationId, variables, cost };
}

/** `fn` over `items` with at most `limit` calls in flight; results in input order. */
async function mapPool<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
