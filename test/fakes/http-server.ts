import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running local fake: its base URL (`http://127.0.0.1:<port>`) and a close that drops open connections. */
export type RunningServer = { readonly baseUrl: string; close(): Promise<void> };

/** The request a fake handler sees: method, path, query, lower-cased headers and the raw body. */
export type FakeRequest = {
  readonly method: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: IncomingMessage['headers'];
  readonly rawBody: Buffer;
};

export type FakeAnswer = { status: number; headers?: Record<string, string>; body?: string | Buffer };

/**
 * Starts a node:http server on 127.0.0.1 and a free port that hands each request (body read whole) to
 * `handle` and writes its answer. `handle` may wait (timeout tests); a throw answers 500.
 *
 * @example
 * ```ts
 * const server = await startFakeServer(async (req) => ({ status: 200, body: 'ok' }));
 * await fetch(server.baseUrl);
 * await server.close();
 * ```
 */
export async function startFakeServer(handle: (req: FakeRequest) => Promise<FakeAnswer> | FakeAnswer): Promise<RunningServer> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      Promise.resolve()
        .then(() => handle({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, rawBody: Buffer.concat(chunks) }))
        .catch((err: unknown): FakeAnswer => ({ status: 500, body: JSON.stringify({ fakeError: String(err) }) }))
        .then((answer) => {
          if (res.destroyed) return;
          res.writeHead(answer.status, answer.headers);
          res.end(answer.body);
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Resolves after `ms` (a fake that answers late). */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A URL on 127.0.0.1 where nothing listens (connection refused): a port taken then released. */
export async function refusedUrl(): Promise<string> {
  const server = await startFakeServer(() => ({ status: 200 }));
  await server.close();
  return server.baseUrl;
}
