import { afterAll, beforeAll } from 'vitest';
import { applyStackEnv } from './stack.ts';

/**
 * For the enclosing `describe`: the stack's settings applied from `beforeAll` to `afterAll`, and the
 * modules `load` imports once they are (the data modules read their settings at import). Read them
 * through the returned function, inside tests and hooks.
 *
 * @example
 * ```ts
 * const m = withStackModules(async () => ({ store: await import('#shared/data/conversation-store.ts') }));
 * it('…', async () => expect(await m().store.getCustomer(id)).toBeDefined());
 * ```
 */
export function withStackModules<M>(load: () => Promise<M>): () => M {
  let restore: (() => void) | undefined;
  let modules: M | undefined;
  beforeAll(async () => {
    restore = applyStackEnv();
    modules = await load();
  });
  afterAll(() => restore?.());
  return () => {
    if (modules === undefined) throw new Error('stack modules read outside a test of their describe block');
    return modules;
  };
}
