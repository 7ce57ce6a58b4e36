import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyStackEnv, baseUrl, staffToken, waitFor } from '#test/helpers/index.ts';
import { expectError, expectNothingWritten, freshId } from './support.ts';

type Json = Record<string, unknown>;
type Staff = { sub: string; roles: string[] };
type Pending = { templateId: string; version: number; name: string; author: string; submittedAt: string; contentHash: string };
type AuditView = { at: string; actor: string; action: string; version?: number; contentHash?: string; details?: Json };

/** A staff call over HTTP; `body` is sent as JSON (a string is sent as is). */
async function call(method: 'GET' | 'POST', path: string, as: Staff | null, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {};
  if (as) headers.authorization = `Bearer ${await staffToken(as.sub, as.roles)}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${baseUrl()}${path}`, { method, headers, ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}) });
}

const editor = (sub = freshId('editor')): Staff => ({ sub, roles: ['editor'] });
const approver = (sub = freshId('approver')): Staff => ({ sub, roles: ['approver'] });

const draft = {
  name: 'Maintenance window',
  variables: [{ name: 'first_name', required: true }],
  content: { sms: { body: 'Hi {{first_name}}, maintenance tonight 01:00-03:00.' }, chat: { body: 'Maintenance tonight, {{first_name}}.' } },
};

async function errorOf(res: Response, status: number): Promise<{ code: string; message: string }> {
  expect(res.status).toBe(status);
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}

async function pendingList(): Promise<Pending[]> {
  const res = await call('GET', '/approvals', approver());
  expect(res.status, 'GET /approvals').toBe(200);
  return (await res.json()) as Pending[];
}

async function versionOf(templateId: string, version: number): Promise<Json> {
  const res = await call('GET', `/templates/${templateId}`, approver());
  expect(res.status).toBe(200);
  const found = ((await res.json()) as { versions: Json[] }).versions.find((v) => v.version === version);
  expect(found, `version ${version}`).toBeDefined();
  return found!;
}

async function auditOf(templateId: string): Promise<AuditView[]> {
  const res = await call('GET', `/templates/${templateId}/audit`, editor());
  expect(res.status).toBe(200);
  return (await res.json()) as AuditView[];
}

/** Creates a template as `author` and submits version 1; waits until the approval queue lists it. */
async function submitted(author: Staff = editor()): Promise<{ templateId: string; contentHash: string; author: Staff }> {
  const created = await call('POST', '/templates', author, draft);
  expect(created.status).toBe(201);
  const { templateId, contentHash } = (await created.json()) as { templateId: string; contentHash: string };
  expect((await call('POST', `/templates/${templateId}/versions/1/submit`, author)).status).toBe(200);
  await waitFor(async () => (await pendingList()).some((p) => p.templateId === templateId));
  return { templateId, contentHash, author };
}

const approve = (templateId: string, as: Staff | null, body?: unknown, version = 1) => call('POST', `/templates/${templateId}/versions/${version}/approve`, as, body);

describe('the approval queue', () => {
  it('lists a submitted version once the consumer ran, with who wrote it and its hash', async () => {
    // Prepare
    const alice = editor();
    // Act
    const { templateId, contentHash } = await submitted(alice);
    // Assess
    const entries = (await pendingList()).filter((p) => p.templateId === templateId);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ templateId, version: 1, name: draft.name, author: alice.sub, contentHash });
    const { submittedAt } = await versionOf(templateId, 1);
    expect(entries[0]!.submittedAt).toBe(submittedAt);
  });

  it('lists oldest submissions first', async () => {
    const first = await submitted();
    const second = await submitted();
    const ids = (await pendingList()).map((p) => p.templateId);
    expect(ids.indexOf(first.templateId)).toBeLessThan(ids.indexOf(second.templateId));
  });

  it('is for approvers only', async () => {
    await expectError(await call('GET', '/approvals', editor()), 403);
    await expectError(await call('GET', '/approvals', { sub: 'x', roles: ['agent'] }), 403);
    await expectError(await call('GET', '/approvals', null), 401);
  });

  describe('four eyes', () => {
    it('refuses an approver who authored the version (403 four_eyes), and nothing changes', async () => {
      // Prepare: someone who is both editor and approver writes and submits a version.
      const both: Staff = { sub: freshId('both'), roles: ['editor', 'approver'] };
      const { templateId } = await submitted(both);
      // Act
      const error = await errorOf(await approve(templateId, both), 403);
      // Assess
      expect(error).toEqual({ code: 'four_eyes', message: 'An approver cannot approve a version they authored' });
      expect(await versionOf(templateId, 1)).toMatchObject({ status: 'pending_approval' });
      expect((await versionOf(templateId, 1)).approvedBy).toBeUndefined();
      expect((await auditOf(templateId)).map((e) => e.action)).not.toContain('approved');
      expect((await pendingList()).some((p) => p.templateId === templateId)).toBe(true);
    });

    it('is enforced by the data layer itself: the store refuses the author even when called directly', async () => {
      const { templateId, author } = await submitted();
      const restore = applyStackEnv();
      try {
        const { approveTemplateVersion, getTemplateVersion } = await import('#shared/data/template-store.ts');
        const outcome = await approveTemplateVersion({ templateId, version: 1, approver: author.sub, now: new Date().toISOString() });
        expect(outcome.outcome).toBe('refused');
        expect((await getTemplateVersion(templateId, 1))?.status).toBe('pending_approval');
      } finally {
        restore();
      }
    });

    it('refuses editors without the approver role (403), whoever wrote the version', async () => {
      const { templateId } = await submitted();
      await expectError(await approve(templateId, editor()), 403);
      await expectError(await approve(templateId, null), 401);
      expect(await versionOf(templateId, 1)).toMatchObject({ status: 'pending_approval' });
    });
  });

  describe('approve', () => {
    it('approves for another approver, recording who, when and the hash, and leaves the queue', async () => {
      // Prepare
      const { templateId, contentHash } = await submitted();
      const bob = approver();
      // Act
      const res = await approve(templateId, bob, { contentHash });
      // Assess
      expect(res.status).toBe(200);
      const body = (await res.json()) as Json;
      expect(body).toMatchObject({ templateId, version: 1, status: 'approved', approvedBy: bob.sub, contentHash });
      expect(Date.parse(body.approvedAt as string)).not.toBeNaN();
      expect(await versionOf(templateId, 1)).toMatchObject({ status: 'approved', approvedBy: bob.sub, approvedAt: body.approvedAt, approvedHash: contentHash, contentHash });
      expect((await pendingList()).some((p) => p.templateId === templateId)).toBe(false);
    });

    it('approves without a body (the stored hash is what was seen)', async () => {
      const { templateId, contentHash } = await submitted();
      const res = await approve(templateId, approver());
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: 'approved', contentHash });
    });

    it('answers 409 not_pending when approving again, or approving a draft', async () => {
      const { templateId } = await submitted();
      expect((await approve(templateId, approver())).status).toBe(200);
      const approved = await versionOf(templateId, 1);
      await expectNothingWritten(async () => {
        expect((await errorOf(await approve(templateId, approver()), 409)).code).toBe('not_pending');
      });
      // The first approval stands: who, when and the hash seen are not overwritten
      expect(await versionOf(templateId, 1)).toEqual(approved);
      const alice = editor();
      const created = (await (await call('POST', '/templates', alice, draft)).json()) as { templateId: string };
      expect((await errorOf(await approve(created.templateId, approver()), 409)).code).toBe('not_pending');
      expect(await versionOf(created.templateId, 1)).toMatchObject({ status: 'draft' });
    });

    it('answers 409 hash_mismatch when the hash seen is not the content’s, and nothing changes', async () => {
      const { templateId } = await submitted();
      await expectNothingWritten(async () => {
        expect((await errorOf(await approve(templateId, approver(), { contentHash: 'a'.repeat(64) }), 409)).code).toBe('hash_mismatch');
      });
      expect(await versionOf(templateId, 1)).toMatchObject({ status: 'pending_approval' });
    });

    it('answers 404 for unknown versions and templates, 400 for bad bodies and version numbers', async () => {
      const { templateId } = await submitted();
      await expectNothingWritten(async () => {
        await expectError(await approve(templateId, approver(), undefined, 2), 404);
        await expectError(await approve(`tpl_${'b'.repeat(32)}`, approver()), 404);
        await expectError(await approve('tpl_nope', approver()), 404);
        await expectError(await approve(templateId, approver(), { contentHash: 'not-a-hash' }), 400);
        await expectError(await approve(templateId, approver(), { hash: 'x' }), 400);
        await expectError(await approve(templateId, approver(), '{nope'), 400);
        await expectError(await call('POST', `/templates/${templateId}/versions/zero/approve`, approver()), 400);
      });
    });

    it('lets exactly one of several concurrent approvals win', async () => {
      // Prepare
      const { templateId } = await submitted();
      const approvers = Array.from({ length: 6 }, () => approver());
      // Act
      const results = await Promise.all(approvers.map((a) => approve(templateId, a)));
      // Assess
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 409)).toHaveLength(5);
      const winner = approvers[statuses.indexOf(200)]!;
      expect(await versionOf(templateId, 1)).toMatchObject({ status: 'approved', approvedBy: winner.sub });
      expect((await auditOf(templateId)).filter((e) => e.action === 'approved')).toEqual([expect.objectContaining({ actor: winner.sub })]);
    });
  });

  describe('reject', () => {
    it('needs a reason of 1–1000 characters (400), writing nothing', async () => {
      const { templateId } = await submitted();
      const reject = (body?: unknown) => call('POST', `/templates/${templateId}/versions/1/reject`, approver(), body);
      await expectNothingWritten(async () => {
        await expectError(await reject(), 400);
        await expectError(await reject({}), 400);
        await expectError(await reject({ reason: '' }), 400);
        await expectError(await reject({ reason: '   ' }), 400);
        await expectError(await reject({ reason: 'x'.repeat(1001) }), 400);
        await expectError(await reject({ reason: 42 }), 400);
      });
      expect(await versionOf(templateId, 1)).toMatchObject({ status: 'pending_approval' });
    });

    it('rejects a pending version with who, when, why and the hash seen; it leaves the queue and cannot be approved', async () => {
      // Prepare
      const { templateId, contentHash } = await submitted();
      const carol = approver();
      // Act
      const res = await call('POST', `/templates/${templateId}/versions/1/reject`, carol, { reason: 'Say how to reach a person' });
      // Assess
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ templateId, version: 1, status: 'rejected', rejectedBy: carol.sub, rejectReason: 'Say how to reach a person', contentHash });
      expect(await versionOf(templateId, 1)).toMatchObject({ status: 'rejected', rejectedBy: carol.sub, rejectReason: 'Say how to reach a person', rejectedHash: contentHash });
      expect((await pendingList()).some((p) => p.templateId === templateId)).toBe(false);
      expect((await errorOf(await approve(templateId, approver()), 409)).code).toBe('not_pending');
      expect((await errorOf(await call('POST', `/templates/${templateId}/versions/1/reject`, approver(), { reason: 'again' }), 409)).code).toBe('not_pending');
    });

    it('is for approvers only', async () => {
      const { templateId } = await submitted();
      const pending = await versionOf(templateId, 1);
      await expectNothingWritten(async () => {
        await expectError(await call('POST', `/templates/${templateId}/versions/1/reject`, editor(), { reason: 'mine' }), 403);
      });
      expect(await versionOf(templateId, 1)).toEqual(pending);
    });
  });

  describe('revoke', () => {
    it('revokes an approved version, recording who, when and why', async () => {
      const { templateId } = await submitted();
      expect((await approve(templateId, approver())).status).toBe(200);
      const dave = approver();
      const res = await call('POST', `/templates/${templateId}/versions/1/revoke`, dave, { reason: 'Maintenance cancelled' });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ templateId, version: 1, status: 'revoked', revokedBy: dave.sub, revokeReason: 'Maintenance cancelled' });
      expect(await versionOf(templateId, 1)).toMatchObject({ status: 'revoked', revokedBy: dave.sub, revokeReason: 'Maintenance cancelled' });
      expect((await errorOf(await call('POST', `/templates/${templateId}/versions/1/revoke`, dave, { reason: 'again' }), 409)).code).toBe('not_approved');
      expect((await errorOf(await approve(templateId, approver()), 409)).code).toBe('not_pending');
    });

    it('refuses to revoke what is not approved (409), without a reason (400), for editors (403)', async () => {
      const { templateId } = await submitted();
      expect((await errorOf(await call('POST', `/templates/${templateId}/versions/1/revoke`, approver(), { reason: 'x' }), 409)).code).toBe('not_approved');
      expect((await approve(templateId, approver())).status).toBe(200);
      await expectError(await call('POST', `/templates/${templateId}/versions/1/revoke`, approver(), {}), 400);
      await expectError(await call('POST', `/templates/${templateId}/versions/1/revoke`, editor(), { reason: 'x' }), 403);
      expect(await versionOf(templateId, 1)).toMatchObject({ status: 'approved' });
    });
  });

  describe('audit trail', () => {
    it('lists every transition in order, with actors, versions and hashes', async () => {
      // Prepare
      const alice = editor();
      const bob = approver();
      const carol = approver();
      const { templateId, contentHash: hash1 } = await submitted(alice);
      // Act
      expect((await approve(templateId, bob, { contentHash: hash1 })).status).toBe(200);
      const v2 = (await (await call('POST', `/templates/${templateId}/versions`, alice, { ...draft, name: 'Maintenance v2' })).json()) as { contentHash: string };
      expect((await call('POST', `/templates/${templateId}/versions/2/submit`, alice)).status).toBe(200);
      await waitFor(async () => (await pendingList()).some((p) => p.templateId === templateId && p.version === 2));
      expect((await call('POST', `/templates/${templateId}/versions/2/reject`, carol, { reason: 'Too long' })).status).toBe(200);
      expect((await call('POST', `/templates/${templateId}/versions/1/revoke`, carol, { reason: 'Obsolete' })).status).toBe(200);
      // Assess
      const audit = await auditOf(templateId);
      expect(audit.map(({ action, actor, version, contentHash }) => ({ action, actor, version, contentHash }))).toEqual([
        { action: 'created', actor: alice.sub, version: 1, contentHash: hash1 },
        { action: 'submitted', actor: alice.sub, version: 1, contentHash: hash1 },
        { action: 'queued_for_approval', actor: 'system:approval-queue', version: 1, contentHash: hash1 },
        { action: 'approved', actor: bob.sub, version: 1, contentHash: hash1 },
        { action: 'version_created', actor: alice.sub, version: 2, contentHash: v2.contentHash },
        { action: 'submitted', actor: alice.sub, version: 2, contentHash: v2.contentHash },
        { action: 'queued_for_approval', actor: 'system:approval-queue', version: 2, contentHash: v2.contentHash },
        { action: 'rejected', actor: carol.sub, version: 2, contentHash: v2.contentHash },
        { action: 'revoked', actor: carol.sub, version: 1, contentHash: hash1 },
      ]);
      expect(audit[7]!.details).toEqual({ reason: 'Too long' });
      const times = audit.map((e) => Date.parse(e.at));
      expect(times).toEqual([...times].sort((a, b) => a - b));
    });

    it('is for editors and approvers; 404 for an unknown template', async () => {
      const { templateId } = await submitted();
      expect((await call('GET', `/templates/${templateId}/audit`, approver())).status).toBe(200);
      await expectError(await call('GET', `/templates/${templateId}/audit`, { sub: 'x', roles: ['agent'] }), 403);
      await expectError(await call('GET', `/templates/tpl_${'c'.repeat(32)}/audit`, editor()), 404);
    });
  });

  describe('the consumer and a failed enqueue', () => {
    let restore: () => void;
    beforeAll(() => {
      restore = applyStackEnv();
    });
    afterAll(() => restore());

    it('a submit whose enqueue failed leaves the version pending; submitting again enqueues it and it reaches the queue', async () => {
      // Prepare
      const alice = editor();
      const created = (await (await call('POST', '/templates', alice, draft)).json()) as { templateId: string };
      const { submitVersion } = await import('#shared/templates/use-cases/submit-version.ts');
      const failingQueue = { enqueue: async () => Promise.reject(new Error('queue unavailable')) };
      // Act
      await expect(submitVersion({ templateId: created.templateId, version: 1, actor: alice.sub, now: new Date().toISOString() }, { queue: failingQueue })).rejects.toThrow(
        'queue unavailable',
      );
      // Assess
      expect(await versionOf(created.templateId, 1)).toMatchObject({ status: 'pending_approval' });
      const retry = await call('POST', `/templates/${created.templateId}/versions/1/submit`, alice);
      expect(retry.status).toBe(200);
      await waitFor(async () => (await pendingList()).some((p) => p.templateId === created.templateId));
    });

    it('a redelivered work item adds nothing, and a late one for a decided version adds no stale entry', async () => {
      // Prepare
      const { templateId } = await submitted();
      const { submittedAt } = (await versionOf(templateId, 1)) as { submittedAt: string };
      const { recordPendingApproval } = await import('#shared/templates/use-cases/record-pending-approval.ts');
      // Act + Assess: redelivery while pending
      await expectNothingWritten(async () => {
        expect(await recordPendingApproval({ templateId, version: 1, submittedAt }, new Date().toISOString())).toBe('already_recorded');
      });
      // Act + Assess: a late delivery after the decision
      expect((await approve(templateId, approver())).status).toBe(200);
      await expectNothingWritten(async () => {
        expect(await recordPendingApproval({ templateId, version: 1, submittedAt }, new Date().toISOString())).toBe('not_pending');
      });
      expect((await pendingList()).some((p) => p.templateId === templateId)).toBe(false);
      expect((await auditOf(templateId)).filter((e) => e.action === 'queued_for_approval')).toHaveLength(1);
    });
  });
});
