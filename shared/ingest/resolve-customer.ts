import { conversationIdOf, newCustomerIds } from '#shared/domain/ids.ts';
import type { IdentityRef } from '#shared/domain/message.ts';
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

const MAX_CHAIN = 16;

/**
 * The customer that `ref`'s customer ended up in after merges (itself when never merged).
 */
export async function rootCustomer(customerId: string): Promise<string> {
  let current = customerId;
  for (let i = 0; i < MAX_CHAIN; i++) {
    const record = await getCustomer(current, { consistent: true });
    if (!record?.mergedInto) return current;
    current = record.mergedInto;
  }
  throw new Error('Customer merge chain too long');
}

/**
 * Merges two customers into one: the one with the smaller id survives (a fixed direction, so two
 * concurrent merges of the same pair can never point at each other). Identities are repointed and every
 * message moved; each step is idempotent, so a retry after a crash finishes the job.
 */
export async function mergeCustomers(a: string, b: string, now: string): Promise<string> {
  const [rootA, rootB] = await Promise.all([rootCustomer(a), rootCustomer(b)]);
  if (rootA === rootB) return rootA;
  const [survivor, absorbed] = rootA < rootB ? [rootA, rootB] : [rootB, rootA];
  const target = await markCustomerMerged(absorbed, survivor, now);
  if (target !== survivor) return mergeCustomers(survivor, target, now);
  await finishMerge(absorbed, survivor, now);
  logger.info('customers merged', { survivor, absorbed });
  return survivor;
}

/** Repoints the absorbed customer's identities and moves its thread into the survivor's. */
async function finishMerge(absorbed: string, survivor: string, now: string): Promise<void> {
  const record = await getCustomer(absorbed, { consistent: true });
  const labels = record?.identities ?? [];
  await Promise.all(labels.map((label) => repointIdentity(parseIdentityLabel(label), absorbed, survivor, now)));
  await addCustomerIdentities(survivor, labels);
  await moveThread(conversationIdOf(absorbed), conversationIdOf(survivor), survivor);
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
}): Promise<string> {
  const seen = new Set<string>();
  const refs = [input.from, ...(input.links ?? [])].filter((r) => {
    const label = identityLabel(r);
    if (seen.has(label)) return false;
    seen.add(label);
    return true;
  });

  for (let attempt = 0; attempt < 5; attempt++) {
    const owners = await findIdentityOwners(refs);
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
      if (owner !== customerId) customerId = await mergeCustomers(customerId, owner, input.now);
    }
    return customerId;
  }
  throw new Error('Could not resolve the customer after repeated races');
}

/**
 * After a message was written to `customerId`'s thread: if that customer was merged meanwhile, move
 * what landed there into the survivor's thread. Returns the customer that holds the thread now.
 */
export async function settleAfterWrite(customerId: string): Promise<string> {
  const root = await rootCustomer(customerId);
  if (root !== customerId) await moveThread(conversationIdOf(customerId), conversationIdOf(root), root);
  return root;
}
