import type { Client as TwilioBaseClient, RequestOpts } from 'twilio/lib/base/BaseTwilio.js';
import DomainModule from 'twilio/lib/base/Domain.js';
import RestExceptionModule from 'twilio/lib/base/RestException.js';
import TwilioServiceExceptionModule from 'twilio/lib/base/TwilioServiceException.js';
import VersionModule from 'twilio/lib/base/Version.js';
import { PermanentDeliveryError, ProviderConfigError, TransientDeliveryError } from '#shared/ports/channel-sender.ts';
import { cjsDefault } from './cjs-interop.ts';
import { deliveryErrorForStatus, networkDeliveryError, PROVIDER_TIMEOUT_MS } from './delivery-errors.ts';

const Domain = cjsDefault<typeof DomainModule.default>(DomainModule);
const Version = cjsDefault<typeof VersionModule.default>(VersionModule);
const RestException = cjsDefault<typeof RestExceptionModule.default>(RestExceptionModule);
const TwilioServiceException = cjsDefault<typeof TwilioServiceExceptionModule.default>(TwilioServiceExceptionModule);

export type TwilioVersion = InstanceType<typeof Version>;

/** Where the real Twilio REST API lives; `TWILIO_API_BASE_URL` (tests, local fakes only) replaces it. */
export const TWILIO_API_BASE_URL = 'https://api.twilio.com';

/** What the Twilio adapters need: API key auth (recommended by Twilio over the account auth token). */
export type TwilioSettings = {
  readonly accountSid: string;
  readonly apiKeySid: string;
  /** Read on first send, never during init (in the cloud it comes from Secrets Manager). */
  readonly apiKeySecret: () => Promise<string>;
  /** Our Twilio number, E.164. */
  readonly from: string;
  /** Test/local only: a local HTTP server speaking Twilio's API. */
  readonly baseUrl?: string;
  readonly timeoutMs?: number;
};

/**
 * The Twilio REST API `2010-04-01` version object of the official `twilio` package, for its generated
 * resources (`MessageListInstance`, …): they build the request, parse the answer and raise
 * `RestException`s exactly as `client.messages.create` does.
 *
 * Why not `twilio(…)`: the package's entry point pulls every Twilio product (3.7 MB minified), and even
 * its base client statically requires axios, mime-db, jsonwebtoken and https-proxy-agent (~390 KB),
 * for a 600 KB handler budget. So the `Domain` talks to a small fetch transport with the base client's
 * `request(opts)` contract (Basic auth with the API key, form encoding with repeated keys, 10 s timeout).
 *
 * @example
 * ```ts
 * const messages = MessageListInstance(twilioApiVersion(settings), settings.accountSid);
 * const { sid } = await messages.create({ to, from, body });
 * ```
 */
export function twilioApiVersion(settings: TwilioSettings): TwilioVersion {
  const transport = fetchTransport(settings) as unknown as TwilioBaseClient;
  return new Version(new Domain(transport, settings.baseUrl ?? TWILIO_API_BASE_URL), '2010-04-01');
}

/** Twilio error 21610: the recipient unsubscribed (texted STOP) from this sender. */
const TWILIO_UNSUBSCRIBED = 21610;
/** Twilio error 21611: the From number has too many messages queued. */
const TWILIO_QUEUE_FULL = 21611;

/**
 * Maps whatever a Twilio call threw onto the port's errors: `RestException` (legacy JSON
 * `{code, message, more_info, status}`) and `TwilioServiceException` (RFC 9457) by HTTP status, reason
 * `twilio:<Twilio error code>` (e.g. `twilio:21610`), except 21611 (queue full: transient) and a 5xx
 * (transient, outcome unknown: the message may have been created); an unreadable 2xx answer is
 * transient with the outcome unknown too. Anything else (a bug of ours) is passed on unchanged.
 *
 * @example
 * ```ts
 * try { … } catch (err) { throw twilioDeliveryError(err); }
 * ```
 */
export function twilioDeliveryError(err: unknown): unknown {
  if (err instanceof PermanentDeliveryError || err instanceof TransientDeliveryError || err instanceof ProviderConfigError) return err;
  if (err instanceof RestException || err instanceof TwilioServiceException) {
    const status = Number(err.status);
    const code = typeof err.code === 'number' && err.code > 0 ? err.code : status;
    // 21611: the sender number's queue is full (a 400, but "not now"): retried like a 429.
    if (code === TWILIO_QUEUE_FULL) return new TransientDeliveryError(`twilio:${code}: HTTP ${status}, the number's queue is full`);
    // A 5xx may come from in front of Twilio's API after the message was created: the outcome is
    // unknown, and the retry goes ahead only if no status callback has named the message by then.
    if (status >= 500) return new TransientDeliveryError(`twilio:${code}: HTTP ${status}, worth retrying`, { outcomeUnknown: true });
    // 21610: the recipient texted STOP to this sender; Twilio blocks every message until they text START.
    if (code === TWILIO_UNSUBSCRIBED) return new PermanentDeliveryError(`twilio:${code}`, { cause: new Error(`HTTP ${status}`), recipientOptedOut: true });
    return deliveryErrorForStatus({ status, reason: `twilio:${code}` });
  }
  // A 2xx whose body is not JSON: Twilio may have accepted the message.
  if (err instanceof SyntaxError) return new TransientDeliveryError('twilio: unreadable answer', { cause: err, outcomeUnknown: true });
  return err;
}

type TransportResponse = { statusCode: number; body: string; headers: Record<string, string> };

function fetchTransport(settings: TwilioSettings): { request(opts: RequestOpts): Promise<TransportResponse> } {
  const timeoutMs = settings.timeoutMs ?? PROVIDER_TIMEOUT_MS;
  return {
    async request(opts: RequestOpts): Promise<TransportResponse> {
      const secret = await settings.apiKeySecret();
      const headers: Record<string, string> = {
        ...opts.headers,
        Authorization: `Basic ${Buffer.from(`${settings.apiKeySid}:${secret}`).toString('base64')}`,
        'User-Agent': 'omnichannel-support twilio-node-resources',
        'Accept-Charset': 'utf-8',
      };
      const method = (opts.method ?? 'get').toUpperCase();
      const url = new URL(opts.uri!);
      if (opts.params) for (const [k, v] of formPairs(opts.params)) url.searchParams.append(k, v);
      let body: string | undefined;
      if (opts.data && (method === 'POST' || method === 'PUT')) {
        if (headers['Content-Type'] === 'application/json') body = JSON.stringify(opts.data);
        else {
          headers['Content-Type'] = 'application/x-www-form-urlencoded';
          body = new URLSearchParams(formPairs(opts.data)).toString();
        }
      }
      let res: Response;
      let text: string;
      try {
        res = await fetch(url, { method, headers, body, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
        text = await res.text();
      } catch (err) {
        throw networkDeliveryError('twilio', err, timeoutMs);
      }
      return { statusCode: res.status, body: text, headers: Object.fromEntries(res.headers) };
    },
  };
}

/** Twilio's form encoding: arrays become repeated keys (`StatusCallbackEvent=a&StatusCallbackEvent=b`). */
function formPairs(data: object): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (const [key, value] of Object.entries(data)) {
    if (value === undefined || value === null) continue;
    for (const item of Array.isArray(value) ? value : [value]) pairs.push([key, String(item)]);
  }
  return pairs;
}
