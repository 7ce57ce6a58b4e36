/**
 * The class a CommonJS module exports as its default, whichever ESM interop loaded it: Node and esbuild
 * hand an ESM importer `module.exports` (so `exports.default = X` arrives as `{ default: X }`), while
 * vitest unwraps `__esModule` defaults (so it arrives as `X`). The `twilio` and `@sendgrid/helpers`
 * files imported one by one are CommonJS, so their classes go through this.
 *
 * @example
 * ```ts
 * import DomainModule from 'twilio/lib/base/Domain.js';
 * const Domain = cjsDefault<typeof DomainModule.default>(DomainModule);
 * ```
 */
export function cjsDefault<T>(mod: unknown): T {
  const inner = (mod as { default?: unknown } | null)?.default;
  return (typeof inner === 'function' ? inner : mod) as T;
}
