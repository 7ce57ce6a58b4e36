import { beforeAll, describe, expect, it } from 'vitest';
import { providerSecretNames } from '#infra/constructs/provider-secrets.ts';
import { accessForConsumer, accessForRoute, queueUrlEnvName, stackSettingNames, type HandlerAccess } from '#infra/handler-access.ts';
import { httpRoutes, queueConsumers } from '#shared/routes.ts';
import { settingsReadBy } from './handler-reads.ts';

/*
 * infra/handler-access.ts says what each deployed handler may touch; this holds it to what the handler's
 * bundled code actually reads (see ./handler-reads.ts): every secret, queue URL and deploy-time setting
 * the code names is provided, and no secret, queue or setting is granted that the code never names.
 * When a handler starts reading something new, this fails until the access table says so.
 */

const handlers: Array<{ name: string; entry: string; access: HandlerAccess }> = [
  ...httpRoutes.filter((r) => r.auth !== 'dev').map((r) => ({ name: r.name, entry: r.entry, access: accessForRoute(r) })),
  ...queueConsumers.map((c) => ({ name: c.name, entry: c.entry, access: accessForConsumer(c) })),
];
const queueUrlNames = new Map(queueConsumers.map((c) => [queueUrlEnvName(c.queue), c.queue]));
const candidates = [...providerSecretNames, ...stackSettingNames, ...queueUrlNames.keys(), 'PUBLIC_BASE_URL', 'ATTACHMENTS_BUCKET', 'TABLE_NAME'];

let reads: Awaited<ReturnType<typeof settingsReadBy>>;

beforeAll(async () => {
  reads = await settingsReadBy(
    handlers.map((h) => h.entry),
    candidates,
  );
}, 120_000);

const readBy = (entry: string, among: Iterable<string>): string[] => [...among].filter((name) => reads.get(entry)?.has(name)).sort();

describe('the access table against the handlers it deploys', () => {
  it('bundles every deployed handler', () => {
    expect([...reads.keys()].sort()).toEqual(handlers.map((h) => h.entry).sort());
  });

  it('grants each handler exactly the secrets its code reads', () => {
    for (const { name, entry, access } of handlers) {
      expect([...access.secrets].sort(), name).toEqual(readBy(entry, providerSecretNames));
    }
  });

  it('gives each handler the URL of every queue its code names, and send rights only on queues it names', () => {
    for (const { name, entry, access } of handlers) {
      const named = readBy(entry, queueUrlNames.keys()).map((env) => queueUrlNames.get(env)!);
      const given = [...access.enqueue, ...(access.consumes !== undefined ? [access.consumes] : [])];
      for (const queue of named) expect(given, `${name} names ${queueUrlEnvName(queue)}`).toContain(queue);
      // A consumer always knows its own queue's URL (it can only postpone on it); sending needs a reason in the code.
      for (const queue of access.enqueue) expect(named, `${name} may send to ${queue}`).toContain(queue);
    }
  });

  it('gives table access to exactly the handlers whose code uses the table', () => {
    for (const { name, entry, access } of handlers) {
      expect(access.table === 'none', name).toBe(!(reads.get(entry)?.has('TABLE_NAME') ?? false));
    }
    expect(handlers.find((h) => h.name === 'TwilioVoiceWebhook')?.access.table).toBe('none');
  });

  it('grants DeleteItem to exactly the handlers whose bundled code deletes (deleting a consent item would opt a customer back in)', () => {
    for (const { name, entry, access } of handlers) {
      expect(access.table === 'readWriteDelete', name).toBe(reads.deleting.has(entry));
    }
    expect(reads.deleting.size).toBeGreaterThan(0);
  });

  it('hands each handler exactly the deploy-time settings its code reads', () => {
    for (const { name, entry, access } of handlers) {
      expect([...access.settings].sort(), name).toEqual(readBy(entry, stackSettingNames));
    }
  });

  it('gives the public base URL to every handler that builds or checks a URL with it, and the bucket to exactly its writers', () => {
    for (const { name, entry, access } of handlers) {
      if (reads.get(entry)?.has('PUBLIC_BASE_URL')) expect(access.publicBaseUrl, name).toBe(true);
      expect(access.putAttachments, name).toBe(reads.get(entry)?.has('ATTACHMENTS_BUCKET') ?? false);
    }
  });
});
