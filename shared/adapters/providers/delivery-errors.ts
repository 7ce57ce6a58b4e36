import { PermanentDeliveryError, ProviderConfigError, TransientDeliveryError } from '#shared/ports/channel-sender.ts';

/** How long any provider call may take before it counts as a (transient) timeout. */
export const PROVIDER_TIMEOUT_MS = 10_000;

/**
 * The one rule every adapter maps a provider's HTTP refusal with: 401, 403 and 404 are the provider
 * refusing our credentials or settings ({@link ProviderConfigError}: retried, then failed with
 * `reason`); any other 4xx but 408/429 is the provider saying "never" to the message (permanent, not
 * retried); 408, 429 and 5xx are "not now" (transient, the queue retries with backoff; the Twilio and
 * SendGrid adapters make their 5xx an unknown outcome first). `reason` is what the message's
 * `failureReason` shows, e.g. `twilio:21610`.
 *
 * Provider error texts often quote the recipient ("The 'To' number +1… is not valid"), so only codes and
 * field names go into the error, never the provider's message.
 *
 * @example
 * ```ts
 * throw deliveryErrorForStatus({ status: 400, reason: 'twilio:21211' });
 * ```
 */
export function deliveryErrorForStatus(input: { status: number; reason: string; detail?: string }): PermanentDeliveryError | TransientDeliveryError | ProviderConfigError {
  const { status, reason, detail } = input;
  if (CONFIG_STATUSES.has(status)) return new ProviderConfigError(reason, { cause: new Error(`HTTP ${status}${detail ? ` (${detail})` : ''}`) });
  if (isPermanentStatus(status)) {
    return new PermanentDeliveryError(reason, { cause: new Error(`HTTP ${status}${detail ? ` (${detail})` : ''}`) });
  }
  return new TransientDeliveryError(`${reason}: HTTP ${status}${detail ? ` (${detail})` : ''}, worth retrying`);
}

/** Unauthorized, Forbidden, Not Found: our key, our sender, our account or URL. */
const CONFIG_STATUSES = new Set([401, 403, 404]);

/** 4xx except 408 Request Timeout and 429 Too Many Requests (401/403/404 are caught before, as settings faults). */
export function isPermanentStatus(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

/** Errors that mean the request never left: no connection was made, so the provider cannot have it. */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * A call that never got an HTTP answer (connection refused, DNS, reset, our timeout): transient. Unless
 * no connection was ever made, the provider may have accepted the request, so the outcome is unknown
 * (see {@link TransientDeliveryError}). The cause (a fetch `TypeError` or `TimeoutError`) names host and
 * errno only, no message content.
 *
 * @example
 * ```ts
 * try { await fetch(url, init); } catch (err) { throw networkDeliveryError('chat', err); }
 * ```
 */
export function networkDeliveryError(provider: string, err: unknown, timeoutMs = PROVIDER_TIMEOUT_MS): TransientDeliveryError {
  const name = (err as { name?: string } | undefined)?.name;
  const what = name === 'TimeoutError' || name === 'AbortError' ? `no answer within ${timeoutMs} ms` : 'network error';
  const code = (err as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  const notSent = typeof code === 'string' && NOT_SENT_CODES.has(code);
  return new TransientDeliveryError(`${provider}: ${what}`, { cause: err, outcomeUnknown: !notSent });
}
