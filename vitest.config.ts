import { defineConfig } from 'vitest/config';

/**
 * One local stack (DynamoDB Local, fauxqs, pollers, gateway) for the whole run, started by the global
 * setup on free ports with a fresh temp data dir; tests reach it through `inject('baseUrl')` and
 * `inject('env')` (see test/global-setup.ts). Default pool and worker count: fine on 2 cores.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    // DynamoDB Local is a JVM: 2–4 s to answer on this machine, more when every core is busy.
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    // Integration tests assert "nothing written" by counting the shared table: one file at a time.
    fileParallelism: false,
  },
});
