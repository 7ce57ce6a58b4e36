import { randomBytes } from 'node:crypto';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import type { IdentityRef } from '#shared/domain/message.ts';
import type { WorkQueue } from '#shared/ports/work-queue.ts';
import { withStackModules } from '#test/helpers/index.ts';

/**
 * An identity item (identity → customer) and the label in its customer's identity set must never part:
 * a merge repoints only the labels in the absorbed customer's set, so an identity missing from it keeps
 * pointing at the absorbed customer, and its later messages land in a thread nobody reads. These tests
 * stop a request right after its first write, on the real DynamoDB Local, and check what a merge sees.
 */

const hex = (n: number) => randomBytes(n).toString('hex').slice(0, n);
/** A customer id that sorts first (`0…`) or last (`f…`): the smaller id survives a merge. */
const customerIdSorting = (first: '0' | 'f') => `cus_${first}${hex(31)}`;
const chat = (): IdentityRef => ({ kind: 'chat', value: `user-${hex(12)}` });
const email = (): IdentityRef => ({ kind: 'email', value: `${hex(12)}@example.com` });
const label = (ref: IdentityRef) => `${ref.kind}:${ref.value}`;

/** The queue a merge hands its delayed sweep to; the sweep's work is what these tests check without it. */
const noQueue: WorkQueue = { enqueue: async () => {} };

describe('claiming an identity for a customer', () => {
  const modules = withStackModules(async () => ({
    store: await import('#shared/data/conversation-store.ts'),
    resolve: await import('#shared/ingest/resolve-customer.ts'),
    client: await import('#shared/data/client.ts'),
    keys: await import('#shared/data/keys.ts'),
  }));
  let m: ReturnType<typeof modules>;
  beforeAll(() => {
    m = modules();
  });

  async function customer(first: '0' | 'f') {
    const customerId = customerIdSorting(first);
    const identity = chat();
    const created = await m.store.createCustomerWithIdentity({ customerId, conversationId: `conv_${customerId.slice(4)}`, identity, now: new Date().toISOString() });
    expect(created).toBe(true);
    return { customerId, identity };
  }

  const ownerOf = async (ref: IdentityRef) => (await m.store.findIdentityOwners([ref])).get(label(ref));
  const identitiesOf = async (customerId: string) => (await m.store.getCustomer(customerId, { consistent: true }))?.identities ?? [];
  const resolve = (from: IdentityRef, links: IdentityRef[]) => m.resolve.resolveCustomer({ from, links, now: new Date().toISOString(), workQueue: noQueue });

  /** The request dies just after its first write to the table reached it: that write lands, nothing after it is sent. */
  function dieAfterFirstWrite(): () => boolean {
    let state: 'armed' | 'dead' | 'off' = 'armed';
    const name = `die-${hex(8)}`;
    m.client.dynamoClient.middlewareStack.add(
      (next, context) => async (args) => {
        if (state === 'dead') throw new Error('request died');
        const result = await next(args);
        if (state === 'armed' && /^(Put|Update|Delete|BatchWrite|TransactWrite)/.test(context.commandName ?? '')) {
          state = 'dead';
          throw new Error('request died');
        }
        return result;
      },
      { step: 'initialize', name },
    );
    return () => {
      m.client.dynamoClient.middlewareStack.remove(name);
      const died = state === 'dead';
      state = 'off';
      return died;
    };
  }

  /** An identity item written without its label, as a claim that stopped between its two writes left it before claims were one transaction. */
  async function identityWithoutLabel(ref: IdentityRef, customerId: string): Promise<void> {
    await m.client.documentClient.send(
      new PutCommand({
        TableName: m.client.getTableName(),
        Item: { ...m.keys.identityKey(ref), kind: ref.kind, value: ref.value, customerId, linkedAt: new Date().toISOString() },
      }),
    );
  }

  it('a link whose request died after its first write is still repointed by a later merge', async () => {
    // Prepare: customer C (absorbed by a later merge) links an email; the request dies after its first write.
    const survivor = await customer('0');
    const absorbed = await customer('f');
    const linked = email();
    const revive = dieAfterFirstWrite();
    try {
      await expect(resolve(absorbed.identity, [linked])).rejects.toThrow('request died');
    } finally {
      expect(revive()).toBe(true);
    }

    // Act: the chat backend retries the delivery; later a message links C to the survivor.
    expect(await resolve(absorbed.identity, [linked])).toBe(absorbed.customerId);
    expect(await identitiesOf(absorbed.customerId)).toContain(label(linked));
    expect(await resolve(survivor.identity, [absorbed.identity])).toBe(survivor.customerId);

    // Assess: the email belongs to the surviving customer, as every other identity of C does.
    expect(await ownerOf(linked)).toBe(survivor.customerId);
    expect(await ownerOf(absorbed.identity)).toBe(survivor.customerId);
    expect(await identitiesOf(survivor.customerId)).toEqual([label(absorbed.identity), label(survivor.identity), label(linked)].sort());
  });

  it('keeps "lost the race → the other owner": a claim of an identity someone else holds returns that owner and adds nothing', async () => {
    const holder = await customer('0');
    const other = await customer('f');
    const contested = email();
    expect(await m.store.claimIdentity(contested, holder.customerId, new Date().toISOString())).toBe(holder.customerId);
    expect(await m.store.claimIdentity(contested, other.customerId, new Date().toISOString())).toBe(holder.customerId);
    expect(await identitiesOf(other.customerId)).toEqual([label(other.identity)]);
    expect(await identitiesOf(holder.customerId)).toEqual([label(holder.identity), label(contested)].sort());
  });

  it('a merge that reads a customer puts back a label its identity item names but its set lacks, and repoints it', async () => {
    // Prepare: an email whose identity item names C, missing from C's set (left by an older claim).
    const survivor = await customer('0');
    const absorbed = await customer('f');
    const orphan = email();
    await identityWithoutLabel(orphan, absorbed.customerId);

    // Act: a message of the survivor links that email, which merges C.
    expect(await resolve(survivor.identity, [orphan])).toBe(survivor.customerId);

    // Assess
    expect(await ownerOf(orphan)).toBe(survivor.customerId);
    expect(await ownerOf(absorbed.identity)).toBe(survivor.customerId);
    expect(await identitiesOf(survivor.customerId)).toContain(label(orphan));
  });

  it('heals an identity left with a customer already merged away, the next time a message names it', async () => {
    // Prepare: C's email is missing from its set, and C was merged into the survivor, which left the email behind.
    const survivor = await customer('0');
    const absorbed = await customer('f');
    const orphan = email();
    await identityWithoutLabel(orphan, absorbed.customerId);
    expect(await resolve(survivor.identity, [absorbed.identity])).toBe(survivor.customerId);
    expect(await ownerOf(orphan)).toBe(absorbed.customerId);

    // Act: a message names the email (the survivor's chat backend vouches for it).
    expect(await resolve(survivor.identity, [orphan])).toBe(survivor.customerId);

    // Assess
    expect(await ownerOf(orphan)).toBe(survivor.customerId);
    expect(await identitiesOf(survivor.customerId)).toContain(label(orphan));
  });

  it('puts back a missing label of the customer that survives a merge, so a later merge repoints it', async () => {
    // Prepare: the survivor-to-be's email is missing from its set.
    const middle = await customer('0');
    const absorbed = await customer('f');
    const orphan = email();
    await identityWithoutLabel(orphan, middle.customerId);

    // Act: a message from that email links the larger customer: the merge reads the survivor's record.
    expect(await resolve(orphan, [absorbed.identity])).toBe(middle.customerId);

    // Assess
    expect(await identitiesOf(middle.customerId)).toContain(label(orphan));
  });

  it('a message from one known identity (the SMS path) still costs one GetItem, and reads no customer', async () => {
    const known = await customer('f');
    const commands: string[] = [];
    const name = `count-${hex(8)}`;
    m.client.dynamoClient.middlewareStack.add(
      (next, context) => async (args) => {
        commands.push(context.commandName ?? '?');
        return next(args);
      },
      { step: 'initialize', name },
    );
    try {
      expect(await resolve(known.identity, [])).toBe(known.customerId);
    } finally {
      m.client.dynamoClient.middlewareStack.remove(name);
    }
    expect(commands).toHaveLength(1);
    expect(commands[0]).toMatch(/^Get(Item)?Command$/);
  });

  for (const [name, run] of [
    ['an SMS, voice or email sender (resolveSender)', (from: IdentityRef) => m.resolve.resolveSender({ from, now: new Date().toISOString(), workQueue: noQueue })],
    ['a chat message with links (resolveCustomer)', (from: IdentityRef) => resolve(from, [email()])],
  ] as const) {
    it(`looks the identity up again strongly consistently after losing its create to a concurrent first message: ${name}`, async () => {
      // Prepare: this request's lookup misses; a concurrent first message from the same sender then
      // creates the customer before this request's own create (which loses).
      const from = chat();
      const reads: Array<{ consistent: boolean }> = [];
      let winner: Promise<string> | undefined;
      const hook = `lost-create-${hex(8)}`;
      m.client.dynamoClient.middlewareStack.add(
        (next, context) => async (args) => {
          const input = args.input as { ConsistentRead?: boolean; Key?: Record<string, unknown>; RequestItems?: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead?: boolean }> };
          const keys = input.Key ? [input.Key] : Object.values(input.RequestItems ?? {}).flatMap((r) => r.Keys);
          const reading = /^(GetItem|BatchGetItem)Command$/.test(context.commandName ?? '') && keys.some((k) => JSON.stringify(k).includes(from.value));
          if (reading) reads.push({ consistent: input.ConsistentRead === true || Object.values(input.RequestItems ?? {}).some((r) => r.ConsistentRead === true) });
          const result = await next(args);
          if (reading && !winner) {
            winner = m.resolve.resolveSender({ from, now: new Date().toISOString(), workQueue: noQueue });
            await winner;
          }
          return result;
        },
        { step: 'initialize', name: hook },
      );
      let customerId: string;
      try {
        // Act
        customerId = await run(from);
      } finally {
        m.client.dynamoClient.middlewareStack.remove(hook);
      }
      // Assess: one customer; this request's first read was a plain one, its re-read strongly consistent.
      expect(customerId).toBe(await winner);
      expect(reads[0]).toEqual({ consistent: false });
      expect(reads.at(-1)).toEqual({ consistent: true });
      expect(reads.filter((r) => r.consistent).length).toBeGreaterThanOrEqual(1);
    });
  }
});

describe('what a merge does with the absorbed customer’s opt-outs', () => {
  const modules = withStackModules(async () => ({
    store: await import('#shared/data/conversation-store.ts'),
    resolve: await import('#shared/ingest/resolve-customer.ts'),
    consent: await import('#shared/data/consent-store.ts'),
  }));
  let store: ReturnType<typeof modules>['store'];
  let resolve: ReturnType<typeof modules>['resolve'];
  let consent: ReturnType<typeof modules>['consent'];
  beforeAll(() => {
    ({ store, resolve, consent } = modules());
  });

  /** The survivor (id sorting first) and the customer it absorbs (last), each with a chat identity. */
  async function pair() {
    const make = async (first: '0' | 'f') => {
      const customerId = customerIdSorting(first);
      expect(await store.createCustomerWithIdentity({ customerId, conversationId: `conv_${customerId.slice(4)}`, identity: chat(), now: new Date().toISOString() })).toBe(true);
      return customerId;
    };
    return { survivor: await make('0'), absorbed: await make('f') };
  }
  const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
  const sms = (customerId: string, status: 'opted_in' | 'opted_out', requestedAt: string) =>
    consent.setConsent({ customerId, channel: 'sms', status, source: 'sms:keyword', actor: 'customer', now: new Date().toISOString(), requestedAt });

  it('carries an opt-out to the survivor, and leaves the other channels alone', async () => {
    const { survivor, absorbed } = await pair();
    await sms(absorbed, 'opted_out', at(10));
    await resolve.mergeCustomers(survivor, absorbed, new Date().toISOString(), noQueue);
    expect(await consent.listConsent(survivor)).toMatchObject({ sms: 'opted_out', email: 'opted_in', chat: 'opted_in', voice: 'opted_in' });
  });

  it('carries it even over an older START of the survivor (the later word is the STOP)', async () => {
    const { survivor, absorbed } = await pair();
    await sms(survivor, 'opted_out', at(60));
    await sms(survivor, 'opted_in', at(30));
    await sms(absorbed, 'opted_out', at(10));
    await resolve.mergeCustomers(survivor, absorbed, new Date().toISOString(), noQueue);
    expect((await consent.listConsent(survivor)).sms).toBe('opted_out');
  });

  it('carries it over a START the survivor’s other number sent after that STOP but before the merge (the stricter choice at the merge)', async () => {
    const { survivor, absorbed } = await pair();
    await sms(absorbed, 'opted_out', at(30));
    await sms(survivor, 'opted_in', at(10));
    await resolve.mergeCustomers(survivor, absorbed, new Date().toISOString(), noQueue);
    expect((await consent.listConsent(survivor)).sms).toBe('opted_out');
  });

  it('keeps a START the customer sent to the survivor after the merge when the sweep runs the merge again', async () => {
    // Prepare: the merge carried the STOP; then the customer texts START (to the survivor now).
    const { survivor, absorbed } = await pair();
    await sms(absorbed, 'opted_out', at(10));
    await resolve.mergeCustomers(survivor, absorbed, at(1), noQueue);
    expect((await consent.listConsent(survivor)).sms).toBe('opted_out');
    await sms(survivor, 'opted_in', new Date().toISOString());
    // Act: the merge's delayed sweep
    await resolve.sweepMerged(absorbed, survivor, new Date().toISOString(), noQueue);
    // Assess
    expect((await consent.listConsent(survivor)).sms).toBe('opted_in');
  });
});
