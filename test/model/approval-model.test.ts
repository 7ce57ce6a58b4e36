import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TemplateStatus } from '#shared/domain/template.ts';
import { waitFor } from '#test/helpers/index.ts';
import { agent, approver, call, editor, jsonOf, newCustomer, outbox, send, smsDraft, thread, type Staff } from './outbound-support.ts';

/**
 * Model test of the product's central promise: under any sequence of template edits, submits, approval
 * decisions, revocations and sends, nothing reaches a provider (the local outbox) unless the version it
 * came from was approved when the agent sent it and still approved, with the same hash, when the sender
 * claimed it. Runs against the real local stack over HTTP; the model is the approval state machine.
 */

type VersionModel = { status: TemplateStatus; contentHash: string; revokedAt?: number };
type TemplateModel = { templateId: string; versions: VersionModel[] };
type SendModel = { messageId: string; templateId: string; version: number; contentHash: string };
type Model = { templates: TemplateModel[]; sends: SendModel[]; refusedSends: number; decisions: number; refusedDecisions: number };
type Real = { conversationId: string; author: Staff; decider: Staff; sender: Staff; run: string };

const MAX_TEMPLATES = 2;
const MAX_VERSIONS = 4;

let draftCounter = 0;
const draftFor = (real: Real) => smsDraft(`${real.run}-${draftCounter++}`);

/**
 * Which version a command acts on. `aimed`: one in the state the action needs, when there is one (so
 * runs get somewhere: drafts get submitted, pending ones decided, approved ones sent and revoked);
 * otherwise any version, which mostly exercises refusals. `pick` chooses among the candidates.
 */
type Target = { readonly pick: number; readonly aimed: boolean };

type Ref = { template: TemplateModel; version: number; state: VersionModel };

function allVersions(model: Model): Ref[] {
  return model.templates.flatMap((template) => template.versions.map((state, i) => ({ template, version: i + 1, state })));
}

function resolve(model: Model, target: Target, wanted: TemplateStatus): Ref | undefined {
  const all = allVersions(model);
  const aimed = target.aimed ? all.filter((r) => r.state.status === wanted) : [];
  const candidates = aimed.length > 0 ? aimed : all;
  return candidates.length === 0 ? undefined : candidates[target.pick % candidates.length];
}

const describeTarget = (target: Target) => `${target.aimed ? 'aimed' : 'any'} #${target.pick}`;

class CreateTemplate implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.templates.length < MAX_TEMPLATES;
  async run(m: Model, r: Real) {
    const created = await jsonOf<{ templateId: string; version: number; status: string; contentHash: string }>(await call('POST', '/templates', r.author, draftFor(r)), 201);
    expect(created).toMatchObject({ version: 1, status: 'draft' });
    m.templates.push({ templateId: created.templateId, versions: [{ status: 'draft', contentHash: created.contentHash }] });
  }
  toString = () => 'createTemplate';
}

class NewVersion implements fc.AsyncCommand<Model, Real> {
  constructor(readonly pick: number) {}
  private template = (m: Readonly<Model>) => (m.templates.length ? m.templates[this.pick % m.templates.length] : undefined);
  check = (m: Readonly<Model>) => (this.template(m)?.versions.length ?? MAX_VERSIONS) < MAX_VERSIONS;
  async run(m: Model, r: Real) {
    const template = this.template(m)!;
    const created = await jsonOf<{ version: number; status: string; contentHash: string }>(await call('POST', `/templates/${template.templateId}/versions`, r.author, draftFor(r)), 201);
    expect(created).toMatchObject({ version: template.versions.length + 1, status: 'draft' });
    template.versions.push({ status: 'draft', contentHash: created.contentHash });
  }
  toString = () => `newVersion(#${this.pick})`;
}

const rules = {
  submit: { from: 'draft', to: 'pending_approval' },
  approve: { from: 'pending_approval', to: 'approved' },
  reject: { from: 'pending_approval', to: 'rejected' },
  revoke: { from: 'approved', to: 'revoked' },
} as const satisfies Record<string, { from: TemplateStatus; to: TemplateStatus }>;

/** A decision on a version: allowed in one state, moving it to another; refused (409) otherwise. */
class Transition implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly action: keyof typeof rules,
    readonly target: Target,
  ) {}
  check = (m: Readonly<Model>) => allVersions(m as Model).length > 0;
  async run(m: Model, r: Real) {
    const { from, to } = rules[this.action];
    const { template, version, state } = resolve(m, this.target, from)!;
    const as = this.action === 'submit' ? r.author : r.decider;
    const body = this.action === 'reject' || this.action === 'revoke' ? { reason: `model ${this.action}` } : undefined;
    const res = await call('POST', `/templates/${template.templateId}/versions/${version}/${this.action}`, as, body);
    // Submitting a pending version again is idempotent (it re-enqueues a possibly lost approval item).
    const repeat = this.action === 'submit' && state.status === 'pending_approval';
    if (state.status !== from && !repeat) {
      const text = await res.text();
      expect(res.status, `${this} on a ${state.status} version: ${text}`).toBe(409);
      m.refusedDecisions++;
      return;
    }
    await jsonOf(res, 200);
    m.decisions++;
    state.status = to;
    if (to === 'revoked') state.revokedAt = Date.now();
  }
  toString = () => `${this.action}(${describeTarget(this.target)})`;
}

/** `POST /conversations/{id}/messages` with a given version, or with none (the latest approved). */
class Send implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly target: Target,
    readonly latest: boolean,
  ) {}
  check = (m: Readonly<Model>) => allVersions(m as Model).length > 0;
  async run(m: Model, r: Real) {
    const { template, version } = resolve(m, this.target, 'approved')!;
    const approved = template.versions.map((s, i) => (s.status === 'approved' ? i + 1 : 0)).filter((n) => n > 0);
    const expected = this.latest ? approved.at(-1) : template.versions[version - 1]!.status === 'approved' ? version : undefined;
    const res = await send(r.conversationId, { channel: 'sms', templateId: template.templateId, ...(this.latest ? {} : { version }), variables: { name: 'Model' } }, r.sender);
    if (expected === undefined) {
      m.refusedSends++;
      expect((await jsonOf<{ error: { code: string } }>(res, 409)).error.code).toBe('not_approved');
      return;
    }
    const { messageId } = await jsonOf<{ messageId: string }>(res, 202);
    m.sends.push({ messageId, templateId: template.templateId, version: expected, contentHash: template.versions[expected - 1]!.contentHash });
  }
  toString = () => `send(${this.latest ? 'latest approved of ' : ''}${describeTarget(this.target)})`;
}

const target: fc.Arbitrary<Target> = fc.record({ pick: fc.nat(7), aimed: fc.oneof({ arbitrary: fc.constant(true), weight: 3 }, { arbitrary: fc.constant(false), weight: 1 }) });
const transition = (action: Transition['action'], weight: number) => ({ arbitrary: target.map((tg) => new Transition(action, tg)), weight });
const commands = [
  fc.oneof(
    { arbitrary: fc.constant(new CreateTemplate()), weight: 1 },
    { arbitrary: fc.nat(3).map((p) => new NewVersion(p)), weight: 2 },
    transition('submit', 3),
    transition('approve', 3),
    transition('reject', 1),
    transition('revoke', 2),
    { arbitrary: fc.tuple(target, fc.boolean()).map(([tg, latest]) => new Send(tg, latest)), weight: 4 },
  ),
];

/** Waits for the sender to finish with every message of the run, then checks what reached the outbox. */
async function assertOnlyApprovedWentOut(model: Model, real: Real): Promise<{ revokedInFlight: number }> {
  const byId = new Map(model.sends.map((s) => [s.messageId, s]));
  const messages = await waitFor(
    async () => {
      const outbound = (await thread(real.conversationId)).filter((msg) => msg.direction === 'outbound');
      return outbound.every((msg) => msg.status === 'sent' || msg.status === 'failed') && outbound;
    },
    { timeoutMs: 20_000, intervalMs: 100 },
  );

  // The thread holds exactly the accepted sends: a refused send wrote nothing.
  expect(messages.map((msg) => msg.messageId).sort()).toEqual([...byId.keys()].sort());
  let revokedInFlight = 0;
  for (const msg of messages) {
    const sent = byId.get(msg.messageId as string)!;
    const version = model.templates.find((tm) => tm.templateId === sent.templateId)!.versions[sent.version - 1]!;
    expect(msg, 'rendered from the version that was approved when sent').toMatchObject({ templateId: sent.templateId, templateVersion: sent.version, contentHash: sent.contentHash });
    if (msg.status === 'sent') {
      // Claimed while still approved: a revoke, if any, committed after the claim.
      if (version.revokedAt !== undefined) expect(Date.parse(msg.sendingAt as string)).toBeLessThan(version.revokedAt);
    } else {
      // Only a revoke after queueing stops an accepted send.
      expect(msg).toMatchObject({ status: 'failed', failureReason: 'template_not_approved' });
      expect(version.status).toBe('revoked');
      revokedInFlight++;
    }
  }

  const entries = await outbox(real.conversationId);
  const sentIds = messages.filter((msg) => msg.status === 'sent').map((msg) => msg.messageId as string);
  expect(entries.map((e) => e.messageId).sort(), 'the outbox holds each sent message once, and nothing else').toEqual([...sentIds].sort());
  return { revokedInFlight };
}

describe('approval model', () => {
  it('never lets a draft, pending, rejected or revoked version reach a provider, under any sequence of edits, decisions and sends', async () => {
    const stats = { runs: 0, sends: 0, refusedSends: 0, decisions: 0, refusedDecisions: 0, revokedInFlight: 0 };
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 20, size: 'max' }), async (cmds) => {
        const customer = await newCustomer({ email: false });
        const run = randomBytes(3).toString('hex');
        const real: Real = { conversationId: customer.conversationId, author: editor(`model-editor-${run}`), decider: approver(`model-approver-${run}`), sender: agent(), run };
        const model: Model = { templates: [], sends: [], refusedSends: 0, decisions: 0, refusedDecisions: 0 };
        // Every run starts from one template, so the generated commands have something to act on.
        await fc.asyncModelRun(() => ({ model, real }), [new CreateTemplate(), ...cmds]);
        const { revokedInFlight } = await assertOnlyApprovedWentOut(model, real);
        stats.runs++;
        stats.sends += model.sends.length;
        stats.refusedSends += model.refusedSends;
        stats.decisions += model.decisions;
        stats.refusedDecisions += model.refusedDecisions;
        stats.revokedInFlight += revokedInFlight;
      }),
      {
        numRuns: 15,
        endOnFailure: true,
        // One hand-written run that surely crosses the rule both ways: refused, sent while approved, revoked, refused.
        examples: [
          [
            [
              new Send({ pick: 0, aimed: true }, true),
              new Transition('submit', { pick: 0, aimed: true }),
              new Send({ pick: 0, aimed: false }, false),
              new Transition('approve', { pick: 0, aimed: true }),
              new Send({ pick: 0, aimed: true }, true),
              new NewVersion(0),
              new Send({ pick: 1, aimed: false }, false),
              new Transition('revoke', { pick: 0, aimed: true }),
              new Send({ pick: 0, aimed: false }, false),
            ],
          ],
        ],
      },
    );
    // The runs exercised both sides of the rule.
    console.info('approval model:', stats);
    expect(stats.runs).toBeGreaterThanOrEqual(15);
    expect(stats.sends).toBeGreaterThan(0);
    expect(stats.refusedSends).toBeGreaterThan(0);
  }, 120_000);
});
