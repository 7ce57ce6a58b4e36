import { randomUUID } from 'node:crypto';
import { access, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ScanCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, inject, it } from 'vitest';
import fc from 'fast-check';
import type { Message } from '#shared/domain/message.ts';
import { contentAddressedKey } from '#shared/ports/blob-store.ts';
import { staffToken } from '#test/helpers/auth.ts';
import { dynamo } from '#test/helpers/dynamo.ts';
import { applyMutations } from '#test/helpers/hostile.ts';
import { basicAuth } from '#test/helpers/sendgrid.ts';
import {
  buildMultipart,
  hostileFieldsMail,
  multipartMutation,
  randomContentType,
  randomMultipartBody,
  sampleEmail,
  SENDGRID_CONTENT_TYPE,
} from '#test/unit/email/sendgrid-multipart.ts';
import { expectClientError, writeWatch } from './support.ts';

const baseUrl = inject('baseUrl');
const env = inject('env');
const url = `${baseUrl}/webhooks/sendgrid/inbound`;
const auth = basicAuth('inbound', env.SENDGRID_INBOUND_SECRET);

/** A mail from a sender no other test uses, with its own Message-ID and a PDF attachment. */
function freshMail() {
  const tag = randomUUID();
  const sender = `jane.${tag}@example.com`;
  const messageId = `<${tag}@mail.example.com>`;
  const pdf = Buffer.from(`%PDF-1.4 invoice ${tag}`);
  const { body, contentType } = buildMultipart({
    fields: sampleEmail({
      from: `"Jane Doe" <${sender.toUpperCase()}>`,
      subject: `Order ${tag} is late`,
      headers: `Date: Tue, 3 Jun 2025 05:42:51 +0100\r\nMessage-ID: ${messageId}\r\nIn-Reply-To: <prev-${tag}@support.example.net>\r\nReferences: <root-${tag}@support.example.net>\r\n <prev-${tag}@support.example.net>\r\n`,
      attachments: '1',
      'attachment-info': JSON.stringify({ attachment1: { filename: 'Invoice 42.pdf', name: 'Invoice 42.pdf', type: 'application/pdf' } }),
    }),
    files: [{ field: 'attachment1', filename: 'Invoice 42.pdf', contentType: 'application/pdf', content: pdf }],
  });
  return { tag, sender, messageId, pdf, body, contentType };
}

async function post(body: Uint8Array, headers: Record<string, string>) {
  return fetch(url, { method: 'POST', headers, body });
}

async function staffGet<T>(path: string): Promise<{ status: number; body: T }> {
  const token = await staffToken('agent-email-test', ['agent']);
  const res = await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: res.status, body: (await res.json()) as T };
}

/**
 * Items that mention `marker` anywhere. The table is shared by test files running in parallel, so a
 * "nothing written" check looks for what this request would have written (its unique sender and
 * subject) rather than comparing global counts another file may change meanwhile.
 */
async function itemsMentioning(marker: string): Promise<number> {
  let found = 0;
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo(env).send(new ScanCommand({ TableName: env.TABLE_NAME, ExclusiveStartKey: startKey }));
    found += (page.Items ?? []).filter((item) => JSON.stringify(item).toLowerCase().includes(marker.toLowerCase())).length;
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return found;
}

describe('POST /webhooks/sendgrid/inbound through the local stack', () => {
  it('puts the mail, its subject and attachment in the sender’s thread; a retry adds nothing', async () => {
    // Prepare
    const mail = freshMail();

    // Act
    const res = await post(mail.body, { 'content-type': mail.contentType, authorization: auth });
    const first = (await res.json()) as { conversationId: string; messageId: string };
    const itemsAfterFirst = await itemsMentioning(mail.tag);
    const retry = await post(mail.body, { 'content-type': mail.contentType, authorization: auth });

    // Assess
    expect(res.status).toBe(200);
    expect(retry.status).toBe(200);
    expect(await retry.json()).toEqual(first);
    expect(itemsAfterFirst).toBeGreaterThan(0);
    expect(await itemsMentioning(mail.tag)).toBe(itemsAfterFirst);

    const customer = await staffGet<{ conversationId: string }>(`/customers?email=${encodeURIComponent(mail.sender)}`);
    expect(customer.status).toBe(200);
    expect(customer.body.conversationId).toBe(first.conversationId);

    const thread = await staffGet<{ items: Message[] }>(`/conversations/${first.conversationId}/messages`);
    expect(thread.body.items).toHaveLength(1);
    const [message] = thread.body.items;
    expect(message).toMatchObject({
      messageId: first.messageId,
      channel: 'email',
      direction: 'inbound',
      subject: `Order ${mail.tag} is late`,
      body: 'Hello, my order has not arrived.\n',
      attachments: [{ name: 'Invoice 42.pdf', contentType: 'application/pdf', size: mail.pdf.length, status: 'stored' }],
      email: {
        messageId: mail.messageId,
        inReplyTo: `<prev-${mail.tag}@support.example.net>`,
        references: [`<root-${mail.tag}@support.example.net>`, `<prev-${mail.tag}@support.example.net>`],
      },
    });
    const storageKey = message!.attachments![0]!.storageKey!;
    expect(await readFile(join(env.ATTACHMENTS_DIR, storageKey))).toEqual(mail.pdf);
  });

  it('stores one message when copies of a delivery arrive at once', async () => {
    // Prepare
    const mail = freshMail();

    // Act
    const answers = await Promise.all([1, 2, 3].map(() => post(mail.body, { 'content-type': mail.contentType, authorization: auth })));
    const bodies = (await Promise.all(answers.map((r) => r.json()))) as Array<{ conversationId: string; messageId: string }>;

    // Assess
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(new Set(bodies.map((b) => `${b.conversationId}/${b.messageId}`)).size).toBe(1);
    const thread = await staffGet<{ items: Message[] }>(`/conversations/${bodies[0]!.conversationId}/messages`);
    expect(thread.body.items).toHaveLength(1);
  });

  describe('sender authentication (SPF / DKIM)', () => {
    /** A mail from a fresh `example.com` sender with the given verdict fields; `headers` signs with `signers`. */
    function mailWith(verdicts: { SPF?: string; dkim?: string; envelopeFrom?: string; signers?: string[] }) {
      const tag = randomUUID();
      const sender = `jane.${tag}@example.com`;
      const signatures = (verdicts.signers ?? []).map((d) => `DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n d=${d}; s=s1; h=from:to; bh=abc=; b=def=\r\n`).join('');
      const fields = sampleEmail({
        from: `"Jane Doe" <${sender}>`,
        subject: `Auth ${tag}`,
        headers: `${signatures}Message-ID: <${tag}@mail.example.com>\r\n`,
        envelope: JSON.stringify({ to: ['support@inbound.example.net'], from: verdicts.envelopeFrom ?? 'bounce@unrelated.example' }),
      });
      delete fields.SPF;
      delete fields.dkim;
      if (verdicts.SPF !== undefined) fields.SPF = verdicts.SPF;
      if (verdicts.dkim !== undefined) fields.dkim = verdicts.dkim;
      return buildMultipart({ fields });
    }

    async function storedAuthentication(mail: { body: Buffer; contentType: string }) {
      const res = await post(mail.body, { 'content-type': mail.contentType, authorization: auth });
      expect(res.status).toBe(200);
      const { conversationId, messageId } = (await res.json()) as { conversationId: string; messageId: string };
      const thread = await staffGet<{ items: Message[] }>(`/conversations/${conversationId}/messages`);
      expect(thread.status).toBe(200);
      return thread.body.items.find((m) => m.messageId === messageId)?.email?.authentication;
    }

    const cases: Array<[string, Parameters<typeof mailWith>[0], boolean]> = [
      ['DKIM pass by the From domain', { SPF: 'fail', dkim: '{@example.com : pass}', signers: ['example.com'] }, true],
      ['DKIM pass by another domain only', { SPF: 'softfail', dkim: '{@sendgrid.net : pass}', signers: ['sendgrid.net'] }, false],
      ['SPF pass with an envelope sender of the From domain', { SPF: 'pass', dkim: 'none', envelopeFrom: 'bounces@example.com' }, true],
      ['SPF pass with an envelope sender of another domain', { SPF: 'pass', dkim: 'none', envelopeFrom: 'bounces@attacker.example' }, false],
      ['SPF fail and DKIM none', { SPF: 'fail', dkim: 'none', envelopeFrom: 'bounces@example.com' }, false],
      ['SPF none and DKIM none', { SPF: 'none', dkim: 'none', envelopeFrom: 'bounces@example.com' }, false],
      ['garbage SPF and dkim', { SPF: '\u0000p@ss; DROP', dkim: '{@example.com : pass', envelopeFrom: 'bounces@example.com', signers: ['example.com'] }, false],
      ['no SPF nor dkim field at all', {}, false],
    ];

    it.each(cases)('%s → 200, stored with senderVerified %s and visible in the messages API', async (_label, verdicts, verified) => {
      // Prepare
      const mail = mailWith(verdicts);

      // Act
      const authentication = await storedAuthentication(mail);

      // Assess
      expect(authentication?.senderVerified).toBe(verified);
      expect(Array.isArray(authentication?.dkim)).toBe(true);
    });

    it('shows staff the whole record: SPF result and every DKIM verdict', async () => {
      // Prepare
      const mail = mailWith({ SPF: 'Pass', dkim: '{@example.com : pass, @sendgrid.net : fail}', envelopeFrom: 'bounces@example.com', signers: ['example.com', 'sendgrid.net'] });

      // Act
      const authentication = await storedAuthentication(mail);

      // Assess
      expect(authentication).toEqual({
        spf: 'pass',
        dkim: [
          { domain: 'example.com', result: 'pass' },
          { domain: 'sendgrid.net', result: 'fail' },
        ],
        senderVerified: true,
      });
    });
  });

  describe('refuses bad requests and writes nothing', () => {
    const cases: Array<[string, (mail: ReturnType<typeof freshMail>) => { body: Uint8Array; headers: Record<string, string> }, number, string]> = [
      ['missing credentials', (m) => ({ body: m.body, headers: { 'content-type': m.contentType } }), 401, 'unauthenticated'],
      ['a wrong user', (m) => ({ body: m.body, headers: { 'content-type': m.contentType, authorization: basicAuth('admin', env.SENDGRID_INBOUND_SECRET) } }), 403, 'forbidden'],
      ['a wrong password', (m) => ({ body: m.body, headers: { 'content-type': m.contentType, authorization: basicAuth('inbound', `${env.SENDGRID_INBOUND_SECRET}x`) } }), 403, 'forbidden'],
      ['a truncated multipart body', (m) => ({ body: m.body.subarray(0, m.body.length - 40), headers: { 'content-type': m.contentType, authorization: auth } }), 400, 'bad_request'],
      ['a multipart without boundary', (m) => ({ body: m.body, headers: { 'content-type': 'multipart/form-data', authorization: auth } }), 400, 'bad_request'],
      ['a JSON body', (m) => ({ body: m.body, headers: { 'content-type': 'application/json', authorization: auth } }), 415, 'unsupported_media_type'],
      [
        'a text part over the 2 MiB field cap',
        (m) => {
          const big = buildMultipart({ fields: sampleEmail({ from: m.sender, subject: `Order ${m.tag}`, text: 'x'.repeat(3 * 1024 * 1024) }) });
          return { body: big.body, headers: { 'content-type': big.contentType, authorization: auth } };
        },
        413,
        'payload_too_large',
      ],
    ];

    it.each(cases)('%s → %i', async (_label, build, status, code) => {
      // Prepare
      const mail = freshMail();
      const { body, headers } = build(mail);

      // Act
      const res = await post(body, headers);

      // Assess
      expect(res.status).toBe(status);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
      if (status === 401) expect(res.headers.get('www-authenticate')).toBe('Basic realm="inbound"');
      expect(await itemsMentioning(mail.tag)).toBe(0);
      expect((await staffGet(`/customers?email=${encodeURIComponent(mail.sender)}`)).status).toBe(404);
      await expect(access(join(env.ATTACHMENTS_DIR, contentAddressedKey(mail.pdf, 'Invoice 42.pdf')))).rejects.toThrow(/ENOENT/);
    });
  });

  describe('random and mutated bodies (property)', () => {
    /** Files in the blob store: attachments are written before the message, so a refusal after them would leave some. */
    async function storedFiles(): Promise<number> {
      try {
        return (await readdir(env.ATTACHMENTS_DIR, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).length;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
        throw err;
      }
    }

    it('answers random and mutated multipart bodies with 200 and the ids or a 4xx JSON error, never a 5xx; a refused one writes nothing', async () => {
      // Prepare
      const mail = freshMail();
      const sample = fc.oneof(
        { arbitrary: fc.array(multipartMutation, { minLength: 1, maxLength: 4 }).map((ms) => ({ body: applyMutations(mail.body, ms), contentType: mail.contentType })), weight: 3 },
        { arbitrary: randomMultipartBody.map((body) => ({ body, contentType: SENDGRID_CONTENT_TYPE })), weight: 1 },
        // fetch refuses header values with control or non-Latin-1 characters before sending.
        { arbitrary: randomContentType.filter((t) => /^[\x20-\x7e]*$/.test(t)).map((contentType) => ({ body: mail.body, contentType })), weight: 1 },
        { arbitrary: hostileFieldsMail, weight: 2 },
      );
      // Mostly valid credentials, so that samples reach the parser.
      const authorization = fc.oneof(
        { arbitrary: fc.constant<string | undefined>(auth), weight: 8 },
        { arbitrary: fc.constantFrom(undefined, basicAuth('inbound', `${env.SENDGRID_INBOUND_SECRET}x`), basicAuth('admin', env.SENDGRID_INBOUND_SECRET), 'Basic !!!', 'Bearer x'), weight: 1 },
      );
      const wrote = await writeWatch();
      let files = await storedFiles();

      await fc.assert(
        fc.asyncProperty(sample, authorization, async ({ body, contentType }, authHeader) => {

          // Act
          const res = await post(body, { 'content-type': contentType, ...(authHeader === undefined ? {} : { authorization: authHeader }) });

          // Assess
          let refused = true;
          if (res.status === 200) {
            refused = false;
            const ids = (await res.json()) as { conversationId: string; messageId: string };
            expect(ids.conversationId).toMatch(/^conv_/);
            expect(ids.messageId).toMatch(/^msg_/);
          } else {
            await expectClientError(res);
          }
          if (authHeader !== auth) expect(refused).toBe(true);
          await wrote(refused);
          const nowFiles = await storedFiles();
          if (refused) expect(nowFiles - files, 'files stored by a refused request').toBe(0);
          files = nowFiles;
        }),
        { numRuns: 150 },
      );
    });
  });
});
