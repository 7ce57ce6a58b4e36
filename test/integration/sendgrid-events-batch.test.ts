import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { watchingDynamo, withStackModules } from '#test/helpers/index.ts';
import type { SendgridEvent } from '#shared/channels/sendgrid/event-webhook.ts';
import { errorOf, jsonOf, messageIn, newCustomer, send, waitForStatus } from '../model/outbound-support.ts';

/**
 * A verified SendGrid batch as the use case applies it, in this process against the stack's DynamoDB,
 * with the data module's own client watched (or made to fail) by a middleware: what a large batch costs,
 * and what is recorded when part of it fails.
 */

async function sentEmail() {
  const customer = await newCustomer();
  const { messageId } = await jsonOf<{ messageId: string }>(await send(customer.conversationId, { channel: 'email', body: 'Your ticket is resolved.', subject: 'Ticket 7' }), 202);
  await waitForStatus(customer.conversationId, messageId, 'sent');
  return { customer, conversationId: customer.conversationId, messageId };
}

const fakeId = (prefix: 'msg' | 'conv') => `${prefix}_${randomBytes(16).toString('hex')}`;

describe('a SendGrid event batch', () => {
  const modules = withStackModules(async () => ({
    applySendgridEvents: (await import('#shared/outbound/status-callbacks.ts')).applySendgridEvents,
    recordSent: (await import('#shared/data/outbound-store.ts')).recordSent,
    dynamoClient: (await import('#shared/data/client.ts')).dynamoClient,
  }));
  let m: ReturnType<typeof modules>;
  beforeAll(() => {
    m = modules();
  });
  const watching = <T>(watch: (commandName: string, input: unknown) => void, act: () => Promise<T>) => watchingDynamo(m.dynamoClient, watch, act);

  it('reads nothing for the events it does not act on (open, click, deferred, any other name), and changes nothing', async () => {
    const { conversationId, messageId } = await sentEmail();
    const before = await messageIn(conversationId, messageId);
    const names = ['open', 'click', 'deferred', 'constructor', 'toString', '__proto__', 'hasOwnProperty'];
    const events: SendgridEvent[] = Array.from({ length: 70 }, (_, i) => ({ event: names[i % names.length]!, messageId, conversationId, email: 'x@example.com' }));
    const calls: string[] = [];
    await watching((commandName) => calls.push(commandName), () => m.applySendgridEvents(events));
    expect(calls).toEqual([]);
    expect(await messageIn(conversationId, messageId)).toEqual(before);
  });

  it('applies the events of a send SendGrid accepted without an X-Message-Id (recorded under our own id), and still refuses another send’s under a known id', async () => {
    // Prepare: one message as the adapter records such an answer, one under a SendGrid id.
    const unnamed = await sentEmail();
    await m.recordSent(unnamed.conversationId, unnamed.messageId, { provider: 'sendgrid', providerMessageId: unnamed.messageId }, new Date().toISOString());
    const named = await sentEmail();
    await m.recordSent(named.conversationId, named.messageId, { provider: 'sendgrid', providerMessageId: 'Xq3k9vJ2TnWm4b7cP1fA' }, new Date().toISOString());
    // Act
    await m.applySendgridEvents([
      { event: 'bounce', messageId: unnamed.messageId, conversationId: unnamed.conversationId, sg_message_id: 'Zz81abc.filter0001.1234.5678' },
      { event: 'bounce', messageId: named.messageId, conversationId: named.conversationId, sg_message_id: 'Zz81abc.filter0001.1234.5678' },
    ]);
    // Assess
    expect(await messageIn(unnamed.conversationId, unnamed.messageId)).toMatchObject({ status: 'failed', failureReason: 'sendgrid:bounce' });
    expect(await messageIn(named.conversationId, named.messageId)).toMatchObject({ status: 'sent' });
  });

  it('applies an opt-out and a delivery for the same message in one batch, both', async () => {
    const { customer, conversationId, messageId } = await sentEmail();
    await m.applySendgridEvents([
      { event: 'delivered', messageId, conversationId, email: customer.email! },
      { event: 'spamreport', messageId, conversationId, email: customer.email! },
    ]);
    expect(await messageIn(conversationId, messageId)).toMatchObject({ status: 'delivered' });
    expect((await errorOf(await send(conversationId, { channel: 'email', body: 'Follow-up', subject: 'Ticket 7' }), 409)).code).toBe('opted_out');
  });

  it('records the opt-outs of a batch first: a store failure on its delivery events still leaves them recorded for the retry', async () => {
    // Prepare: a customer whose unsubscribe comes last, after more delivery events than one wave takes.
    const { customer, conversationId, messageId } = await sentEmail();
    const failing = Array.from({ length: 12 }, () => ({ event: 'delivered', messageId: fakeId('msg'), conversationId: fakeId('conv') }));
    const failingIds = new Set(failing.map((e) => e.messageId));
    const storeFault = Object.assign(new Error('Throughput exceeds the current capacity of your table'), { name: 'ProvisionedThroughputExceededException' });
    // Act: every read of those messages fails, so the batch fails (and SendGrid would post it again).
    await expect(
      watching(
        (_name, input) => {
          if ([...failingIds].some((id) => JSON.stringify(input).includes(id))) throw storeFault;
        },
        () => m.applySendgridEvents([...failing, { event: 'unsubscribe', messageId, conversationId, email: customer.email! }]),
      ),
    ).rejects.toThrow('Throughput');
    // Assess: the customer's opt-out is recorded all the same: the next email is refused.
    expect((await errorOf(await send(conversationId, { channel: 'email', body: 'Follow-up', subject: 'Ticket 7' }), 409)).code).toBe('opted_out');
  });
});
