import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { baseUrl, countItems, stackEnv, staffToken } from '#test/helpers/index.ts';

/** A fresh, valid-looking Twilio SID. */
export const sid = (prefix: 'SM' | 'MM' | 'CA' | 'RE' | 'TR' | 'AC') => `${prefix}${randomBytes(16).toString('hex')}`;

let phoneCounter = 0;
/** A phone number no other test uses (US 415-555 fictional range, randomised per run). */
export function freshPhone(): string {
  const n = (Number.parseInt(randomBytes(2).toString('hex'), 16) + phoneCounter++) % 10_000;
  return `+1628555${String(n).padStart(4, '0')}`;
}

export const freshId = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;

/** Asserts that `act` leaves the table exactly as it was (test files run one at a time). */
export async function expectNothingWritten(act: () => Promise<void>): Promise<void> {
  const env = stackEnv();
  const before = await countItems(env);
  await act();
  expect(await countItems(env)).toBe(before);
}

/** GET a staff route as an agent. */
export async function staffGet(path: string, roles: string[] = ['agent']): Promise<Response> {
  const token = await staffToken('agent-under-test', roles);
  return fetch(`${baseUrl()}${path}`, { headers: { authorization: `Bearer ${token}` } });
}

type Page = { items: Array<Record<string, unknown>>; nextCursor: string | null };

/** Every message of a conversation, following cursors. */
export async function allMessages(conversationId: string): Promise<Array<Record<string, unknown>>> {
  const items: Array<Record<string, unknown>> = [];
  let cursor: string | null = null;
  do {
    const res = await staffGet(`/conversations/${conversationId}/messages?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    expect(res.status).toBe(200);
    const page = (await res.json()) as Page;
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

/** The customer of an identity, as the staff API shows it. */
export async function customerBy(query: string): Promise<{ customerId: string; conversationId: string; identities: Array<{ kind: string; value: string }> }> {
  const res = await staffGet(`/customers?${query}`);
  expect(res.status, `GET /customers?${query}`).toBe(200);
  return (await res.json()) as never;
}

/** The error body every 4xx carries. */
export async function expectError(res: Response, status: number): Promise<void> {
  expect(res.status).toBe(status);
  const body = (await res.json()) as { error?: { code?: unknown; message?: unknown } };
  expect(typeof body.error?.code).toBe('string');
  expect(typeof body.error?.message).toBe('string');
}
