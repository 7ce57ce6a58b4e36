import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Calls `fn` until it returns something other than `undefined`, `null` or `false` without throwing,
 * and returns that. On timeout, throws the last error `fn` threw (so an `expect` inside reads as the
 * failure), or says the condition never held. Assertion-style callbacks must `return true`.
 *
 * @example
 * ```ts
 * const item = await waitFor(async () => (await getItem()) ?? false, { timeoutMs: 5000 });
 * await waitFor(async () => { expect(await countItems(env)).toBe(before + 1); return true; });
 * ```
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<Exclude<T, undefined | null | false>> {
  const { timeoutMs = 10_000, intervalMs = 50 } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== null && value !== false) return value as Exclude<T, undefined | null | false>;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      if (lastError !== undefined) throw lastError;
      throw new Error(`waitFor: condition did not hold within ${timeoutMs} ms`);
    }
    await sleep(intervalMs);
  }
}
