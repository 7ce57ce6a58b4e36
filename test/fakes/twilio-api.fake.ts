import { randomBytes, timingSafeEqual } from 'node:crypto';
import { sleep, startFakeServer, type FakeAnswer, type FakeRequest } from './http-server.ts';

/** What the fake received on `POST /2010-04-01/Accounts/{AccountSid}/{Messages|Calls}.json`, after auth. */
export type TwilioRecordedRequest = {
  readonly resource: 'Messages' | 'Calls';
  readonly accountSid: string;
  /** The form fields; a repeated field (`StatusCallbackEvent`) is an array. */
  readonly params: Readonly<Record<string, string | readonly string[]>>;
  readonly contentType: string | undefined;
  readonly userAgent: string | undefined;
  /** The HTTP status the fake answered, and the SID it created (2xx only). */
  readonly status: number;
  readonly sid?: string;
};

/** An error answer to give instead of success: `{code, message, more_info, status}` like Twilio's. */
export type TwilioFailure = {
  readonly status: number;
  /** Twilio error code; defaults to 20429 for 429 and 20500 for 5xx. */
  readonly code?: number;
  /** Only calls to this number (the `To` field) fail; default any. */
  readonly to?: string;
  readonly resource?: 'Messages' | 'Calls';
  /** How many matching calls answer this before it is used up (default 1). */
  readonly times?: number;
};

export type TwilioApiFake = {
  /** Give it to the adapter as `baseUrl` / `TWILIO_API_BASE_URL`. */
  readonly baseUrl: string;
  readonly accountSid: string;
  readonly apiKeySid: string;
  readonly apiKeySecret: string;
  /** Authenticated create requests, oldest first (refused ones included, with their status). */
  readonly requests: readonly TwilioRecordedRequest[];
  /** Requests refused for bad credentials (401): counted, not recorded. */
  readonly unauthenticated: number;
  /** Queue an error answer, e.g. `failNext({ to, status: 400, code: 21610 })`, `failNext({ status: 500, times: 2 })`. */
  failNext(failure: TwilioFailure): void;
  /** Like Twilio after the recipient texted STOP: every message to `phone` answers 21610. */
  optOut(phone: string): void;
  /** The next `times` requests are answered only after `ms` (timeout tests). */
  delayNext(ms: number, times?: number): void;
  close(): Promise<void>;
};

const E164 = /^\+[1-9]\d{6,14}$/;
const TWILIO_ERROR_TEXT: Record<number, string> = {
  20003: 'Authenticate',
  20404: 'The requested resource was not found',
  20429: 'Too Many Requests',
  20500: 'Internal Server Error',
  21200: 'Url, Twiml or ApplicationSid is required to create a call',
  21201: "No 'To' number is specified",
  21211: "Invalid 'To' Phone Number",
  21213: "No 'From' number is specified",
  21602: 'Message body is required.',
  21603: "A 'From' phone number is required.",
  21604: "A 'To' phone number is required.",
  21610: 'Attempt to send to unsubscribed recipient',
  21614: "'To' number is not a valid mobile number",
  21617: 'The concatenated message body exceeds the 1600 character limit.',
};

/**
 * A local HTTP server speaking the two Twilio REST endpoints we use, the way api.twilio.com does:
 * `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` and `…/Calls.json`, form-encoded, HTTP Basic
 * auth with an API key (`SK…` sid and secret), JSON answers (`201` with `sid`, `status: "queued"`…;
 * errors as `{code, message, more_info, status}`). It validates like Twilio (missing To/From/Body,
 * non-E.164 To → 21211, body over 1600 chars → 21617, account SID in the path must be the key's) and
 * can be told to fail.
 *
 * @example
 * ```ts
 * const twilio = await startTwilioApiFake();
 * twilio.failNext({ to: '+15005550009', status: 400, code: 21610 });
 * // …drive the adapter with { accountSid: twilio.accountSid, apiKeySid: twilio.apiKeySid, … baseUrl: twilio.baseUrl }
 * await twilio.close();
 * ```
 */
export async function startTwilioApiFake(): Promise<TwilioApiFake> {
  const accountSid = `AC${randomBytes(16).toString('hex')}`;
  const apiKeySid = `SK${randomBytes(16).toString('hex')}`;
  const apiKeySecret = randomBytes(16).toString('hex');
  const requests: TwilioRecordedRequest[] = [];
  const failures: Array<{ failure: TwilioFailure; left: number }> = [];
  const optedOut = new Set<string>();
  const delays: number[] = [];
  let unauthenticated = 0;

  const handle = async (req: FakeRequest): Promise<FakeAnswer> => {
    const delay = delays.shift();
    if (delay) await sleep(delay);
    if (!authorized(req.headers.authorization, apiKeySid, apiKeySecret)) {
      unauthenticated++;
      return twilioError(401, 20003, { 'WWW-Authenticate': 'Basic realm="Twilio API"' });
    }
    const match = /^\/2010-04-01\/Accounts\/([^/]+)\/(Messages|Calls)\.json$/.exec(req.path);
    if (req.method !== 'POST' || !match || match[1] !== accountSid) return twilioError(404, 20404);
    const resource = match[2] as 'Messages' | 'Calls';
    const params = parseForm(req.rawBody.toString('utf8'));
    const record = (status: number, sid?: string) =>
      requests.push({ resource, accountSid, params, contentType: req.headers['content-type'], userAgent: req.headers['user-agent'], status, ...(sid ? { sid } : {}) });

    const one = (name: string) => (typeof params[name] === 'string' ? (params[name] as string) : undefined);
    const to = one('To');
    const validation = resource === 'Messages' ? validateMessage(params, one) : validateCall(one);
    if (validation) {
      record(400);
      return twilioError(400, validation);
    }
    const failureAt = failures.findIndex(({ failure }) => (!failure.to || failure.to === to) && (!failure.resource || failure.resource === resource));
    if (failureAt >= 0) {
      const entry = failures[failureAt]!;
      if (--entry.left === 0) failures.splice(failureAt, 1);
      const { status } = entry.failure;
      const code = entry.failure.code ?? (status === 429 ? 20429 : 20500);
      record(status);
      return twilioError(status, code, status === 429 ? { 'Retry-After': '1' } : {});
    }
    if (resource === 'Messages' && to && optedOut.has(to)) {
      record(400);
      return twilioError(400, 21610);
    }
    const sid = `${resource === 'Messages' ? 'SM' : 'CA'}${randomBytes(16).toString('hex')}`;
    record(201, sid);
    const now = new Date().toUTCString().replace('GMT', '+0000');
    const common = { sid, account_sid: accountSid, api_version: '2010-04-01', date_created: now, date_updated: now, to, from: one('From'), status: 'queued' };
    const body =
      resource === 'Messages'
        ? { ...common, body: one('Body'), num_segments: '1', num_media: '0', direction: 'outbound-api', price: null, error_code: null, error_message: null, messaging_service_sid: null, uri: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json` }
        : { ...common, direction: 'outbound-api', parent_call_sid: null, uri: `/2010-04-01/Accounts/${accountSid}/Calls/${sid}.json` };
    return { status: 201, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
  };

  const server = await startFakeServer(handle);
  return {
    baseUrl: server.baseUrl,
    accountSid,
    apiKeySid,
    apiKeySecret,
    requests,
    get unauthenticated() {
      return unauthenticated;
    },
    failNext: (failure) => void failures.push({ failure, left: failure.times ?? 1 }),
    optOut: (phone) => void optedOut.add(phone),
    delayNext: (ms, times = 1) => void delays.push(...Array.from({ length: times }, () => ms)),
    close: () => server.close(),
  };
}

function validateMessage(params: Record<string, string | string[]>, one: (name: string) => string | undefined): number | undefined {
  const to = one('To');
  if (!to) return 21604;
  if (!one('From') && !one('MessagingServiceSid')) return 21603;
  if (!one('Body') && params.MediaUrl === undefined && !one('ContentSid')) return 21602;
  if (!E164.test(to)) return 21211;
  if ((one('Body') ?? '').length > 1600) return 21617;
  return undefined;
}

function validateCall(one: (name: string) => string | undefined): number | undefined {
  const to = one('To');
  if (!to) return 21201;
  if (!one('From')) return 21213;
  if (!one('Url') && !one('Twiml') && !one('ApplicationSid')) return 21200;
  if (!E164.test(to)) return 21211;
  return undefined;
}

function twilioError(status: number, code: number, headers: Record<string, string> = {}): FakeAnswer {
  const body = { code, message: TWILIO_ERROR_TEXT[code] ?? 'Error', more_info: `https://www.twilio.com/docs/errors/${code}`, status };
  return { status, headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) };
}

function authorized(header: string | undefined, user: string, password: string): boolean {
  if (!header?.startsWith('Basic ')) return false;
  const expected = Buffer.from(`${user}:${password}`);
  const given = Buffer.from(header.slice(6), 'base64');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Form fields as Twilio reads them: a field given more than once becomes a list. */
function parseForm(body: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const prev = out[key];
    out[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}
