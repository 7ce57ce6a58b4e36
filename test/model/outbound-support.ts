import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { baseUrl, postChat, stackEnv, staffToken, waitFor } from '#test/helpers/index.ts';

/**
 * Helpers shared by the sending, status-callback and model tests: staff calls over HTTP, customers made
 * by inbound webhooks, templates taken through the real approval routes, and the local outbox.
 */

export type Json = Record<string, unknown>;
export type Staff = { sub: string; roles: string[] };

export const freshSub = (prefix: string) => `${prefix}-${randomBytes(5).toString('hex')}`;
export const editor = (sub = freshSub('editor')): Staff => ({ sub, roles: ['editor'] });
export const approver = (sub = freshSub('approver')): Staff => ({ sub, roles: ['approver'] });
export const agent = (sub = freshSub('agent')): Staff => ({ sub, roles: ['agent'] });

/** A staff call over HTTP; `body` is sent as JSON (a string as is). */
export async function call(method: 'GET' | 'POST', path: string, as: Staff | null, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (as) headers.authorization = `Bearer ${await staffToken(as.sub, as.roles)}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${baseUrl()}${path}`, { method, headers, ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}) });
}

export async function jsonOf<T = Json>(res: Response, status: number): Promise<T> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return JSON.parse(text) as T;
}

/** The `{code, message}` of an error answer with that status. */
export async function errorOf(res: Response, status: number): Promise<{ code: string; message: string }> {
  return (await jsonOf<{ error: { code: string; message: string } }>(res, status)).error;
}

let counter = 0;

/**
 * A new customer reached over every channel: a signed chat message that links a fresh phone and email to
 * a fresh chat user. Returns its ids and addresses.
 */
export async function newCustomer(options: { phone?: boolean; email?: boolean } = {}): Promise<{
  conversationId: string;
  customerId: string;
  chatUserId: string;
  phone?: string;
  email?: string;
}> {
  const tag = `${randomBytes(5).toString('hex')}${counter++}`;
  const chatUserId = `user-${tag}`;
  const phone = options.phone === false ? undefined : `+1628${String(Number.parseInt(randomBytes(3).toString('hex'), 16) % 10_000_000).padStart(7, '0')}`;
  const email = options.email === false ? undefined : `customer-${tag}@example.com`;
  const res = await postChat(
    baseUrl(),
    { messageId: `m-${tag}`, userId: chatUserId, text: 'Hello', sentAt: new Date().toISOString(), ...(phone ? { phone } : {}), ...(email ? { email } : {}) },
    { secret: stackEnv().CHAT_WEBHOOK_SECRET },
  );
  const { conversationId } = await jsonOf<{ conversationId: string }>(res, 200);
  return { conversationId, customerId: `cus_${conversationId.slice('conv_'.length)}`, chatUserId, ...(phone ? { phone } : {}), ...(email ? { email } : {}) };
}

export const smsDraft = (marker: string) => ({
  name: `Outage notice ${marker}`,
  variables: [
    { name: 'name', required: true },
    { name: 'eta', required: false },
  ],
  content: {
    sms: { body: `[${marker}] Hi {{name}}, service is restored{{eta}}.` },
    email: { subject: `[${marker}] Service update`, text: `Hi {{name}}, service is restored{{eta}}.`, html: `<p>Hi {{name}}, service is restored{{eta}}.</p>` },
    chat: { body: `[${marker}] Hi {{name}}, service is restored{{eta}}.` },
    voice: { say: `Hello {{name}}. Service is restored.` },
  },
});

export type TemplateRef = { templateId: string; version: number; contentHash: string };

/** Creates a template (version 1, draft) as `author`. */
export async function createTemplate(author: Staff, draft: unknown): Promise<TemplateRef> {
  const created = await jsonOf<{ templateId: string; version: number; contentHash: string }>(await call('POST', '/templates', author, draft), 201);
  return { templateId: created.templateId, version: created.version, contentHash: created.contentHash };
}

/** A template whose version 1 is approved: one editor writes and submits it, a different approver approves. */
export async function approvedTemplate(draft: unknown = smsDraft(randomBytes(4).toString('hex'))): Promise<TemplateRef & { author: Staff; approver: Staff }> {
  const author = editor();
  const decider = approver();
  const ref = await createTemplate(author, draft);
  await jsonOf(await call('POST', `/templates/${ref.templateId}/versions/1/submit`, author), 200);
  await jsonOf(await call('POST', `/templates/${ref.templateId}/versions/1/approve`, decider), 200);
  return { ...ref, author, approver: decider };
}

/** `POST /conversations/{id}/messages` as an agent. */
export function send(conversationId: string, body: unknown, as: Staff = agent()): Promise<Response> {
  return call('POST', `/conversations/${conversationId}/messages`, as, body);
}

/** Every message of a conversation, following cursors. */
export async function thread(conversationId: string): Promise<Json[]> {
  const items: Json[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: Json[]; nextCursor: string | null } = await jsonOf(
      await call('GET', `/conversations/${conversationId}/messages?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, agent()),
      200,
    );
    items.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return items;
}

export async function messageIn(conversationId: string, messageId: string): Promise<Json | undefined> {
  return (await thread(conversationId)).find((m) => m.messageId === messageId);
}

/** Waits until the message's status is one of `statuses` and returns it. */
export async function waitForStatus(conversationId: string, messageId: string, statuses: string | string[], timeoutMs = 15_000): Promise<Json> {
  const wanted = Array.isArray(statuses) ? statuses : [statuses];
  return waitFor(
    async () => {
      const message = await messageIn(conversationId, messageId);
      expect(message?.status, `status of ${messageId}`).toBeOneOf(wanted);
      return message!;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

export type OutboxEntry = { messageId: string; conversationId: string; channel: string; to: string; body: string; subject?: string; html?: string; headers?: Record<string, string>; at: string };

/** What the local outbox recorded (newest first), for one conversation when given. */
export async function outbox(conversationId?: string): Promise<OutboxEntry[]> {
  const { items } = await jsonOf<{ items: OutboxEntry[] }>(await fetch(`${baseUrl()}/dev/outbox?limit=500`), 200);
  return conversationId ? items.filter((e) => e.conversationId === conversationId) : items;
}
