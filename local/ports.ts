import { connect, createServer } from 'node:net';

/**
 * A TCP port that is free on 127.0.0.1 right now. Used for DynamoDB Local, which (being a JVM child)
 * cannot report back a port the OS chose for it. There is a short window in which another process could
 * take the port; the caller then fails with "address in use" and a clear message, never silently.
 *
 * @example
 * ```ts
 * const port = await freePort();
 * ```
 */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not pick a free port'))));
    });
  });
}

/**
 * `wanted` when it is a fixed port, a free one when it is 0.
 *
 * @example
 * ```ts
 * const port = await resolvePort(0); // e.g. 41234
 * ```
 */
export async function resolvePort(wanted: number): Promise<number> {
  return wanted === 0 ? freePort() : wanted;
}

/**
 * Fails, naming the port, when something already listens on it. For DynamoDB Local, whose readiness is
 * "the port answers ListTables": another DynamoDB there (a Docker DynamoDB Local, a second stack) would
 * otherwise answer first, and the stack would run on that database instead of its own `.data`.
 *
 * @example
 * ```ts
 * await assertPortFree(8000, 'DYNAMODB_PORT');
 * ```
 */
export async function assertPortFree(port: number, name: string): Promise<void> {
  // Connect rather than bind: a listener on 0.0.0.0 or with SO_REUSEADDR can let a bind on 127.0.0.1 succeed.
  const listening = await new Promise<boolean>((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.setTimeout(1000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(true); // something holds the port without answering
    });
    socket.once('error', () => resolve(false)); // ECONNREFUSED: nobody listens
  });
  if (listening) throw new Error(`${name} ${port} is already in use on 127.0.0.1: stop what listens there, or choose another (0 picks a free one)`);
}
