import { randomBytes, timingSafeEqual } from 'node:crypto';
import { sleep, startFakeServer, type FakeAnswer, type FakeRequest } from './http-server.ts';

/** The v3 mail/send body, as far as the fake reads it. */
export type SendgridMailBody = {
  personalizations?: Array<{ to?: Array<{ email?: string; name?: string }>; subject?: string; custom_args?: Record<string, unknown>; headers?: Record<string, unknown> }>;
  from?: { email?: string; name?: string };
  subject?: string;
  content?: Array<{ type?: string; value?: string }>;
  custom_args?: Record<string, unknown>;
  headers?: Record<string, unknown>;
  [key: string]: unknown;
};

/** What the fake received on `POST /v3/mail/send` after auth. */
export type SendgridRecordedRequest = {
  readonly body: SendgridMailBody;
  readonly contentType: string | undefined;
  readonly status: number;
  /** The `X-Message-Id` answered (2xx only). */
  readonly messageId?: string;
};

export type SendgridFailure = {
  readonly status: number;
  /** Only mail to this address fails; default any. */
  readonly to?: string;
  readonly times?: number;
};

export type SendgridApiFake = {
  /** Give it to the adapter as `baseUrl` / `SENDGRID_API_BASE_URL`. */
  readonly baseUrl: string;
  readonly apiKey: string;
  /** Authenticated mail/send requests, oldest first. */
  readonly requests: readonly SendgridRecordedRequest[];
  readonly unauthenticated: number;
  /** Queue an error answer: `failNext({ status: 429 })`, `failNext({ status: 500, times: 2 })`. */
  failNext(failure: SendgridFailure): void;
  delayNext(ms: number, times?: number): void;
  close(): Promise<void>;
};

/** Headers SendGrid refuses in `headers` (it sets them itself). */
const RESERVED_HEADERS = ['x-sg-id', 'x-sg-eid', 'received', 'dkim-signature', 'content-type', 'content-transfer-encoding', 'to', 'from', 'subject', 'reply-to', 'cc', 'bcc'];
const EMAIL = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/;

/**
 * A local HTTP server speaking SendGrid's v3 `POST /v3/mail/send`: `Authorization: Bearer <API key>`
 * (401 otherwise), JSON body validated like SendGrid (personalizations with `to`, `from.email`, a
 * subject, non-empty content, string `custom_args` and `headers`, no reserved headers) with 400
 * `{"errors":[{"message","field","help"}]}`; success is `202` with an empty body and `X-Message-Id`.
 * A body over 30 MB is 413. It can be told to fail (`failNext`) or answer late (`delayNext`).
 *
 * @example
 * ```ts
 * const sendgrid = await startSendgridApiFake();
 * sendgrid.failNext({ status: 500, times: 2 });
 * // …drive the adapter with { apiKey: () => Promise.resolve(sendgrid.apiKey), baseUrl: sendgrid.baseUrl, … }
 * ```
 */
export async function startSendgridApiFake(): Promise<SendgridApiFake> {
  const apiKey = `SG.${randomBytes(11).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
  const requests: SendgridRecordedRequest[] = [];
  const failures: Array<{ failure: SendgridFailure; left: number }> = [];
  const delays: number[] = [];
  let unauthenticated = 0;

  const handle = async (req: FakeRequest): Promise<FakeAnswer> => {
    const delay = delays.shift();
    if (delay) await sleep(delay);
    if (!bearer(req.headers.authorization, apiKey)) {
      unauthenticated++;
      return errors(401, [{ message: 'The provided authorization grant is invalid, expired, or revoked', field: null }]);
    }
    if (req.method !== 'POST' || req.path !== '/v3/mail/send') return errors(404, [{ message: 'resource not found', field: null }]);
    if (req.rawBody.length > 30 * 1024 * 1024) return errors(413, [{ message: 'Payload Too Large', field: null }]);
    let body: SendgridMailBody;
    try {
      body = JSON.parse(req.rawBody.toString('utf8')) as SendgridMailBody;
    } catch {
      return errors(400, [{ message: 'Bad Request', field: null }]);
    }
    const record = (status: number, messageId?: string) =>
      requests.push({ body, contentType: req.headers['content-type'], status, ...(messageId ? { messageId } : {}) });
    const problems = validate(body);
    if (problems.length) {
      record(400);
      return errors(400, problems);
    }
    const recipients = (body.personalizations ?? []).flatMap((p) => p.to ?? []).map((t) => t.email);
    const failureAt = failures.findIndex(({ failure }) => !failure.to || recipients.includes(failure.to));
    if (failureAt >= 0) {
      const entry = failures[failureAt]!;
      if (--entry.left === 0) failures.splice(failureAt, 1);
      const { status } = entry.failure;
      record(status);
      const message = status === 429 ? 'too many requests' : status >= 500 ? 'internal server error' : 'refused';
      return errors(status, [{ message, field: null }], status === 429 ? { 'X-RateLimit-Remaining': '0' } : {});
    }
    const messageId = randomBytes(16).toString('base64url').slice(0, 22);
    record(202, messageId);
    return { status: 202, headers: { 'X-Message-Id': messageId } };
  };

  const server = await startFakeServer(handle);
  return {
    baseUrl: server.baseUrl,
    apiKey,
    requests,
    get unauthenticated() {
      return unauthenticated;
    },
    failNext: (failure) => void failures.push({ failure, left: failure.times ?? 1 }),
    delayNext: (ms, times = 1) => void delays.push(...Array.from({ length: times }, () => ms)),
    close: () => server.close(),
  };
}

type Problem = { message: string; field: string | null; help?: string };

function validate(body: SendgridMailBody): Problem[] {
  const problems: Problem[] = [];
  const personalizations = body.personalizations;
  if (!Array.isArray(personalizations) || personalizations.length === 0) {
    problems.push({ message: 'The personalizations field is required and must have at least one personalization.', field: 'personalizations' });
  } else {
    personalizations.forEach((p, i) => {
      if (!Array.isArray(p.to) || p.to.length === 0) problems.push({ message: 'The to array is required for all personalization objects.', field: `personalizations.${i}.to` });
      (p.to ?? []).forEach((t, j) => {
        if (typeof t.email !== 'string' || !EMAIL.test(t.email)) problems.push({ message: 'Does not contain a valid address.', field: `personalizations.${i}.to.${j}.email` });
      });
      if (!body.subject && !p.subject) problems.push({ message: 'The subject is required.', field: 'subject' });
    });
  }
  if (typeof body.from?.email !== 'string' || !EMAIL.test(body.from.email)) problems.push({ message: 'The from email does not contain a valid address.', field: 'from.email' });
  if (!Array.isArray(body.content) || body.content.length === 0 || body.content.some((c) => typeof c.value !== 'string' || c.value === '')) {
    problems.push({ message: 'Unless a valid template_id is provided, the content parameter is required.', field: 'content' });
  }
  for (const [key, value] of Object.entries(body.custom_args ?? {})) {
    if (typeof value !== 'string') problems.push({ message: 'Custom args must be strings.', field: `custom_args.${key}` });
  }
  for (const [key, value] of Object.entries(body.headers ?? {})) {
    if (typeof value !== 'string') problems.push({ message: 'Invalid type. Expected: string.', field: `headers.${key}` });
    if (RESERVED_HEADERS.includes(key.toLowerCase())) problems.push({ message: `The header ${key} is reserved.`, field: 'headers' });
  }
  return problems;
}

function errors(status: number, list: Problem[], headers: Record<string, string> = {}): FakeAnswer {
  return { status, headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify({ errors: list }) };
}

function bearer(header: string | undefined, key: string): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice(7));
  const expected = Buffer.from(key);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
