import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startLocalStack, type LocalStackEnv } from '#local/stack.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The local gateway, e.g. `http://127.0.0.1:41234` (also `env.PUBLIC_BASE_URL`). */
    baseUrl: string;
    /**
     * Everything the stack's handlers see in `process.env`: secrets (`TWILIO_AUTH_TOKEN`,
     * `CHAT_WEBHOOK_SECRET`, `SENDGRID_INBOUND_SECRET`, `SENDGRID_EVENT_PUBLIC_KEY`), `TABLE_NAME`,
     * `DYNAMODB_ENDPOINT`, `SQS_ENDPOINT`, `INBOUND_WORK_QUEUE_URL`, `INBOUND_WORK_DLQ_QUEUE_URL`,
     * `DATA_DIR`, `ATTACHMENTS_DIR`, `JWT_*`, `AWS_*`…
     */
    env: LocalStackEnv;
    /** Signs SendGrid Event Webhook payloads that `SENDGRID_EVENT_PUBLIC_KEY` verifies. */
    sendgridEventPrivateKeyPem: string;
  }
}

/** Seconds before a message a consumer failed is redelivered: short, so retry and DLQ tests stay fast. */
const TEST_VISIBILITY_TIMEOUT_SECONDS = 2;

/**
 * Starts one local stack for the run: free ports, a fresh data dir under the OS temp dir, settings
 * from nothing but local defaults (the developer's shell cannot leak in). Handlers run in this (the
 * main vitest) process; tests reach them over HTTP and the emulators through the provided env.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dataDir = mkdtempSync(join(tmpdir(), 'omnichannel-test-'));
  const stack = await startLocalStack({
    env: {
      POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
      // Tests serve "provider" media from local HTTP servers; the cloud and `npm start` allow Twilio's hosts only.
      MEDIA_HOSTS: 'api.twilio.com,media.twiliocdn.com,127.0.0.1',
    },
    dataDir,
    port: 0,
    visibilityTimeoutSeconds: TEST_VISIBILITY_TIMEOUT_SECONDS,
    accessLog: false,
  });
  project.provide('baseUrl', stack.baseUrl);
  project.provide('env', stack.env);
  project.provide('sendgridEventPrivateKeyPem', stack.sendgridEventPrivateKeyPem);
  return async () => {
    await stack.stop();
    rmSync(dataDir, { recursive: true, force: true });
  };
}
