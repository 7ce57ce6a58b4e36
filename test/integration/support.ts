import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { baseUrl, countItems, keysDiff, stackEnv, staffToken, tableKeys } from '#test/helpers/index.ts';

/** A fresh, valid-looking Twilio SID. */
export const sid = (prefix: 'SM' | 'MM' | 'CA' | 'RE' | 'TR' | 'AC') => `${prefix}${randomBytes(16).toString('hex')}`;

/** Where this process's numbers start: random per run, then one after the other, so no two tests of a file share one. */
let nextPhone = Number.parseInt(randomBytes(2).toString('hex'), 16);
/** A phone number no other test uses (US 628-555 fictional range). */
export function freshPhone(): string {
  return `+1628555${String(nextPhone++ % 10_000).padStart(4, '0')}`;
}

export const freshId = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;

/**
 * Asserts that `act` adds no item to the table and removes none, compared key by key (test files run
 * one at a time). Changes to existing items are not compared here: the shared stack's consumers update
 * items of earlier tests at any time (paced sends, media and send retries), so a test that must prove
 * an item untouched reads that item before and after.
 */
export async function expectNothingWritten(act: () => Promise<void>): Promise<void> {
  const env = stackEnv();
  const before = await tableKeys(env);
  await act();
  expect(keysDiff(before, await tableKeys(env)), 'items written by a refused request').toEqual({ added: [], removed: [] });
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

/** Asserts a refusal: a 4xx (never a 5xx) carrying the JSON error shape `{"error":{"code","message"}}`. */
export async function expectClientError(res: Response): Promise<{ code: string; message: string }> {
  const text = await res.text();
  expect(res.status, text).toBeGreaterThanOrEqual(400);
  expect(res.status, text).toBeLessThan(500);
  const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
  expect(typeof body.error?.code, text).toBe('string');
  expect(typeof body.error?.message, text).toBe('string');
  return body.error as { code: string; message: string };
}

/** A Twilio webhook's answer in a property test: `accepted` (200 with TwiML) or `refused` (a 4xx JSON error); anything else fails. */
export async function twilioOutcome(res: Response): Promise<'accepted' | 'refused'> {
  if (res.status !== 200) {
    await expectClientError(res);
    return 'refused';
  }
  expect(res.headers.get('content-type')).toContain('text/xml');
  expect(await res.text()).toContain('<Response');
  return 'accepted';
}

/**
 * For property tests whose samples may be accepted (and then write): follows the table's item count
 * from request to request and asserts that a refused request wrote nothing. One count scan per call,
 * so keep such properties to a hundred runs or so; samples refused by construction belong in one
 * {@link expectNothingWritten} instead.
 *
 * @example
 * ```ts
 * const wrote = await writeWatch();
 * // in the property, after each request:
 * await wrote(outcome === 'refused');
 * ```
 */
export async function writeWatch(): Promise<(refused: boolean) => Promise<void>> {
  const env = stackEnv();
  let known = await countItems(env);
  return async (refused) => {
    const now = await countItems(env);
    if (refused) expect(now - known, 'items written by a refused request').toBe(0);
    known = now;
  };
}
