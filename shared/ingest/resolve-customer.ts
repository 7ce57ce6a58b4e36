import { conversationIdOf, newCustomerIds } from '#shared/domain/ids.ts';
import type { Channel, IdentityRef } from '#shared/domain/message.ts';
import { getCustomerWithConsent, listOptOuts, setConsent } from '#shared/data/consent-store.ts';
import {
  addCustomerIdentities,
  claimIdentity,
  createCustomerWithIdentity,
  findIdentityOwners,
  getCustomer,
  identityLabel,
  markCustomerMerged,
  moveThread,
  parseIdentityLabel,
  repointIdentity,
} from '#shared/data/conversation-store.ts';
import { logger } from '#shared/logger.ts';
import type { WorkQueue } from '#shared/ports/work-queue.ts';

/** Longer than any webhook can run (API Gateway stops at 30 s): by then every racing write has landed. */
export const SWEEP_DELAY_SECONDS = 60;

const MAX_CHAIN = 16;

/** Labels whose identity item names a customer, by that customer: what a lookup found, before any claim. */
type OwnedLabels = ReadonlyMap<string, readonly string[]>;

/**
 * The customer that `ref`'s customer ended up in after merges (itself when never merged).
 */
export async function rootCustomer(customerId: string): Promise<string> {
  return (await followMerges(customerId)).root;
}

/**
 * The customer that `customerId` ended up in after merges (itself when never merged), and its consent
 * on `channel`: `opted_out` when any customer on the way there opted out (a merge copies opt-outs to the
 * survivor only as it ends, so one under way has not yet). One consistent Query per customer on the way.
 *
 * @example
 * ```ts
 * const { customer, consent } = await liveCustomerWithConsent('cus_…', 'sms');
 * ```
 */
export async function liveCustomerWithConsent(customerId: string, channel: Channel): Promise<Awaited<ReturnType<typeof getCustomerWithConsent>>> {
  let current = await getCustomerWithConsent(customerId, channel);
  let optedOut = current.consent === 'opted_out';
  for (let hops = 0; current.customer?.mergedInto; hops++) {
    if (hops >= MAX_CHAIN) throw new Error('Customer merge chain too long');
    current = await getCustomerWithConsent(current.customer.mergedInto, channel);
    optedOut ||= current.consent === 'opted_out';
  }
  return optedOut ? { ...current, consent: 'opted_out' } : current;
}

/**
 * The customers from `customerId` to the one it ended up in after merges, in merge order: just
 * `customerId` when it was never merged. The last is {@link rootCustomer}'s answer.
 *
 * @example
 * ```ts
 * await mergeChain('cus_a…'); // ['cus_a…', 'cus_b…', 'cus_c…'] once a was merged into b, and b into c
 * ```
 */
export async function mergeChain(customerId: string): Promise<string[]> {
  const chain = [customerId];
  for (let i = 0; i < MAX_CHAIN; i++) {
    const record = await getCustomer(chain.at(-1)!, { consistent: true });
    if (!record?.mergedInto) return chain;
    chain.push(record.mergedInto);
  }
  throw new Error('Customer merge chain too long');
}

/**
 * Walks the merge chain from `customerId`. Reading that customer's record anyway, it puts back into its
 * identity set the labels `owned` says name it but the set lacks: an identity claimed before a claim was
 * one transaction, by a request that stopped between its two writes. A merge repoints only the labels
 * in the set, so such an identity would stay with the absorbed customer. `restored` says one was put back.
 */
async function followMerges(customerId: string, owned?: OwnedLabels): Promise<{ root: string; restored: boolean }> {
  let current = customerId;
  let restored = false;
  for (let i = 0; i < MAX_CHAIN; i++) {
    const record = await getCustomer(current, { consistent: true });
    if (i === 0 && record) {
      const missing = (owned?.get(current) ?? []).filter((label) => !record.identities.includes(label));
      if (missing.length > 0) {
        // The count only: labels are phone numbers and addresses.
        logger.warn('identity missing from its customer\'s set, put back', { customerId: current, missing: missing.length });
        await addCustomerIdentities(current, missing);
        restored = true;
      }
    }
    if (!record?.mergedInto) return { root: current, restored };
    current = record.mergedInto;
  }
  throw new Error('Customer merge chain too long');
}

/**
 * Merges two customers into one: the one with the smaller id survives (a fixed direction, so two
 * concurrent merges of the same pair can never point at each other). Identities are repointed and every
 * message moved; each step is idempotent.
 *
 * A merge that stops part-way (the request timed out or crashed after marking the absorbed customer) is
 * finished twice over: the `sweep-merged` job, queued before the first write, runs the steps again; and
 * a retried delivery, which finds the two already one customer, finishes the steps for the one left behind.
 *
 * `owned` (from the caller's identity lookup) lets the merge put back a label missing from `a`'s or
 * `b`'s identity set before it repoints the set (see {@link followMerges}).
 */
export async function mergeCustomers(a: string, b: string, now: string, workQueue: WorkQueue, owned?: OwnedLabels): Promise<string> {
  const [chainA, chainB] = await Promise.all([followMerges(a, owned), followMerges(b, owned)]);
  const [rootA, rootB] = [chainA.root, chainB.root];
  if (rootA === rootB) {
    // Reached only when an identity still points at an absorbed customer: a merge in progress or one that
    // stopped part-way. The steps are idempotent, so finishing them here is safe either way.
    for (const left of new Set([a, b])) if (left !== rootA) await finishMerge(left, rootA, now);
    return rootA;
  }
  // A label just put back into an absorbed customer's set is repointed only by that merge's steps.
  if (chainA.restored && a !== rootA) await finishMerge(a, rootA, now);
  if (chainB.restored && b !== rootB) await finishMerge(b, rootB, now);
  const [survivor, absorbed] = rootA < rootB ? [rootA, rootB] : [rootB, rootA];
  // First, so that nothing below can be left half-done: the job finishes the merge, and moves a message
  // whose identity lookup ran just before the repoint and landed in the absorbed thread.
  await workQueue.enqueue({ type: 'sweep-merged', fromCustomerId: absorbed, toCustomerId: survivor }, { delaySeconds: SWEEP_DELAY_SECONDS });
  const target = await markCustomerMerged(absorbed, survivor, now);
  if (target !== survivor) return mergeCustomers(survivor, target, now, workQueue);
  await finishMerge(absorbed, survivor, now);
  logger.info('customers merged', { survivor, absorbed });
  return survivor;
}

/**
 * The `sweep-merged` job, due after any webhook that raced the merge has finished: runs the merge's
 * steps again (following later merges), so identities, opt-outs and every message that landed in the
 * absorbed thread end up with the live customer. If the request that queued it stopped before it even
 * marked the merge, the job does the merge. Idempotent.
 */
export async function sweepMerged(fromCustomerId: string, toCustomerId: string, now: string, workQueue: WorkQueue): Promise<void> {
  const root = await rootCustomer(fromCustomerId);
  if (root === fromCustomerId) {
    if ((await rootCustomer(toCustomerId)) !== root) await mergeCustomers(fromCustomerId, toCustomerId, now, workQueue);
    return;
  }
  await finishMerge(fromCustomerId, root, now);
}

/**
 * Carries the absorbed customer's opt-outs over (the stricter choice at the merge; a START the customer
 * sends the survivor afterwards stands), repoints its identities and moves its thread into the survivor's.
 */
async function finishMerge(absorbed: string, survivor: string, now: string): Promise<void> {
  const record = await getCustomer(absorbed, { consistent: true });
  // Opt-outs first: once an identity is repointed, its keywords and HELP go to the survivor, which must
  // already hold the opt-outs. Each is dated the later of when the customer asked and when the merge was
  // marked: a survivor's START from before the merge yields to it (the stricter choice), while a START
  // sent to the survivor after the merge stands when the sweep runs this again a minute later.
  const mergedAt = record?.mergedAt ?? now;
  for (const { channel, requestedAt } of await listOptOuts(absorbed)) {
    const dated = requestedAt !== undefined && requestedAt > mergedAt ? requestedAt : mergedAt;
    await setConsent({ customerId: survivor, channel, status: 'opted_out', source: `merge:${absorbed}`, actor: 'system:merge', now, requestedAt: dated });
  }
  const labels = record?.identities ?? [];
  await Promise.all(labels.map((label) => repointIdentity(parseIdentityLabel(label), absorbed, survivor, now)));
  await addCustomerIdentities(survivor, labels);
  await moveThread(conversationIdOf(absorbed), conversationIdOf(survivor), survivor);
}

/**
 * Finds or creates the customer of a message that names its sender only (SMS, voice, email): one
 * GetItem for a known sender; a new one is created with its identity atomically (a lost race reads the
 * winner). Nothing links two identities here, so no merge can happen, and the webhooks that use it
 * bundle none of the merge code. A message with links needs {@link resolveCustomer}.
 *
 * @example
 * ```ts
 * const customerId = await resolveSender({ from: identity.phone('+14155550100'), now, workQueue });
 * ```
 */
export async function resolveSender(input: { from: IdentityRef; links?: readonly IdentityRef[]; displayName?: string; now: string; workQueue: WorkQueue }): Promise<string> {
  if (input.links !== undefined && input.links.length > 0) throw new Error('A message with identity links is resolved by resolveCustomer');
  for (let attempt = 0; attempt < 5; attempt++) {
    // After a lost create, strongly consistent: the winner's identity was just written.
    const owner = (await findIdentityOwners([input.from], { consistent: attempt > 0 })).get(identityLabel(input.from));
    if (owner) return owner;
    const ids = newCustomerIds();
    if (await createCustomerWithIdentity({ ...ids, identity: input.from, displayName: input.displayName, now: input.now })) return ids.customerId;
  }
  throw new Error('Could not resolve the customer after repeated races');
}

/**
 * Finds or creates the customer for an inbound message's sender, linking the further identities it
 * vouches for (merging customers when a link joins two). Concurrent first messages of a new identity
 * create one customer: the identity's conditional create decides the winner.
 *
 * 1. look up every identity at once
 * 2. none known: create customer + first identity atomically (lost race: start over)
 * 3. link unknown identities, merge customers that a link joins
 */
export async function resolveCustomer(input: {
  from: IdentityRef;
  links?: readonly IdentityRef[];
  displayName?: string;
  now: string;
  workQueue: WorkQueue;
}): Promise<string> {
  const seen = new Set<string>();
  const refs = [input.from, ...(input.links ?? [])].filter((r) => {
    const label = identityLabel(r);
    if (seen.has(label)) return false;
    seen.add(label);
    return true;
  });

  for (let attempt = 0; attempt < 5; attempt++) {
    // After a lost create, strongly consistent: the winner's identity was just written.
    const owners = await findIdentityOwners(refs, { consistent: attempt > 0 });
    const owned = new Map<string, string[]>();
    for (const [label, owner] of owners) owned.set(owner, [...(owned.get(owner) ?? []), label]);
    let customerId = owners.get(identityLabel(input.from)) ?? refs.map((r) => owners.get(identityLabel(r))).find(Boolean);
    if (!customerId) {
      const ids = newCustomerIds();
      const created = await createCustomerWithIdentity({ ...ids, identity: input.from, displayName: input.displayName, now: input.now });
      if (!created) continue;
      customerId = ids.customerId;
      owners.set(identityLabel(input.from), customerId);
    }
    for (const ref of refs) {
      const owner: string = owners.get(identityLabel(ref)) ?? (await claimIdentity(ref, customerId, input.now));
      if (owner !== customerId) customerId = await mergeCustomers(customerId, owner, input.now, input.workQueue, owned);
    }
    return customerId;
  }
  throw new Error('Could not resolve the customer after repeated races');
}
