import { request } from 'node:http';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type Gateway } from '#local/gateway.ts';
import type { HttpRoute } from '#shared/routes.ts';

// The gateway stands in for API Gateway (HTTP API, payload v2). These tests run it on its own with a
// route table of test routes whose handlers echo what they were given.
const routes: HttpRoute[] = [
  { name: 'Echo', method: 'POST', path: '/echo/{id}', entry: 'unused', auth: 'dev' },
  { name: 'EchoGet', method: 'GET', path: '/echo/{id}', entry: 'unused', auth: 'dev' },
  { name: 'Static', method: 'GET', path: '/echo/static', entry: 'unused', auth: 'dev' },
  { name: 'Throws', method: 'GET', path: '/throws', entry: 'unused', auth: 'dev' },
  { name: 'Missing', method: 'GET', path: '/missing', entry: 'unused', auth: 'dev' },
  { name: 'Binary', method: 'GET', path: '/binary', entry: 'unused', auth: 'dev' },
  { name: 'Plain', method: 'GET', path: '/plain', entry: 'unused', auth: 'dev' },
];

/** A request whose headers go on the wire exactly as listed, repeats included. */
function rawRequest(url: string, method: string, headers: Array<[string, string]>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const host = new URL(url).host;
    const req = request(url, { method, headers: [['host', host], ...headers].flat() }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}

let seen: { event: APIGatewayProxyEventV2; context: Context } | undefined;
let gateway: Gateway;
let base: string;

beforeAll(async () => {
  gateway = await startGateway({
    routes,
    rootDir: process.cwd(),
    port: 0,
    maxBodyBytes: 1024,
    log: () => {},
    loadHandler: async (route) => {
      if (route.name === 'Missing') throw new Error('Cannot find module functions/http/missing.ts');
      return async (event: unknown, context: Context) => {
        seen = { event: event as APIGatewayProxyEventV2, context };
        if (route.name === 'Throws') throw new Error('boom');
        if (route.name === 'Binary') return { statusCode: 200, headers: { 'content-type': 'image/png' }, body: Buffer.from([0, 1, 2, 255]).toString('base64'), isBase64Encoded: true };
        if (route.name === 'Plain') return { answer: 42 };
        return { statusCode: 201, headers: { 'x-route': route.name }, cookies: ['a=1; Path=/', 'b=2'], body: 'echoed' };
      };
    },
  });
  gateway.setReady();
  base = gateway.baseUrl;
});
afterAll(() => gateway.close());

describe('the local API Gateway', () => {
  it('builds a payload v2 event the way API Gateway does', async () => {
    // Act: node:http, since fetch itself merges repeated headers before sending
    const status = await rawRequest(`${base}/echo/a%20b?x=1&x=2&y=%C3%A9`, 'POST', [
      ['content-type', 'application/json'],
      ['X-Custom', 'one'],
      ['x-custom', 'two'],
      ['cookie', 'c1=v1; c2=v2'],
      ['user-agent', 'gateway-test'],
    ], '{"k":"v"}');

    // Assess
    expect(status).toBe(201);
    const { event, context } = seen!;
    expect(event).toMatchObject({
      version: '2.0',
      routeKey: 'POST /echo/{id}',
      rawPath: '/echo/a%20b',
      rawQueryString: 'x=1&x=2&y=%C3%A9',
      cookies: ['c1=v1', 'c2=v2'],
      queryStringParameters: { x: '1,2', y: 'é' },
      pathParameters: { id: 'a b' },
      body: '{"k":"v"}',
      isBase64Encoded: false,
      requestContext: {
        accountId: expect.any(String),
        apiId: expect.any(String),
        domainName: '127.0.0.1',
        domainPrefix: '127',
        http: { method: 'POST', path: '/echo/a%20b', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'gateway-test' },
        routeKey: 'POST /echo/{id}',
        stage: '$default',
      },
    });
    expect(event.headers['x-custom']).toBe('one,two');
    expect(event.headers.cookie).toBeUndefined();
    expect(event.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(event.requestContext.time).toMatch(/^\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/);
    expect(Math.abs(event.requestContext.timeEpoch - Date.now())).toBeLessThan(5000);
    expect(context.functionName).toBe('Echo');
    // The route sets no timeout: the deployed default, 10 s.
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(9_000);
    expect(context.getRemainingTimeInMillis()).toBeLessThanOrEqual(10_000);
  });

  it('base64-encodes bodies that are not JSON or text, as API Gateway does', async () => {
    // Act
    await fetch(`${base}/echo/form`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1&b=%C3%A9' });

    // Assess
    expect(seen!.event.isBase64Encoded).toBe(true);
    expect(Buffer.from(seen!.event.body!, 'base64').toString('utf8')).toBe('a=1&b=%C3%A9');
  });

  it('leaves body, query and path parameters out when there are none', async () => {
    // Act
    await fetch(`${base}/echo/static`);

    // Assess: the static route outranks /echo/{id}
    expect(seen!.event.routeKey).toBe('GET /echo/static');
    expect(seen!.event).not.toHaveProperty('body');
    expect(seen!.event).not.toHaveProperty('queryStringParameters');
    expect(seen!.event).not.toHaveProperty('pathParameters');
    expect(seen!.event.isBase64Encoded).toBe(false);
  });

  it('writes status, headers, cookies and a base64 body back', async () => {
    // Act
    const echoed = await fetch(`${base}/echo/x`, { method: 'POST' });
    const binary = await fetch(`${base}/binary`);
    const plain = await fetch(`${base}/plain`);

    // Assess
    expect(echoed.status).toBe(201);
    expect(echoed.headers.get('x-route')).toBe('Echo');
    expect(echoed.headers.getSetCookie()).toEqual(['a=1; Path=/', 'b=2']);
    expect(await echoed.text()).toBe('echoed');
    expect(Buffer.from(await binary.arrayBuffer())).toEqual(Buffer.from([0, 1, 2, 255]));
    expect(plain.status).toBe(200);
    expect(await plain.json()).toEqual({ answer: 42 });
  });

  it('answers 500 JSON when the handler throws, 502 when it cannot be loaded', async () => {
    // Act
    const thrown = await fetch(`${base}/throws`);
    const missing = await fetch(`${base}/missing`);

    // Assess
    expect(thrown.status).toBe(500);
    expect(((await thrown.json()) as { error: { code: string } }).error.code).toBe('internal_error');
    expect(missing.status).toBe(502);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('handler_unavailable');
  });

  it('answers 404 for an unknown path and for a known path with another method', async () => {
    // Act
    const unknown = await fetch(`${base}/echo/a/b`);
    const wrongMethod = await fetch(`${base}/throws`, { method: 'POST' });

    // Assess
    expect(unknown.status).toBe(404);
    expect(wrongMethod.status).toBe(404);
  });

  it('answers 413 over the body limit without calling the handler', async () => {
    // Prepare
    seen = undefined;

    // Act
    const res = await fetch(`${base}/echo/big`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(1025) });
    const atLimit = await fetch(`${base}/echo/ok`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x'.repeat(1024) });

    // Assess
    expect(res.status).toBe(413);
    expect(atLimit.status).toBe(201);
    expect(seen!.event.body).toHaveLength(1024);
  });
});

describe('each route’s timeout, as deployed', () => {
  it('answers 503 when a handler outlasts its route’s timeout, and lets a slower route’s handler finish', async () => {
    // Prepare: two handlers that take 1.5 s, on routes of 1 s and 3 s
    const timed: HttpRoute[] = [
      { name: 'Short', method: 'GET', path: '/short', entry: 'unused', auth: 'dev', timeoutSeconds: 1 },
      { name: 'Long', method: 'GET', path: '/long', entry: 'unused', auth: 'dev', timeoutSeconds: 3 },
    ];
    const budgets: Record<string, number> = {};
    const slow = await startGateway({
      routes: timed,
      rootDir: process.cwd(),
      port: 0,
      log: () => {},
      loadHandler: async (route) => async (_event: unknown, context: Context) => {
        budgets[route.name] = context.getRemainingTimeInMillis();
        await new Promise((r) => setTimeout(r, 1500));
        return { statusCode: 204 };
      },
    });
    slow.setReady();

    // Act
    const [short, long] = await Promise.all([fetch(`${slow.baseUrl}/short`), fetch(`${slow.baseUrl}/long`)]);
    await slow.close();

    // Assess
    expect(short.status).toBe(503);
    expect(await short.json()).toEqual({ error: { code: 'timeout', message: expect.any(String) } });
    expect(long.status).toBe(204);
    expect(budgets['Short']).toBeLessThanOrEqual(1000);
    expect(budgets['Long']).toBeGreaterThan(1000);
    expect(budgets['Long']).toBeLessThanOrEqual(3000);
  });
});

describe('a gateway that is still starting', () => {
  it('answers 503 until the stack marks it ready', async () => {
    // Prepare
    const starting = await startGateway({ routes, rootDir: process.cwd(), port: 0, log: () => {}, loadHandler: async () => async () => ({ statusCode: 204 }) });

    // Act
    const before = await fetch(`${starting.baseUrl}/plain`);
    starting.setReady();
    const after = await fetch(`${starting.baseUrl}/plain`);
    await starting.close();

    // Assess
    expect(before.status).toBe(503);
    expect(after.status).toBe(204);
  });
});
