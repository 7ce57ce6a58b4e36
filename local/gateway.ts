import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { MAX_BODY_BYTES } from '#shared/config.ts';
import { routeTimeoutSeconds, type HttpRoute } from '#shared/routes.ts';
import { lazyHandler, type LambdaHandler } from './handler-loader.ts';
import { createLambdaContext } from './lambda-context.ts';
import { LOCAL_ACCOUNT_ID } from './local-aws.ts';

/** Where the gateway writes its one-line notes (access log, handler failures). */
export type GatewayLog = (level: 'info' | 'error', message: string) => void;

export type GatewayOptions = {
  readonly routes: readonly HttpRoute[];
  /** Project root; route entries are relative to it. */
  readonly rootDir: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly host?: string;
  readonly maxBodyBytes?: number;
  /**
   * Every handler's budget (the Lambda context's, and the 503 after it), in place of each route's own
   * (`routeTimeoutSeconds`, the deployed Lambda timeout). Tests of the gateway itself set it.
   */
  readonly timeoutMs?: number;
  readonly accessLog?: boolean;
  readonly log?: GatewayLog;
  /** Replaces module loading (tests of the gateway itself). */
  readonly loadHandler?: (route: HttpRoute) => Promise<LambdaHandler>;
};

/** The running gateway. Until {@link Gateway.setReady} it answers 503, so no handler runs before its settings are in place. */
export type Gateway = {
  readonly port: number;
  readonly baseUrl: string;
  readonly server: Server;
  setReady(): void;
  /** Stops accepting, lets in-flight requests finish (5 s at most), then closes every connection. */
  close(): Promise<void>;
};

type CompiledRoute = { readonly route: HttpRoute; readonly pattern: RegExp; readonly params: readonly string[]; readonly rank: number };

/**
 * An HTTP server that behaves like the deployed API Gateway HTTP API in front of the same handlers: it
 * matches `method + path` against the route table, turns the request into a payload v2 event, invokes
 * the route's handler (imported lazily, once) with a Lambda-like context, and writes the result back.
 *
 * Where API Gateway's own answers differ from the product's, the product's JSON error shape is used:
 * unknown path and known path with the wrong method are both `404 {"error":{"code":"not_found"}}`
 * (API Gateway answers 404 for both, never 405); a body over `MAX_BODY_BYTES` is `413`; a handler that
 * throws is `500`; a handler that cannot be loaded or returns a malformed result is `502`; one that
 * exceeds its route's timeout (the deployed Lambda timeout, `shared/routes.ts`) is `503`: a 5xx, as the
 * deployed API answers when the function times out, so a provider retries.
 *
 * @example
 * ```ts
 * const gateway = await startGateway({ routes: httpRoutes, rootDir: process.cwd(), port: 3000 });
 * gateway.setReady();
 * ```
 */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { rootDir, host = '127.0.0.1', maxBodyBytes = MAX_BODY_BYTES, accessLog = false } = options;
  const log: GatewayLog = options.log ?? ((level, message) => (level === 'error' ? console.error(message) : console.log(message)));
  const compiled = compileRoutes(options.routes);
  const loaders = new Map<HttpRoute, () => Promise<LambdaHandler>>();
  const loaderFor = (route: HttpRoute): (() => Promise<LambdaHandler>) => {
    let loader = loaders.get(route);
    if (!loader) {
      loader = options.loadHandler ? () => options.loadHandler!(route) : lazyHandler(rootDir, route.entry);
      loaders.set(route, loader);
    }
    return loader;
  };
  let ready = false;

  const server = createServer((req, res) => {
    const started = performance.now();
    res.once('finish', () => {
      if (accessLog) log('info', `${req.method ?? '?'} ${pathOf(req.url)} ${res.statusCode} ${Math.round(performance.now() - started)}ms`);
    });
    handleRequest(req, res).catch((err: unknown) => {
      log('error', `gateway: unexpected failure on ${req.method ?? '?'} ${pathOf(req.url)}: ${describe(err)}`);
      if (!res.headersSent) writeError(res, 500, 'internal_error', 'Internal error; please retry');
      else res.destroy();
    });
  });

  async function handleRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!ready) return writeError(res, 503, 'starting', 'The local stack is still starting; retry in a moment');
    const method = (req.method ?? 'GET').toUpperCase();
    const { rawPath, rawQueryString } = splitUrl(req.url ?? '/');
    const matched = matchRoute(compiled, method, rawPath);
    if (!matched) {
      drain(req);
      return writeError(res, 404, 'not_found', `No route for ${method} ${rawPath}`);
    }
    let body: Buffer | 'too_large';
    try {
      body = await readBody(req, maxBodyBytes);
    } catch {
      res.destroy(); // the client went away mid-body: nobody to answer
      return;
    }
    if (body === 'too_large') return refuseTooLarge(req, res, maxBodyBytes);

    let handler: LambdaHandler;
    try {
      handler = await loaderFor(matched.route)();
    } catch (err) {
      log('error', `gateway: handler ${matched.route.entry} for ${matched.route.method} ${matched.route.path} could not be loaded: ${describe(err)}`);
      return writeError(res, 502, 'handler_unavailable', `The handler for ${matched.route.method} ${matched.route.path} could not be loaded`);
    }

    const event = toHttpApiEvent(req, { route: matched.route, rawPath, rawQueryString, pathParameters: matched.pathParameters, body });
    // The deployed function's timeout: a handler slower than the cloud would let it be fails here too.
    const timeoutMs = options.timeoutMs ?? routeTimeoutSeconds(matched.route) * 1000;
    const context = createLambdaContext(matched.route.name, timeoutMs);
    let result: unknown;
    try {
      result = await withTimeout(handler(event, context), timeoutMs);
    } catch (err) {
      if (err === TIMED_OUT) {
        log('error', `gateway: ${matched.route.name} did not answer within ${timeoutMs} ms`);
        return writeError(res, 503, 'timeout', 'The handler did not answer in time');
      }
      log('error', `gateway: ${matched.route.name} threw: ${describe(err)}`);
      return writeError(res, 500, 'internal_error', 'Internal error; please retry');
    }
    const response = toHttpResponse(result);
    if (!response) {
      log('error', `gateway: ${matched.route.name} returned a result API Gateway could not map`);
      return writeError(res, 502, 'bad_handler_response', 'The handler returned a malformed response');
    }
    writeResult(res, response);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;

  return {
    port,
    baseUrl: `http://${host}:${port}`,
    server,
    setReady: () => {
      ready = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), 5000);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}

/** Static segments outrank `{param}`, which outranks `{proxy+}`, as in API Gateway's route selection. */
function compileRoutes(routes: readonly HttpRoute[]): CompiledRoute[] {
  return routes
    .map((route) => {
      const params: string[] = [];
      let rank = 0;
      const source = route.path
        .split('/')
        .map((segment) => {
          const greedy = /^\{([A-Za-z0-9_]+)\+\}$/.exec(segment);
          if (greedy?.[1]) {
            params.push(greedy[1]);
            rank += 2;
            return '(.+)';
          }
          const param = /^\{([A-Za-z0-9_]+)\}$/.exec(segment);
          if (param?.[1]) {
            params.push(param[1]);
            rank += 1;
            return '([^/]+)';
          }
          return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        })
        .join('/');
      return { route, pattern: new RegExp(`^${source}$`), params, rank };
    })
    .sort((a, b) => a.rank - b.rank);
}

/**
 * The route for `method rawPath`, with decoded path parameters, or `undefined` (API Gateway answers 404
 * both for an unknown path and for a known path with another method).
 */
function matchRoute(
  compiled: readonly CompiledRoute[],
  method: string,
  rawPath: string,
): { route: HttpRoute; pathParameters: Record<string, string> | undefined } | undefined {
  for (const { route, pattern, params } of compiled) {
    if (route.method !== method) continue;
    const m = pattern.exec(rawPath);
    if (!m) continue;
    if (params.length === 0) return { route, pathParameters: undefined };
    const pathParameters: Record<string, string> = {};
    try {
      params.forEach((name, i) => {
        pathParameters[name] = decodeURIComponent(m[i + 1] ?? '');
      });
    } catch {
      continue; // a malformed percent-escape cannot name anything
    }
    return { route, pathParameters };
  }
  return undefined;
}

function splitUrl(url: string): { rawPath: string; rawQueryString: string } {
  // Absolute-form request targets (proxies) carry scheme and host; API Gateway's rawPath never does.
  const target = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?]*/i, '') || '/' : url;
  const q = target.indexOf('?');
  return q === -1 ? { rawPath: target, rawQueryString: '' } : { rawPath: target.slice(0, q), rawQueryString: target.slice(q + 1) };
}

function pathOf(url: string | undefined): string {
  return splitUrl(url ?? '/').rawPath;
}

/**
 * Reads the body up to `limit` bytes. A declared `content-length` over the limit is refused before any
 * byte is read; an undeclared (chunked) one as soon as it crosses the limit, keeping nothing past it.
 */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | 'too_large'> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  if (Number.isFinite(declared) && declared > limit) return 'too_large';
  // Events rather than `for await`: leaving an async iterator early destroys the socket, and the 413
  // still has to be written on it.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    req.on('data', (chunk: Buffer) => {
      if (settled) return; // past the limit: read and dropped
      size += chunk.length;
      if (size > limit) {
        settled = true;
        chunks.length = 0;
        resolve('too_large');
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => {
      if (settled) return;
      settled = true;
      resolve(Buffer.concat(chunks, size));
    });
    req.once('error', (err) => {
      if (settled) return;
      settled = true;
      reject(err);
    });
    req.once('close', () => {
      if (settled) return;
      settled = true;
      reject(new Error('client closed the connection before the body ended'));
    });
  });
}

/**
 * Answers 413 at once. The rest of the upload is read and thrown away (never kept) rather than the
 * connection being closed under the client, which would see a reset (EPIPE) instead of the answer; a
 * client still sending after 10 s is cut off.
 */
function refuseTooLarge(req: IncomingMessage, res: ServerResponse, limit: number): void {
  writeError(res, 413, 'payload_too_large', `Body larger than ${limit} bytes`);
  if (req.readableEnded) return;
  drain(req);
  const cutOff = setTimeout(() => req.socket.destroy(), 10_000);
  cutOff.unref();
  req.once('end', () => clearTimeout(cutOff));
  req.once('close', () => clearTimeout(cutOff));
}

function drain(req: IncomingMessage): void {
  req.on('data', () => {});
  req.resume();
}

/** Media types API Gateway hands to the function as text; every other body arrives base64-encoded. */
function isTextBody(contentType: string | undefined): boolean {
  const mediaType = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  return mediaType === 'application/json' || mediaType.startsWith('text/');
}

/**
 * The API Gateway HTTP API payload format 2.0 event for a request, field for field as API Gateway builds
 * it: lower-cased headers with repeats comma-joined, cookies moved out of the headers, query parameters
 * decoded with repeats comma-joined, `body` absent when there is none, base64 for non-text media types
 * (handlers must accept both, as `rawBody` from `#shared/http/request.ts` does).
 *
 * @example
 * ```ts
 * const event = toHttpApiEvent(req, { route, rawPath: '/webhooks/chat', rawQueryString: '', pathParameters: undefined, body });
 * ```
 */
export function toHttpApiEvent(
  req: IncomingMessage,
  input: {
    route: HttpRoute;
    rawPath: string;
    rawQueryString: string;
    pathParameters: Record<string, string> | undefined;
    body: Buffer;
    now?: Date;
  },
): APIGatewayProxyEventV2 {
  const now = input.now ?? new Date();
  const headers: Record<string, string> = {};
  const cookies: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] ?? '').toLowerCase();
    const value = raw[i + 1] ?? '';
    if (name === 'cookie') {
      cookies.push(...value.split(';').map((c) => c.trim()).filter((c) => c !== ''));
      continue;
    }
    headers[name] = headers[name] === undefined ? value : `${headers[name]},${value}`;
  }
  const sourceIp = (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, '');
  headers['x-forwarded-for'] = headers['x-forwarded-for'] ? `${headers['x-forwarded-for']}, ${sourceIp}` : sourceIp;
  headers['x-forwarded-port'] = String(req.socket.localPort ?? '');
  headers['x-forwarded-proto'] = 'http';
  headers['x-amzn-trace-id'] ??= `Root=1-${Math.floor(now.getTime() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`;

  let queryStringParameters: Record<string, string> | undefined;
  if (input.rawQueryString !== '') {
    queryStringParameters = {};
    for (const [key, value] of new URLSearchParams(input.rawQueryString)) {
      queryStringParameters[key] = queryStringParameters[key] === undefined ? value : `${queryStringParameters[key]},${value}`;
    }
  }

  const domainName = (headers.host ?? 'localhost').replace(/:\d+$/, '');
  const routeKey = `${input.route.method} ${input.route.path}`;
  const text = isTextBody(headers['content-type']);
  const event: APIGatewayProxyEventV2 = {
    version: '2.0',
    routeKey,
    rawPath: input.rawPath,
    rawQueryString: input.rawQueryString,
    headers,
    requestContext: {
      accountId: LOCAL_ACCOUNT_ID,
      apiId: 'local',
      domainName,
      domainPrefix: domainName.split('.')[0] ?? domainName,
      http: {
        method: input.route.method,
        path: input.rawPath,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomBytes(10).toString('base64url'),
      routeKey,
      stage: '$default',
      time: formatRequestTime(now),
      timeEpoch: now.getTime(),
    },
    isBase64Encoded: input.body.length > 0 && !text,
  };
  if (cookies.length > 0) event.cookies = cookies;
  if (queryStringParameters) event.queryStringParameters = queryStringParameters;
  if (input.pathParameters) event.pathParameters = input.pathParameters;
  if (input.body.length > 0) event.body = text ? input.body.toString('utf8') : input.body.toString('base64');
  return event;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** API Gateway's `requestContext.time`: `12/Mar/2020:19:03:58 +0000`. */
function formatRequestTime(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/**
 * API Gateway's reading of a payload v2 result: a structured result is taken as is; any other JSON value
 * without `statusCode` becomes a 200 `application/json` answer of that value. `undefined` (nothing
 * returned) and a bad `statusCode` are `undefined` here, answered 502.
 */
function toHttpResponse(result: unknown): APIGatewayProxyStructuredResultV2 | undefined {
  if (result === undefined) return undefined;
  if (typeof result === 'string') return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: result };
  if (typeof result !== 'object' || result === null || !('statusCode' in result)) {
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(result) };
  }
  const structured = result as APIGatewayProxyStructuredResultV2;
  if (!Number.isInteger(structured.statusCode) || structured.statusCode! < 100 || structured.statusCode! > 599) return undefined;
  return structured;
}

function writeResult(res: ServerResponse, result: APIGatewayProxyStructuredResultV2): void {
  for (const [name, value] of Object.entries(result.headers ?? {})) res.setHeader(name, String(value));
  if (result.cookies && result.cookies.length > 0) res.setHeader('set-cookie', result.cookies);
  const body = result.body === undefined ? Buffer.alloc(0) : Buffer.from(result.body, result.isBase64Encoded ? 'base64' : 'utf8');
  res.setHeader('content-length', body.length);
  res.statusCode = result.statusCode ?? 200;
  res.end(body);
}

function writeError(res: ServerResponse, statusCode: number, code: string, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  res.statusCode = statusCode;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

const TIMED_OUT = Symbol('timed out');

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(TIMED_OUT), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err);
}
