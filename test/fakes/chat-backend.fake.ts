import { timingSafeEqual } from 'node:crypto';
import { signChat } from '#test/helpers/chat.ts';
import { sleep, startFakeServer, type FakeAnswer, type FakeRequest } from './http-server.ts';

/** A delivery the backend accepted (signature valid), or refused on purpose. */
export type ChatRecordedDelivery = {
  readonly body: Record<string, unknown>;
  readonly rawBody: string;
  readonly timestamp: string;
  readonly contentType: string | undefined;
  readonly status: number;
};

export type ChatBackendFake = {
  /** The delivery endpoint: give it as `CHAT_DELIVERY_URL`. */
  readonly url: string;
  readonly secret: string;
  /** Signed deliveries, oldest first. */
  readonly deliveries: readonly ChatRecordedDelivery[];
  /** Deliveries refused for a missing, stale or wrong signature (401). */
  readonly rejected: number;
  failNext(failure: { status: number; times?: number }): void;
  delayNext(ms: number, times?: number): void;
  close(): Promise<void>;
};

/**
 * A customer app's backend receiving our chat deliveries at `POST /chat/deliveries`. It verifies the
 * signature the way such a backend would, computed independently of the product's code (`signChat` of
 * the test helpers): `X-Chat-Timestamp` within 300 s, `X-Chat-Signature: v1=<hex HMAC-SHA256(secret,
 * ts + "." + rawBody)>`, else 401. Accepted deliveries answer 200 `{"id": "chat_<n>"}` when `answerId`,
 * else 204. It can be told to fail or answer late.
 *
 * @example
 * ```ts
 * const chat = await startChatBackendFake({ secret: 's3cret' });
 * chat.failNext({ status: 503 });
 * ```
 */
export async function startChatBackendFake(options: { secret: string; answerId?: boolean }): Promise<ChatBackendFake> {
  const { secret } = options;
  const deliveries: ChatRecordedDelivery[] = [];
  const failures: Array<{ status: number; left: number }> = [];
  const delays: number[] = [];
  let rejected = 0;

  const handle = async (req: FakeRequest): Promise<FakeAnswer> => {
    const delay = delays.shift();
    if (delay) await sleep(delay);
    if (req.method !== 'POST' || req.path !== '/chat/deliveries') return { status: 404 };
    const timestamp = req.headers['x-chat-timestamp'];
    const signature = req.headers['x-chat-signature'];
    if (typeof timestamp !== 'string' || typeof signature !== 'string' || !/^\d+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > 300) {
      rejected++;
      return { status: 401, body: 'stale or missing timestamp' };
    }
    const expected = Buffer.from(signChat(secret, timestamp, req.rawBody));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      rejected++;
      return { status: 401, body: 'bad signature' };
    }
    const rawBody = req.rawBody.toString('utf8');
    const record = (status: number) =>
      deliveries.push({ body: JSON.parse(rawBody) as Record<string, unknown>, rawBody, timestamp, contentType: req.headers['content-type'], status });
    const failure = failures[0];
    if (failure) {
      if (--failure.left === 0) failures.shift();
      record(failure.status);
      return { status: failure.status, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ error: 'refused' }) };
    }
    record(options.answerId ? 200 : 204);
    if (!options.answerId) return { status: 204 };
    return { status: 200, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ id: `chat_${deliveries.length}` }) };
  };

  const server = await startFakeServer(handle);
  return {
    url: `${server.baseUrl}/chat/deliveries`,
    secret,
    deliveries,
    get rejected() {
      return rejected;
    },
    failNext: ({ status, times = 1 }) => void failures.push({ status, left: times }),
    delayNext: (ms, times = 1) => void delays.push(...Array.from({ length: times }, () => ms)),
    close: () => server.close(),
  };
}
