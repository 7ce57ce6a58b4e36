import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** A Lambda handler as the local stack calls it: `(event, context)` → a promise of the result. */
export type LambdaHandler<TEvent = unknown, TResult = unknown> = (event: TEvent, context: import('aws-lambda').Context) => Promise<TResult>;

/**
 * Loads a handler module (`entry`, relative to `rootDir`) on first use and keeps it, like a Lambda cold
 * start. A failed load is not kept: the next call tries again, so a handler written while the stack runs
 * (or fixed after a syntax error) is picked up without a restart, and a missing one only fails its route.
 *
 * @example
 * ```ts
 * const load = lazyHandler('/work/main', 'functions/http/chat-inbound.ts');
 * const handler = await load();
 * ```
 */
export function lazyHandler<TEvent = unknown, TResult = unknown>(rootDir: string, entry: string): () => Promise<LambdaHandler<TEvent, TResult>> {
  let loaded: Promise<LambdaHandler<TEvent, TResult>> | undefined;
  return () => {
    loaded ??= importHandler<TEvent, TResult>(resolve(rootDir, entry)).catch((err: unknown) => {
      loaded = undefined;
      throw err;
    });
    return loaded;
  };
}

async function importHandler<TEvent, TResult>(file: string): Promise<LambdaHandler<TEvent, TResult>> {
  const mod = (await import(pathToFileURL(file).href)) as { handler?: unknown };
  if (typeof mod.handler !== 'function') throw new Error(`${file} does not export a function named "handler"`);
  return mod.handler as LambdaHandler<TEvent, TResult>;
}
