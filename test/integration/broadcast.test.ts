import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { baseUrl, dynamo, postTwilioForm, stackEnv, staffToken, waitFor } from '#test/helpers/index.ts';
import { smsInfo } from '#shared/templates/sms-segments.ts';
import { allMessages, customerBy, expectError, expectNothingWritten, freshId, freshPhone, sid } from './support.ts';

type Staff = { sub: string; roles: string[] };
type Accepted = { customerId: string; messageId: string; notBefore: string };
type Refused = { customerId: string; code: string; message: string };
type BroadcastAnswer = { broadcastId: string; templateId: string; version: number; channel: string; accepted: Accepted[]; refused: Refused[] };
type OutboxEntry = { messageId: string; to: string; body: string; at: string };

const editor = (): Staff => ({ sub: freshId('editor'), roles: ['editor'] });
const approver = (): Staff => ({ sub: freshId('approver'), roles: ['approver'] });
const agent = (): Staff => ({ sub: freshId('agent'), roles: ['agent'] });

async function call(method: 'GET' | 'POST', path: string, as: Staff | null, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (as) headers.authorization = `Bearer ${await staffToken(as.sub, as.roles)}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${baseUrl()}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
}

function sms(from: string, body: string): Promise<Response> {
  const params = { MessageSid: sid('SM'), AccountSid: sid('AC'), From: from, To: '+16285550000', Body: body, NumMedia: '0' };
  return postTwilioForm(baseUrl(), '/webhooks/twilio/sms', params, { authToken: stackEnv().TWILIO_AUTH_TOKEN });
}

/** A customer who texted in once (so they have a phone and a thread). */
async function smsCustomer(): Promise<{ customerId: string; conversationId: string; phone: string }> {
  const phone = freshPhone();
  expect((await sms(phone, 'hi')).status).toBe(200);
  return { ...(await customerBy(`phone=${encodeURIComponent(phone)}`)), phone };
}

/** The SMS body of the outage template: two GSM-7 segments once a short first name is in. */
const OUTAGE_SMS =
  'Hello {{first_name}}. Planned maintenance tonight from 22:00 to 23:00 UTC: the app, the website and the phone line will be unavailable. ' +
  'We are sorry for the trouble. Reply HELP for help, STOP to opt out.';

/** Created and submitted by an editor; approved by a different approver unless `approve` is false. */
async function template(options: { approve?: boolean } = {}): Promise<string> {
  const author = editor();
  const created = await call('POST', '/templates', author, {
    name: 'Maintenance notice',
    variables: [{ name: 'first_name', required: true }],
    content: { sms: { body: OUTAGE_SMS }, email: { subject: 'Maintenance tonight', text: 'Hello {{first_name}}, maintenance tonight.' } },
  });
  expect(created.status, 'POST /templates').toBe(201);
  const { templateId } = (await created.json()) as { templateId: string };
  expect((await call('POST', `/templates/${templateId}/versions/1/submit`, author)).status, 'submit').toBe(200);
  if (options.approve ?? true) {
    expect((await call('POST', `/templates/${templateId}/versions/1/approve`, approver())).status, 'approve').toBe(200);
  } else {
    // The approval-queue consumer lists it asynchronously: wait, so its write lands before any counting.
    await waitFor(async () => {
      const res = await call('GET', '/approvals', approver());
      const list = (await res.json()) as unknown;
      return JSON.stringify(list).includes(templateId);
    });
  }
  return templateId;
}

async function outbox(): Promise<OutboxEntry[]> {
  return ((await (await fetch(`${baseUrl()}/dev/outbox?limit=500`)).json()) as { items: OutboxEntry[] }).items;
}

/** Waits until every message is in the local outbox (so no delivery is still writing when the test ends). */
async function allDelivered(messageIds: readonly string[]): Promise<Map<string, OutboxEntry>> {
  return waitFor(
    async () => {
      const entries = new Map((await outbox()).map((e) => [e.messageId, e]));
      return messageIds.every((id) => entries.has(id)) ? entries : false;
    },
    { timeoutMs: 20_000 },
  );
}

describe('POST /broadcasts', () => {
  it('queues an approved template to each customer paced by SMS segments per second, refusing the one who opted out', async () => {
    // Prepare
    const [ana, bob, cy] = [await smsCustomer(), await smsCustomer(), await smsCustomer()];
    expect((await sms(bob.phone, 'STOP')).status).toBe(200);
    const templateId = await template();
    const rate = Number(stackEnv().BROADCAST_RATE_SMS_PER_SECOND);
    const anaSegments = smsInfo(OUTAGE_SMS.replace('{{first_name}}', 'Ana')).segments;
    expect(anaSegments).toBe(2);
    const sender = agent();
    const startedAt = Date.now();
    // Act
    const res = await call('POST', '/broadcasts', sender, {
      templateId,
      channel: 'sms',
      customerIds: [ana.customerId, bob.customerId, cy.customerId],
      variables: { first_name: 'there' },
      perCustomerVariables: { [ana.customerId]: { first_name: 'Ana' }, [cy.customerId]: { first_name: 'Cy' } },
    });
    // Assess: the answer
    expect(res.status).toBe(202);
    const answer = (await res.json()) as BroadcastAnswer;
    expect(answer.broadcastId).toMatch(/^bc_[0-9a-f]{32}$/);
    expect(answer).toMatchObject({ templateId, version: 1, channel: 'sms' });
    expect(answer.accepted.map((a) => a.customerId)).toEqual([ana.customerId, cy.customerId]);
    expect(answer.refused).toEqual([{ customerId: bob.customerId, code: 'opted_out', message: expect.any(String) }]);
    const [first, second] = answer.accepted.map((a) => Date.parse(a.notBefore));
    expect(first).toBeGreaterThanOrEqual(startedAt - 1000);
    expect(first).toBeLessThanOrEqual(Date.now());
    // Ana's message takes 2 segment slots; Bob (opted out) takes none.
    expect(second! - first!).toBe(Math.floor(anaSegments / rate) * 1000);
    expect(second!).toBeGreaterThan(first!);
    // Assess: each thread holds its own message, tagged with the broadcast; the opted-out one holds none
    for (const [customer, accepted] of [[ana, answer.accepted[0]!], [cy, answer.accepted[1]!]] as const) {
      const outbound = (await allMessages(customer.conversationId)).filter((m) => m.direction === 'outbound');
      expect(outbound).toHaveLength(1);
      expect(outbound[0]).toMatchObject({ messageId: accepted.messageId, channel: 'sms', broadcastId: answer.broadcastId, notBefore: accepted.notBefore, templateId, sentBy: sender.sub });
    }
    expect((await allMessages(bob.conversationId)).filter((m) => m.direction === 'outbound')).toEqual([]);
    // Assess: the sender holds each message until its notBefore, then delivers it
    const delivered = await allDelivered(answer.accepted.map((a) => a.messageId));
    expect(delivered.get(answer.accepted[0]!.messageId)).toMatchObject({ to: ana.phone, body: OUTAGE_SMS.replace('{{first_name}}', 'Ana') });
    expect(delivered.get(answer.accepted[1]!.messageId)).toMatchObject({ to: cy.phone, body: OUTAGE_SMS.replace('{{first_name}}', 'Cy') });
    expect(Date.parse(delivered.get(answer.accepted[1]!.messageId)!.at)).toBeGreaterThanOrEqual(second!);
    // Assess: the broadcast is recorded with its counts
    const env = stackEnv();
    const { Item } = await dynamo(env).send(new GetCommand({ TableName: env.TABLE_NAME, Key: { pk: `BCAST#${answer.broadcastId}`, sk: 'META' } }));
    expect(Item).toMatchObject({ broadcastId: answer.broadcastId, templateId, version: 1, channel: 'sms', createdBy: sender.sub, accepted: 2, refused: 1 });
  });

  it('reports per-customer refusals (unknown customer, missing variable) and still sends to the others', async () => {
    // Prepare
    const [ana, bob] = [await smsCustomer(), await smsCustomer()];
    const templateId = await template();
    const unknown = `cus_${'0'.repeat(32)}`;
    // Act
    const res = await call('POST', '/broadcasts', agent(), {
      templateId,
      version: 1,
      channel: 'sms',
      customerIds: [unknown, ana.customerId, bob.customerId],
      perCustomerVariables: { [ana.customerId]: { first_name: 'Ana' } },
    });
    // Assess
    expect(res.status).toBe(202);
    const answer = (await res.json()) as BroadcastAnswer;
    expect(answer.accepted.map((a) => a.customerId)).toEqual([ana.customerId]);
    expect(answer.refused.map((r) => [r.customerId, r.code])).toEqual([
      [unknown, 'not_found'],
      [bob.customerId, 'missing_variable'],
    ]);
    expect(answer.refused[1]!.message).toContain('first_name');
    expect((await allMessages(bob.conversationId)).filter((m) => m.direction === 'outbound')).toEqual([]);
    await allDelivered(answer.accepted.map((a) => a.messageId));
  });

  it('refuses every customer (variable_too_long) when the broadcast-wide text is longer than the template lets an agent write, sending nothing unapproved', async () => {
    // Prepare
    const [ana, bob] = [await smsCustomer(), await smsCustomer()];
    const templateId = await template();
    // Act: one agent's free text for everybody, in a variable meant for a first name
    const res = await call('POST', '/broadcasts', agent(), {
      templateId,
      version: 1,
      channel: 'sms',
      customerIds: [ana.customerId, bob.customerId],
      variables: { first_name: `customers. Your account is locked: verify it at https://evil.example now. ${'!'.repeat(200)}` },
    });
    // Assess
    expect(res.status).toBe(202);
    const answer = (await res.json()) as BroadcastAnswer;
    expect(answer.accepted).toEqual([]);
    expect(answer.refused.map((r) => [r.customerId, r.code])).toEqual([
      [ana.customerId, 'variable_too_long'],
      [bob.customerId, 'variable_too_long'],
    ]);
    for (const c of [ana, bob]) expect((await allMessages(c.conversationId)).filter((m) => m.direction === 'outbound')).toEqual([]);
  });

  it('refuses an unapproved template with 409 before anything is queued', async () => {
    // Prepare
    const customer = await smsCustomer();
    const pending = await template({ approve: false });
    // Act / Assess
    await expectNothingWritten(async () => {
      for (const body of [
        { templateId: pending, channel: 'sms', customerIds: [customer.customerId], variables: { first_name: 'Jo' } },
        { templateId: pending, version: 1, channel: 'sms', customerIds: [customer.customerId], variables: { first_name: 'Jo' } },
      ]) {
        const res = await call('POST', '/broadcasts', agent(), body);
        await expectError(res.clone(), 409);
        expect(((await res.json()) as { error: { code: string } }).error.code).toBe('not_approved');
      }
    });
    expect((await allMessages(customer.conversationId)).filter((m) => m.direction === 'outbound')).toEqual([]);
  });

  it('answers 404 for an unknown template and 422 for a channel the template has no content for, queueing nothing', async () => {
    const customer = await smsCustomer();
    const templateId = await template();
    await expectNothingWritten(async () => {
      await expectError(await call('POST', '/broadcasts', agent(), { templateId: `tpl_${'0'.repeat(32)}`, channel: 'sms', customerIds: [customer.customerId] }), 404);
      const res = await call('POST', '/broadcasts', agent(), { templateId, channel: 'chat', customerIds: [customer.customerId], variables: { first_name: 'Jo' } });
      expect(res.status).toBe(422);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('channel_not_in_template');
    });
  });

  it.each([
    ['no customers', (_c: string, t: string) => ({ templateId: t, channel: 'sms', customerIds: [] as string[] })],
    ['a customer twice', (c: string, t: string) => ({ templateId: t, channel: 'sms', customerIds: [c, c] })],
    ['more than 1000 customers', (c: string, t: string) => ({ templateId: t, channel: 'sms', customerIds: Array.from({ length: 1001 }, (_, i) => `${c}-${i}`) })],
    ['an unknown channel', (c: string, t: string) => ({ templateId: t, channel: 'fax', customerIds: [c] })],
    ['variables for a customer not in the list', (c: string, t: string) => ({ templateId: t, channel: 'sms', customerIds: [c], perCustomerVariables: { other: { first_name: 'X' } } })],
    ['a non-string variable', (c: string, t: string) => ({ templateId: t, channel: 'sms', customerIds: [c], variables: { first_name: 3 } })],
  ])('refuses %s with 400 and writes nothing', async (_name, build) => {
    const customer = await smsCustomer();
    const templateId = await template();
    const body = build(customer.customerId, templateId);
    await expectNothingWritten(async () => expectError(await call('POST', '/broadcasts', agent(), body), 400));
  });

  it.each([
    ['broken JSON', '{"templateId": "tpl_', 'application/json'],
    ['an empty body', '', 'application/json'],
    ['a JSON body that is not an object', '["cus_1"]', 'application/json'],
  ])('refuses %s with 400 and writes nothing', async (_name, body, contentType) => {
    // Prepare
    const token = await staffToken(freshId('agent'), ['agent']);
    // Act / Assess
    await expectNothingWritten(async () => {
      const res = await fetch(`${baseUrl()}/broadcasts`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, body });
      await expectError(res.clone(), 400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('bad_request');
    });
  });

  it('refuses a body not sent as application/json with 415 and writes nothing', async () => {
    // Prepare: a body that would be accepted as JSON.
    const customer = await smsCustomer();
    const templateId = await template();
    const body = JSON.stringify({ templateId, channel: 'sms', customerIds: [customer.customerId], variables: { first_name: 'Jo' } });
    const token = await staffToken(freshId('agent'), ['agent']);
    const post = (headers: Record<string, string>, payload: string | Uint8Array) =>
      fetch(`${baseUrl()}/broadcasts`, { method: 'POST', headers: { authorization: `Bearer ${token}`, ...headers }, body: payload });
    // Act / Assess
    await expectNothingWritten(async () => {
      for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'text/json']) {
        const res = await post({ 'content-type': contentType }, body);
        await expectError(res.clone(), 415);
        expect(((await res.json()) as { error: { code: string } }).error.code, contentType).toBe('unsupported_media_type');
      }
      // No Content-Type at all (a byte body: fetch adds none).
      const res = await post({}, new TextEncoder().encode(body));
      await expectError(res.clone(), 415);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('unsupported_media_type');
    });
    expect((await allMessages(customer.conversationId)).filter((m) => m.direction === 'outbound')).toEqual([]);
  });

  it('is for agents and admins: 401 without a token, 403 for an editor or an approver', async () => {
    // Prepare
    const customer = await smsCustomer();
    const templateId = await template();
    const body = { templateId, channel: 'sms', customerIds: [customer.customerId], variables: { first_name: 'Jo' } };
    // Act / Assess
    await expectNothingWritten(async () => {
      await expectError(await call('POST', '/broadcasts', null, body), 401);
      await expectError(await call('POST', '/broadcasts', editor(), body), 403);
      await expectError(await call('POST', '/broadcasts', approver(), body), 403);
    });
    const admin = await call('POST', '/broadcasts', { sub: freshId('admin'), roles: ['admin'] }, body);
    expect(admin.status).toBe(202);
    const answer = (await admin.json()) as BroadcastAnswer;
    expect(answer.accepted.map((a) => a.customerId)).toEqual([customer.customerId]);
    await allDelivered(answer.accepted.map((a) => a.messageId));
  });
});
