import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { PermanentDeliveryError, ProviderConfigError, TransientDeliveryError, type OutboundDelivery } from '#shared/ports/channel-sender.ts';

/** Where this process's numbers start: random per run, then one after the other, so no two tests share one. */
let nextPhone = Number.parseInt(randomBytes(2).toString('hex'), 16);
/** A fictional US number (628-555-xxxx) no other test of this file uses. */
export const freshPhone = () => `+1628555${String(nextPhone++ % 10_000).padStart(4, '0')}`;
export const freshId = (prefix: string) => `${prefix}_${randomBytes(8).toString('hex')}`;

/** One outbound delivery with fresh ids; override what the test is about. */
export function delivery(overrides: Partial<OutboundDelivery> & Pick<OutboundDelivery, 'channel' | 'to'>): OutboundDelivery {
  return { messageId: freshId('msg'), conversationId: freshId('conv'), body: 'Your order has shipped.', ...overrides };
}

/** What `act` rejected with, asserted to be an instance of `kind`. */
async function rejection<T>(act: Promise<unknown>, kind: new (...args: never[]) => T): Promise<T> {
  const err = await act.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(kind);
  return err as T;
}

/** What `send` threw, asserted to be a permanent refusal with `reason`. */
export async function expectPermanent(act: Promise<unknown>, reason: string): Promise<PermanentDeliveryError> {
  const err = await rejection(act, PermanentDeliveryError);
  expect(err.reason).toBe(reason);
  return err;
}

/** What `send` threw, asserted to be the provider refusing our credentials or settings, with `reason`. */
export async function expectConfigFault(act: Promise<unknown>, reason: string): Promise<ProviderConfigError> {
  const err = await rejection(act, ProviderConfigError);
  expect(err.reason).toBe(reason);
  return err;
}

/** What `send` threw, asserted to be transient (worth retrying). */
export function expectTransient(act: Promise<unknown>): Promise<TransientDeliveryError> {
  return rejection(act, TransientDeliveryError);
}

/** Every text an error carries (message, and its causes'), to assert no address or body leaks into logs. */
export function errorText(err: unknown): string {
  const parts: string[] = [];
  for (let e = err as { message?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    parts.push(String(e.message ?? ''), JSON.stringify(e, Object.getOwnPropertyNames(e)));
  }
  return parts.join('\n');
}
