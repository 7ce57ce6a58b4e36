import { describe, expect, it } from 'vitest';
import { baseUrl, staffToken, waitFor } from '#test/helpers/index.ts';
import { expectError, expectNothingWritten, freshId } from './support.ts';

type Json = Record<string, unknown>;
type VersionView = {
  version: number;
  status: string;
  name: string;
  locale?: string;
  variables: Array<{ name: string; required: boolean }>;
  content: Json;
  contentHash: string;
  author: string;
  createdAt: string;
  submittedAt?: string;
};
type TemplateView = { templateId: string; name: string; latestVersion: number; versions: VersionView[] };

/** A staff call over HTTP; `body` is sent as JSON (a string is sent as is). */
async function call(method: 'GET' | 'POST', path: string, as: { sub: string; roles: string[] } | null, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (as) headers.authorization = `Bearer ${await staffToken(as.sub, as.roles)}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${baseUrl()}${path}`, { method, headers, ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}) });
}

const editor = (sub = freshId('editor')) => ({ sub, roles: ['editor'] });
const approver = (sub = freshId('approver')) => ({ sub, roles: ['approver'] });
const agent = (sub = freshId('agent')) => ({ sub, roles: ['agent'] });

function draft(overrides: Json = {}): Json {
  return {
    name: 'Outage notice',
    locale: 'en-GB',
    variables: [
      { name: 'first_name', required: true },
      { name: 'eta', required: false },
    ],
    content: {
      sms: { body: 'Hi {{first_name}}, service is restored by {{eta}}.' },
      email: { subject: 'Service update', text: 'Hi {{first_name}}, back by {{eta}}.', html: '<p>Hi {{first_name}}</p>' },
    },
    ...overrides,
  };
}

async function createTemplate(as = editor(), body: Json = draft()): Promise<{ templateId: string; version: number; status: string; contentHash: string }> {
  const res = await call('POST', '/templates', as, body);
  expect(res.status, 'POST /templates').toBe(201);
  return (await res.json()) as never;
}

async function getTemplate(templateId: string, as = agent()): Promise<TemplateView> {
  const res = await call('GET', `/templates/${templateId}`, as);
  expect(res.status, `GET /templates/${templateId}`).toBe(200);
  return (await res.json()) as TemplateView;
}

async function errorOf(res: Response, status: number): Promise<{ code: string; message: string }> {
  expect(res.status).toBe(status);
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}

describe('templates', () => {
  describe('POST /templates', () => {
    it('creates a template whose version 1 is a draft authored by the caller, and GET shows it', async () => {
      // Prepare
      const alice = editor();
      // Act
      const created = await createTemplate(alice);
      // Assess
      expect(created.templateId).toMatch(/^tpl_[0-9a-f]{32}$/);
      expect(created).toMatchObject({ version: 1, status: 'draft' });
      expect(created.contentHash).toMatch(/^[0-9a-f]{64}$/);
      const template = await getTemplate(created.templateId);
      expect(template).toMatchObject({ templateId: created.templateId, name: 'Outage notice', latestVersion: 1 });
      expect(template.versions).toHaveLength(1);
      expect(template.versions[0]).toMatchObject({
        version: 1,
        status: 'draft',
        name: 'Outage notice',
        locale: 'en-GB',
        author: alice.sub,
        contentHash: created.contentHash,
        variables: draft().variables,
        content: draft().content,
      });
      expect(Date.parse(template.versions[0]!.createdAt)).not.toBeNaN();
    });

    it('gives the same content the same hash and different content another', async () => {
      const a = await createTemplate();
      const b = await createTemplate();
      const c = await createTemplate(editor(), draft({ content: { sms: { body: 'Hi {{first_name}}!' } } }));
      expect(a.templateId).not.toBe(b.templateId);
      expect(a.contentHash).toBe(b.contentHash);
      expect(c.contentHash).not.toBe(a.contentHash);
    });

    it('refuses an undeclared placeholder with 422 naming it, and writes nothing', async () => {
      await expectNothingWritten(async () => {
        const res = await call('POST', '/templates', editor(), draft({ content: { sms: { body: 'Hi {{first_name}}, your code is {{otp_code}}' } } }));
        const error = await errorOf(res, 422);
        expect(error.code).toBe('undeclared_placeholder');
        expect(error.message).toContain('otp_code');
      });
    });

    it('refuses the variable name __proto__ (a send could never fill it in) with 422, and writes nothing', async () => {
      await expectNothingWritten(async () => {
        const res = await call('POST', '/templates', editor(), draft({ variables: [{ name: '__proto__', required: true }], content: { sms: { body: 'Hi {{__proto__}}' } } }));
        expect((await errorOf(res, 422)).code).toBe('invalid_variable');
      });
    });

    it.each([
      ['not JSON', '{"name":'],
      ['an empty body', ''],
      ['a JSON array', '[]'],
      ['no content', JSON.stringify({ name: 'x', variables: [] })],
      ['variables not a list', JSON.stringify(draft({ variables: 'first_name' }))],
      ['an unknown field', JSON.stringify(draft({ owner: 'me' }))],
      ['an empty name', JSON.stringify(draft({ name: '' }))],
      ['an sms without a body', JSON.stringify(draft({ content: { sms: {} } }))],
    ])('refuses %s with 400 and writes nothing', async (_what, body) => {
      await expectNothingWritten(async () => {
        await expectError(await call('POST', '/templates', editor(), body), 400);
      });
    });

    it('refuses with 413, writing nothing, a draft too big to store though each field is within its length (non-Latin html: 3 bytes a character)', async () => {
      // 140,000 CJK characters: under the html field's 200,000, about 420 KB in UTF-8, over DynamoDB's 400 KB item.
      const big = draft({ content: { email: { subject: 'お知らせ', text: 'Hi {{first_name}}', html: `<p>${'障'.repeat(140_000)}</p>` } } });
      const { templateId } = await createTemplate();
      await expectNothingWritten(async () => {
        expect((await errorOf(await call('POST', '/templates', editor(), big), 413)).code).toBe('payload_too_large');
        expect((await errorOf(await call('POST', `/templates/${templateId}/versions`, editor(), big), 413)).code).toBe('payload_too_large');
      });
    });

    it('stores, submits and approves a large non-Latin draft that fits (its approval adds to the same item)', async () => {
      // 95,000 CJK characters: about 285 KB in UTF-8.
      const large = draft({ content: { email: { subject: 'お知らせ', text: 'Hi {{first_name}}', html: `<p>${'障'.repeat(95_000)}</p>` } } });
      const alice = editor();
      const { templateId } = await createTemplate(alice, large);
      expect((await call('POST', `/templates/${templateId}/versions/1/submit`, alice)).status).toBe(200);
      const bob = approver();
      expect((await call('POST', `/templates/${templateId}/versions/1/approve`, bob)).status).toBe(200);
      expect((await getTemplate(templateId)).versions[0]).toMatchObject({ status: 'approved' });
    });

    it('requires a token (401) and the editor role (403)', async () => {
      await expectNothingWritten(async () => {
        await expectError(await call('POST', '/templates', null, draft()), 401);
        await expectError(await call('POST', '/templates', agent(), draft()), 403);
        await expectError(await call('POST', '/templates', approver(), draft()), 403);
      });
    });
  });

  describe('GET /templates/{id}', () => {
    it('is open to editors, approvers and agents; 404 for unknown or malformed ids', async () => {
      const { templateId } = await createTemplate();
      for (const as of [editor(), approver(), agent()]) expect((await call('GET', `/templates/${templateId}`, as)).status).toBe(200);
      await expectError(await call('GET', `/templates/${templateId}`, null), 401);
      await expectError(await call('GET', `/templates/${templateId}`, { sub: 'x', roles: [] }), 403);
      await expectError(await call('GET', `/templates/tpl_${'0'.repeat(32)}`, agent()), 404);
      await expectError(await call('GET', '/templates/not-a-template', agent()), 404);
    });
  });

  describe('POST /templates/{id}/versions', () => {
    it('adds a new draft version and leaves the earlier ones as they were', async () => {
      // Prepare
      const alice = editor();
      const bob = editor();
      const v1 = await createTemplate(alice);
      const before = (await getTemplate(v1.templateId)).versions[0];
      // Act
      const res = await call('POST', `/templates/${v1.templateId}/versions`, bob, draft({ name: 'Outage notice (short)', content: { sms: { body: 'Back soon, {{first_name}}.' } } }));
      // Assess
      expect(res.status).toBe(201);
      const v2 = (await res.json()) as Json;
      expect(v2).toMatchObject({ templateId: v1.templateId, version: 2, status: 'draft' });
      expect(v2.contentHash).not.toBe(v1.contentHash);
      const template = await getTemplate(v1.templateId);
      expect(template).toMatchObject({ latestVersion: 2, name: 'Outage notice (short)' });
      expect(template.versions.map((v) => [v.version, v.author, v.status])).toEqual([
        [1, alice.sub, 'draft'],
        [2, bob.sub, 'draft'],
      ]);
      expect(template.versions[0]).toEqual(before);
    });

    it('gives concurrent new versions distinct consecutive numbers', async () => {
      const { templateId } = await createTemplate();
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => call('POST', `/templates/${templateId}/versions`, editor(), draft({ name: `Edit ${i}` }))));
      expect(results.map((r) => r.status)).toEqual(Array(6).fill(201));
      const numbers = await Promise.all(results.map(async (r) => ((await r.json()) as { version: number }).version));
      expect([...numbers].sort((a, b) => a - b)).toEqual([2, 3, 4, 5, 6, 7]);
      const template = await getTemplate(templateId);
      expect(template.latestVersion).toBe(7);
      expect(template.versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    });

    it('answers 404 for an unknown template, 422/400 for a bad draft, 403 for non-editors, writing nothing', async () => {
      const { templateId } = await createTemplate();
      await expectNothingWritten(async () => {
        await expectError(await call('POST', `/templates/tpl_${'f'.repeat(32)}/versions`, editor(), draft()), 404);
        await expectError(await call('POST', '/templates/nope/versions', editor(), draft()), 404);
        expect((await errorOf(await call('POST', `/templates/${templateId}/versions`, editor(), draft({ content: { chat: { body: '{{who}}' } } })), 422)).message).toContain('who');
        await expectError(await call('POST', `/templates/${templateId}/versions`, editor(), '{'), 400);
        await expectError(await call('POST', `/templates/${templateId}/versions`, approver(), draft()), 403);
      });
    });
  });

  describe('POST /templates/{id}/versions/{v}/submit', () => {
    it('moves a draft to pending_approval; the submitted version never changes, an edit is a new version', async () => {
      // Prepare
      const alice = editor();
      const v1 = await createTemplate(alice);
      // Act
      const res = await call('POST', `/templates/${v1.templateId}/versions/1/submit`, alice);
      // Assess
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ templateId: v1.templateId, version: 1, status: 'pending_approval', contentHash: v1.contentHash });
      const submitted = (await getTemplate(v1.templateId)).versions[0]!;
      expect(submitted).toMatchObject({ status: 'pending_approval', contentHash: v1.contentHash });
      expect(Date.parse(submitted.submittedAt!)).not.toBeNaN();

      const edit = await call('POST', `/templates/${v1.templateId}/versions`, alice, draft({ content: { sms: { body: 'Changed: {{first_name}}' } } }));
      expect(edit.status).toBe(201);
      const template = await getTemplate(v1.templateId);
      expect(template.versions).toHaveLength(2);
      expect(template.versions[0]).toEqual(submitted);
      expect(template.versions[1]).toMatchObject({ version: 2, status: 'draft' });
      expect(template.versions[1]!.contentHash).not.toBe(v1.contentHash);
    });

    it('answers the same when a pending version is submitted again, and records one submission', async () => {
      const alice = editor();
      const { templateId, contentHash } = await createTemplate(alice);
      expect((await call('POST', `/templates/${templateId}/versions/1/submit`, alice)).status).toBe(200);
      const again = await call('POST', `/templates/${templateId}/versions/1/submit`, editor());
      expect(again.status).toBe(200);
      expect(await again.json()).toEqual({ templateId, version: 1, status: 'pending_approval', contentHash });
      await waitFor(async () => {
        const audit = (await (await call('GET', `/templates/${templateId}/audit`, alice)).json()) as Array<{ action: string }>;
        expect(audit.map((e) => e.action)).toEqual(['created', 'submitted', 'queued_for_approval']);
        return true;
      });
    });

    it('refuses to submit a version that is no longer a draft (409 not_draft)', async () => {
      const alice = editor();
      const { templateId } = await createTemplate(alice);
      expect((await call('POST', `/templates/${templateId}/versions/1/submit`, alice)).status).toBe(200);
      expect((await call('POST', `/templates/${templateId}/versions/1/reject`, approver(), { reason: 'Tone' })).status).toBe(200);
      const before = await (await call('GET', `/templates/${templateId}`, alice)).json();
      await expectNothingWritten(async () => {
        const error = await errorOf(await call('POST', `/templates/${templateId}/versions/1/submit`, alice), 409);
        expect(error.code).toBe('not_draft');
      });
      expect(await (await call('GET', `/templates/${templateId}`, alice)).json()).toEqual(before);
    });

    it('answers 404 for an unknown version or template, 400 for a version that is not a positive integer, 403 for non-editors', async () => {
      const { templateId } = await createTemplate();
      await expectNothingWritten(async () => {
        await expectError(await call('POST', `/templates/${templateId}/versions/2/submit`, editor()), 404);
        await expectError(await call('POST', `/templates/tpl_${'a'.repeat(32)}/versions/1/submit`, editor()), 404);
        for (const bad of ['0', '-1', 'abc', '1.5', '1e3', '0001']) await expectError(await call('POST', `/templates/${templateId}/versions/${bad}/submit`, editor()), 400);
        await expectError(await call('POST', `/templates/${templateId}/versions/1/submit`, agent()), 403);
        await expectError(await call('POST', `/templates/${templateId}/versions/1/submit`, approver()), 403);
      });
      expect((await getTemplate(templateId)).versions[0]!.status).toBe('draft');
    });
  });

  describe('POST /templates/{id}/versions/{v}/preview', () => {
    it('renders the SMS and shows its encoding and segment count', async () => {
      const { templateId } = await createTemplate();
      const res = await call('POST', `/templates/${templateId}/versions/1/preview`, agent(), { channel: 'sms', variables: { first_name: 'Ada', eta: '18:00' } });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({
        channel: 'sms',
        rendered: { body: 'Hi Ada, service is restored by 18:00.' },
        sms: { encoding: 'GSM-7', segments: 1, characters: 37 },
      });
    });

    it('shows UCS-2 and more segments when a value needs it', async () => {
      const { templateId } = await createTemplate();
      const res = await call('POST', `/templates/${templateId}/versions/1/preview`, editor(), { channel: 'sms', variables: { first_name: 'Zoë 🙂', eta: 'x'.repeat(60) } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { sms: { encoding: string; segments: number } };
      expect(body.sms.encoding).toBe('UCS-2');
      expect(body.sms.segments).toBe(2);
    });

    it('renders email with the values html-escaped in the html part and never re-expanded', async () => {
      const { templateId } = await createTemplate();
      const res = await call('POST', `/templates/${templateId}/versions/1/preview`, approver(), { channel: 'email', variables: { first_name: '<b>{{eta}}</b>' } });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { rendered: Json; sms?: unknown };
      expect(body.rendered).toEqual({ body: 'Hi <b>{{eta}}</b>, back by .', subject: 'Service update', html: '<p>Hi &lt;b&gt;{{eta}}&lt;/b&gt;</p>' });
      expect(body.sms).toBeUndefined();
    });

    it('answers 422 naming a missing required variable, or a channel the template lacks; 400 for a bad body', async () => {
      const { templateId } = await createTemplate();
      const missing = await errorOf(await call('POST', `/templates/${templateId}/versions/1/preview`, agent(), { channel: 'sms', variables: {} }), 422);
      expect(missing.code).toBe('missing_variable');
      expect(missing.message).toContain('first_name');
      expect((await errorOf(await call('POST', `/templates/${templateId}/versions/1/preview`, agent(), { channel: 'voice', variables: { first_name: 'A' } }), 422)).code).toBe(
        'channel_not_in_template',
      );
      await expectError(await call('POST', `/templates/${templateId}/versions/1/preview`, agent(), { channel: 'fax', variables: {} }), 400);
      await expectError(await call('POST', `/templates/${templateId}/versions/1/preview`, agent(), { channel: 'sms', variables: { first_name: 7 } }), 400);
      await expectError(await call('POST', `/templates/${templateId}/versions/9/preview`, agent(), { channel: 'sms', variables: {} }), 404);
    });
  });
});
