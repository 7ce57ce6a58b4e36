import { inject } from 'vitest';
import type { LocalStackEnv } from '#local/stack.ts';

/**
 * The shared local stack's settings (provided by test/global-setup.ts).
 *
 * @example
 * ```ts
 * const env = stackEnv();
 * await postChat(env.PUBLIC_BASE_URL, body, { secret: env.CHAT_WEBHOOK_SECRET });
 * ```
 */
export function stackEnv(): LocalStackEnv {
  return inject('env');
}

/**
 * The shared local stack's gateway URL.
 *
 * @example
 * ```ts
 * const res = await fetch(`${baseUrl()}/nope`);
 * ```
 */
export function baseUrl(): string {
  return inject('baseUrl');
}

/**
 * Copies the stack's env into this worker's `process.env`, for tests that call use cases or the data
 * module directly against the stack's DynamoDB and SQS. Returns a function that puts things back.
 * Call it before importing modules that read settings at import time.
 *
 * @example
 * ```ts
 * beforeAll(() => applyStackEnv());
 * ```
 */
export function applyStackEnv(env: LocalStackEnv = stackEnv()): () => void {
  const previous = new Map(Object.keys(env).map((name) => [name, process.env[name]] as const));
  for (const [name, value] of Object.entries(env)) if (value !== undefined) process.env[name] = value;
  return () => {
    for (const [name, value] of previous) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
}
