import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TemplateStatus } from '#shared/domain/template.ts';
import { waitFor } from '#test/helpers/index.ts';
import { agent, approver, call, editor, errorOf, jsonOf, newCustomer, outbox, send, smsDraft, thread, type Json, type Staff } from './outbound-support.ts';

/**
 * Model test of the product's central promise: under any sequence of template edits, submits, approval
 * decisions, revocations and sends, nothing reaches a provider (the local outbox) unless the version it
 * came from was approved when the agent sent it and still approved, with the same hash, when the sender
 * claimed it. Runs against the real local stack over HTTP; the model is the approval state machine.
 *
 * Generation is biased so that runs get somewhere: most commands aim at a version in the state they
 * need (and are skipped when there is none), sends are frequent and name a version or not, a send may be
 * followed at once by a revoke of the version it used (racing the sender, often with the message queued
 * behind agent messages of the same thread), and approvals are mostly made by someone other than the
 * version's author (four eyes refuses the author: that path is taken too, on purpose). The stats at the
 * end prove each path was taken, so the test cannot silently decay into exploring only refusals.
 */

type Channel = 'sms' | 'email';
type VersionModel = {
  status: TemplateStatus;
  contentHash: string;
  /** Index into `Real.editors`. */
  author: number;
  /** What the draft's content was made from (see {@link expectedContent}). */
  marker: string;
  approvedBy?: string;
  /** Client clock just before the successful revoke request… */
  revokeRequestedAt?: number;
  /** …and just after its answer: the revoke committed in between. */
  revokedAt?: number;
};
/** `audit`: the transitions the template's trail must hold, as {@link auditLine} writes them. */
type TemplateModel = { templateId: string; versions: VersionModel[]; audit: string[] };
type TemplatedSend = { kind: 'template'; messageId: string; templateId: string; version: number; contentHash: string; channel: Channel; variables: Record<string, string> };
/** An agent's own words: no template, no approval (a person wrote them). */
type AgentSend = { kind: 'agent'; messageId: string; channel: 'sms'; body: string };
type SendModel = TemplatedSend | AgentSend;

const statNames = [
  // accepted sends, by how the version was named and what else was true
  'sends',
  'sendsLatest',
  'sendsExplicit',
  'sendsEmail',
  /** `latest` answered by an approved version older than the template's newest version. */
  'latestBehindNewerVersion',
  /** An explicit send of an approved version that is not the latest approved one. */
  'explicitOlderApproved',
  'revokesRightAfterSend',
  /** Agent's own words sent just before a templated send, so that it waits behind them in the thread's FIFO group. */
  'agentMessages',
  // refused sends
  'refusedSends',
  'refusedNotApproved',
  'refusedNoSuchVersion',
  'refusedMissingVariable',
  // decisions
  'submits',
  'approvals',
  'approvalsByOtherEditor',
  'rejections',
  'revocations',
  'refusedDecisions',
  'refusedSelfApproval',
  'refusedHashMismatch',
  // outcomes (counted once the sender is done)
  'sent',
  /** Sent while approved, then revoked after the sender claimed it. */
  'sentThenRevoked',
  /** Accepted, then revoked before the sender claimed it: failed `template_not_approved`. */
  'revokedInFlight',
] as const;
type StatName = (typeof statNames)[number];
type Stats = Record<StatName, number>;
const noStats = (): Stats => Object.fromEntries(statNames.map((name) => [name, 0])) as Stats;

type Model = { templates: TemplateModel[]; sends: SendModel[]; stats: Stats; commands: number };
type Real = {
  conversationId: string;
  to: Record<Channel, string>;
  /** Two editors, both also approvers: each may approve the other's versions, never their own. */
  editors: [Staff, Staff];
  /** An approver who writes nothing. */
  decider: Staff;
  sender: Staff;
  run: string;
};

const MAX_TEMPLATES = 2;
const MAX_VERSIONS = 8;

let draftCounter = 0;

/** What the sender must deliver for a version made from `smsDraft(marker)`: its content, variables filled in. */
function expectedContent(marker: string, channel: Channel, variables: Record<string, string>): { body: string; subject?: string; html?: string } {
  const fill = (source: string) => source.replaceAll('{{name}}', variables.name ?? '').replaceAll('{{eta}}', variables.eta ?? '');
  const { content } = smsDraft(marker);
  return channel === 'sms' ? { body: fill(content.sms.body) } : { subject: fill(content.email.subject), body: fill(content.email.text), html: fill(content.email.html) };
}

/**
 * Which version a command acts on. `aimed`: one in the state the action needs, when there is one (so
 * runs get somewhere: drafts get submitted, pending ones decided, approved ones sent and revoked);
 * otherwise any version, which mostly exercises refusals. `pick` chooses among the candidates.
 */
type Target = { readonly pick: number; readonly aimed: boolean };

type Ref = { template: TemplateModel; version: number; state: VersionModel };

function allVersions(model: Readonly<Model>): Ref[] {
  return model.templates.flatMap((template) => template.versions.map((state, i) => ({ template, version: i + 1, state })));
}

function resolve(model: Readonly<Model>, target: Target, wanted: TemplateStatus): Ref | undefined {
  const all = allVersions(model);
  const aimed = target.aimed ? all.filter((r) => r.state.status === wanted) : [];
  const candidates = aimed.length > 0 ? aimed : all;
  return candidates.length === 0 ? undefined : candidates[target.pick % candidates.length];
}

/**
 * Whether a command may run now: an aimed one only when a version is in the state it needs (otherwise
 * fast-check skips it, at no cost), any other one when there is any version.
 */
const runnable = (m: Readonly<Model>, target: Target, wanted: TemplateStatus) =>
  target.aimed ? allVersions(m).some((r) => r.state.status === wanted) : m.templates.length > 0;
const auditLine = (entry: { action: string; version?: number; actor: string; contentHash?: string }) => `${entry.action} v${entry.version} by ${entry.actor} (${entry.contentHash})`;
const describeTarget = (target: Target) => `${target.aimed ? 'aimed' : 'any'} #${target.pick}`;
const approvedNumbers = (template: TemplateModel) => template.versions.flatMap((s, i) => (s.status === 'approved' ? [i + 1] : []));

async function revoke(m: Model, r: Real, ref: Ref): Promise<Response> {
  const requestedAt = Date.now();
  const res = await call('POST', `/templates/${ref.template.templateId}/versions/${ref.version}/revoke`, r.decider, { reason: 'model revoke' });
  if (res.status === 200) {
    ref.state.status = 'revoked';
    ref.state.revokeRequestedAt = requestedAt;
    ref.state.revokedAt = Date.now();
    ref.template.audit.push(auditLine({ action: 'revoked', version: ref.version, actor: r.decider.sub, contentHash: ref.state.contentHash }));
    m.stats.revocations++;
  }
  return res;
}

class CreateTemplate implements fc.AsyncCommand<Model, Real> {
  constructor(readonly author: number) {}
  check = (m: Readonly<Model>) => m.templates.length < MAX_TEMPLATES;
  async run(m: Model, r: Real) {
    m.commands++;
    const marker = `${r.run}-${draftCounter++}`;
    const created = await jsonOf<{ templateId: string; version: number; status: string; contentHash: string }>(await call('POST', '/templates', r.editors[this.author]!, smsDraft(marker)), 201);
    expect(created).toMatchObject({ version: 1, status: 'draft' });
    m.templates.push({
      templateId: created.templateId,
      versions: [{ status: 'draft', contentHash: created.contentHash, author: this.author, marker }],
      audit: [auditLine({ action: 'created', version: 1, actor: r.editors[this.author]!.sub, contentHash: created.contentHash })],
    });
  }
  toString = () => `createTemplate(by editor ${this.author})`;
}

class NewVersion implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly pick: number,
    readonly author: number,
  ) {}
  private template = (m: Readonly<Model>) => (m.templates.length ? m.templates[this.pick % m.templates.length] : undefined);
  check = (m: Readonly<Model>) => (this.template(m)?.versions.length ?? MAX_VERSIONS) < MAX_VERSIONS;
  async run(m: Model, r: Real) {
    m.commands++;
    const template = this.template(m)!;
    const marker = `${r.run}-${draftCounter++}`;
    const created = await jsonOf<{ version: number; status: string; contentHash: string }>(
      await call('POST', `/templates/${template.templateId}/versions`, r.editors[this.author]!, smsDraft(marker)),
      201,
    );
    expect(created).toMatchObject({ version: template.versions.length + 1, status: 'draft' });
    template.versions.push({ status: 'draft', contentHash: created.contentHash, author: this.author, marker });
    template.audit.push(auditLine({ action: 'version_created', version: created.version, actor: r.editors[this.author]!.sub, contentHash: created.contentHash }));
  }
  toString = () => `newVersion(#${this.pick}, by editor ${this.author})`;
}

/** `draft` → `pending_approval`, by the version's author; submitting a pending version again is idempotent. */
class Submit implements fc.AsyncCommand<Model, Real> {
  constructor(readonly target: Target) {}
  check = (m: Readonly<Model>) => runnable(m, this.target, 'draft');
  async run(m: Model, r: Real) {
    m.commands++;
    const { template, version, state } = resolve(m, this.target, 'draft')!;
    const res = await call('POST', `/templates/${template.templateId}/versions/${version}/submit`, r.editors[state.author]!);
    // A repeat re-enqueues a possibly lost approval item, and answers the same.
    if (state.status !== 'draft' && state.status !== 'pending_approval') {
      expect((await errorOf(res, 409)).code, `${this} on a ${state.status} version`).toBe('not_draft');
      m.stats.refusedDecisions++;
      return;
    }
    expect(await jsonOf(res, 200)).toMatchObject({ templateId: template.templateId, version, status: 'pending_approval', contentHash: state.contentHash });
    if (state.status === 'draft') template.audit.push(auditLine({ action: 'submitted', version, actor: r.editors[state.author]!.sub, contentHash: state.contentHash }));
    state.status = 'pending_approval';
    m.stats.submits++;
  }
  toString = () => `submit(${describeTarget(this.target)})`;
}

/**
 * An approval by the approver, the other editor (allowed: four eyes is about the version's author) or
 * the author (403 `four_eyes`), naming the hash they saw: the current one, none, or a stale one.
 */
class Approve implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly target: Target,
    readonly by: 'approver' | 'otherEditor' | 'author',
    readonly seen: 'current' | 'none' | 'stale',
  ) {}
  check = (m: Readonly<Model>) => runnable(m, this.target, 'pending_approval');
  async run(m: Model, r: Real) {
    m.commands++;
    const { template, version, state } = resolve(m, this.target, 'pending_approval')!;
    const as = this.by === 'approver' ? r.decider : r.editors[this.by === 'author' ? state.author : 1 - state.author]!;
    // Stale: another version's hash (every version's content differs), or one no version has.
    const staleHash = allVersions(m).find((other) => other.state.contentHash !== state.contentHash)?.state.contentHash ?? '0'.repeat(64);
    const contentHash = this.seen === 'current' ? state.contentHash : this.seen === 'stale' ? staleHash : undefined;
    const res = await call('POST', `/templates/${template.templateId}/versions/${version}/approve`, as, contentHash === undefined ? undefined : { contentHash });
    if (this.by === 'author') {
      expect((await errorOf(res, 403)).code, `${this} on a ${state.status} version`).toBe('four_eyes');
      m.stats.refusedDecisions++;
      m.stats.refusedSelfApproval++;
      return;
    }
    if (state.status !== 'pending_approval' || this.seen === 'stale') {
      const code = state.status !== 'pending_approval' ? 'not_pending' : 'hash_mismatch';
      expect((await errorOf(res, 409)).code, `${this} on a ${state.status} version`).toBe(code);
      m.stats.refusedDecisions++;
      if (code === 'hash_mismatch') m.stats.refusedHashMismatch++;
      return;
    }
    expect(await jsonOf(res, 200)).toMatchObject({ templateId: template.templateId, version, status: 'approved', approvedBy: as.sub, contentHash: state.contentHash });
    state.status = 'approved';
    state.approvedBy = as.sub;
    template.audit.push(auditLine({ action: 'approved', version, actor: as.sub, contentHash: state.contentHash }));
    m.stats.approvals++;
    if (this.by === 'otherEditor') m.stats.approvalsByOtherEditor++;
  }
  toString = () => `approve(${describeTarget(this.target)}, by ${this.by}, ${this.seen} hash)`;
}

class Reject implements fc.AsyncCommand<Model, Real> {
  constructor(readonly target: Target) {}
  check = (m: Readonly<Model>) => runnable(m, this.target, 'pending_approval');
  async run(m: Model, r: Real) {
    m.commands++;
    const { template, version, state } = resolve(m, this.target, 'pending_approval')!;
    const res = await call('POST', `/templates/${template.templateId}/versions/${version}/reject`, r.decider, { reason: 'model reject' });
    if (state.status !== 'pending_approval') {
      expect((await errorOf(res, 409)).code, `${this} on a ${state.status} version`).toBe('not_pending');
      m.stats.refusedDecisions++;
      return;
    }
    expect(await jsonOf(res, 200)).toMatchObject({ templateId: template.templateId, version, status: 'rejected', rejectedBy: r.decider.sub });
    state.status = 'rejected';
    template.audit.push(auditLine({ action: 'rejected', version, actor: r.decider.sub, contentHash: state.contentHash }));
    m.stats.rejections++;
  }
  toString = () => `reject(${describeTarget(this.target)})`;
}

class Revoke implements fc.AsyncCommand<Model, Real> {
  constructor(readonly target: Target) {}
  check = (m: Readonly<Model>) => runnable(m, this.target, 'approved');
  async run(m: Model, r: Real) {
    m.commands++;
    const ref = resolve(m, this.target, 'approved')!;
    const before = ref.state.status;
    const res = await revoke(m, r, ref);
    if (before !== 'approved') {
      expect((await errorOf(res, 409)).code, `${this} on a ${before} version`).toBe('not_approved');
      m.stats.refusedDecisions++;
      return;
    }
    expect(await jsonOf(res, 200)).toMatchObject({ templateId: ref.template.templateId, version: ref.version, status: 'revoked', revokedBy: r.decider.sub });
  }
  toString = () => `revoke(${describeTarget(this.target)})`;
}

type SendSpec = {
  /** `latest`: no `version` (the latest approved); `explicit`: the target's version; `ghost`: one past the newest. */
  readonly naming: 'latest' | 'explicit' | 'ghost';
  readonly channel: Channel;
  /** `none` leaves out the required `name`. */
  readonly variables: 'name' | 'nameAndEta' | 'none';
  /** Revoke the version used as soon as the send is accepted: races the sender. */
  readonly revokeAfter: boolean;
  /**
   * Agent messages sent just before: the sender takes a thread's messages one at a time, in order, so
   * the templated one waits behind them and a revoke right after it almost surely lands while it is queued.
   */
  readonly behind: number;
};

const sendSpecOf = (spec: Partial<SendSpec> = {}): SendSpec => ({ naming: 'latest', channel: 'sms', variables: 'name', revokeAfter: false, behind: 0, ...spec });

const variablesFor: Record<SendSpec['variables'], Record<string, string>> = {
  name: { name: 'Model' },
  nameAndEta: { name: 'Model', eta: ' by 18:00' },
  none: {},
};

/** `POST /conversations/{id}/messages` with a given version, or with none (the latest approved). */
class Send implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly target: Target,
    readonly spec: SendSpec,
  ) {}
  check = (m: Readonly<Model>) => runnable(m, this.target, 'approved');
  async run(m: Model, r: Real) {
    m.commands++;
    const { template, version: targetVersion } = resolve(m, this.target, 'approved')!;
    const { naming, channel } = this.spec;
    for (let i = 0; i < this.spec.behind; i++) {
      const body = `[${r.run}] agent note ${m.sends.length}`;
      const note = await jsonOf<{ messageId: string }>(await send(r.conversationId, { channel: 'sms', body }, r.sender), 202);
      m.sends.push({ kind: 'agent', messageId: note.messageId, channel: 'sms', body });
      m.stats.agentMessages++;
    }
    const named = naming === 'ghost' ? template.versions.length + 1 : targetVersion;
    const variables = variablesFor[this.spec.variables];
    const res = await send(r.conversationId, { channel, templateId: template.templateId, ...(naming === 'latest' ? {} : { version: named }), variables }, r.sender);

    const approved = approvedNumbers(template);
    const used = naming === 'latest' ? approved.at(-1) : template.versions[named - 1]?.status === 'approved' ? named : undefined;
    if (naming === 'ghost') {
      expect((await errorOf(res, 404)).code, `${this}`).toBe('not_found');
      m.stats.refusedSends++;
      m.stats.refusedNoSuchVersion++;
      return;
    }
    if (used === undefined) {
      expect((await errorOf(res, 409)).code, `${this}`).toBe('not_approved');
      m.stats.refusedSends++;
      m.stats.refusedNotApproved++;
      return;
    }
    if (this.spec.variables === 'none') {
      const error = await errorOf(res, 422);
      expect(error.code, `${this}`).toBe('missing_variable');
      expect(error.message).toContain('name');
      m.stats.refusedSends++;
      m.stats.refusedMissingVariable++;
      return;
    }
    const accepted = await jsonOf<{ messageId: string; conversationId: string; status: string }>(res, 202);
    expect(accepted).toMatchObject({ conversationId: r.conversationId, status: 'queued' });
    const state = template.versions[used - 1]!;
    m.sends.push({ kind: 'template', messageId: accepted.messageId, templateId: template.templateId, version: used, contentHash: state.contentHash, channel, variables });
    m.stats.sends++;
    if (naming === 'latest') m.stats.sendsLatest++;
    else m.stats.sendsExplicit++;
    if (channel === 'email') m.stats.sendsEmail++;
    if (naming === 'latest' && used < template.versions.length) m.stats.latestBehindNewerVersion++;
    if (naming === 'explicit' && used !== approved.at(-1)) m.stats.explicitOlderApproved++;

    if (this.spec.revokeAfter) {
      expect((await revoke(m, r, { template, version: used, state })).status, `revoke right after ${this}`).toBe(200);
      m.stats.revokesRightAfterSend++;
    }
  }
  toString = () =>
    `send(${this.spec.behind ? `after ${this.spec.behind} agent messages, ` : ''}${this.spec.naming} ${describeTarget(this.target)}, ${this.spec.channel}, vars ${this.spec.variables}${this.spec.revokeAfter ? ', then revoke' : ''})`;
}

const weighted = <T,>(...entries: Array<[T, number]>): fc.Arbitrary<T> => fc.oneof(...entries.map(([value, weight]) => ({ arbitrary: fc.constant(value), weight })));
const target: fc.Arbitrary<Target> = fc.record({ pick: fc.nat(11), aimed: weighted([true, 5], [false, 1]) });
const editorIndex = fc.integer({ min: 0, max: 1 });
const sendSpec: fc.Arbitrary<SendSpec> = fc
  .record({
    naming: weighted<SendSpec['naming']>(['latest', 5], ['explicit', 5], ['ghost', 1]),
    channel: weighted<Channel>(['sms', 3], ['email', 1]),
    variables: weighted<SendSpec['variables']>(['name', 6], ['nameAndEta', 3], ['none', 1]),
    revokeAfter: weighted([false, 4], [true, 1]),
  })
  // A revoke right after a send races the sender; mostly give the message a queue to wait in, so that
  // the race is lost by the sender often, whatever the machine's speed.
  .chain((spec) => (spec.revokeAfter ? weighted([0, 1], [1, 1], [2, 1], [4, 2]) : weighted([0, 6], [1, 1])).map((behind) => ({ ...spec, behind })));
const commands = [
  fc.oneof(
    { arbitrary: editorIndex.map((a) => new CreateTemplate(a)), weight: 1 },
    { arbitrary: fc.tuple(fc.nat(3), editorIndex).map(([p, a]) => new NewVersion(p, a)), weight: 4 },
    { arbitrary: target.map((tg) => new Submit(tg)), weight: 5 },
    {
      arbitrary: fc
        .tuple(target, weighted<Approve['by']>(['approver', 6], ['otherEditor', 3], ['author', 1]), weighted<Approve['seen']>(['current', 5], ['none', 3], ['stale', 2]))
        .map(([tg, by, seen]) => new Approve(tg, by, seen)),
      weight: 6,
    },
    { arbitrary: target.map((tg) => new Reject(tg)), weight: 1 },
    { arbitrary: target.map((tg) => new Revoke(tg)), weight: 1 },
    { arbitrary: fc.tuple(target, sendSpec).map(([tg, spec]) => new Send(tg, spec)), weight: 10 },
  ),
];

/**
 * Waits for the sender to finish with every message of the run, then checks what staff see (the
 * thread, the template, the approval queue) and what reached the outbox against the model.
 */
async function assertOnlyApprovedWentOut(model: Model, real: Real): Promise<Pick<Stats, 'sent' | 'sentThenRevoked' | 'revokedInFlight'>> {
  const byId = new Map(model.sends.map((s) => [s.messageId, s]));
  const messages = await waitFor(
    async () => {
      const outbound = (await thread(real.conversationId)).filter((msg) => msg.direction === 'outbound');
      return outbound.every((msg) => msg.status === 'sent' || msg.status === 'failed') && outbound;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );

  // The thread holds exactly the accepted sends: a refused send wrote nothing.
  expect(messages.map((msg) => msg.messageId).sort()).toEqual([...byId.keys()].sort());
  const outcome = { sent: 0, sentThenRevoked: 0, revokedInFlight: 0 };
  const entries = await outbox(real.conversationId);
  for (const msg of messages) {
    const sent = byId.get(msg.messageId as string)!;
    const delivered = entries.filter((e) => e.messageId === msg.messageId);
    if (sent.kind === 'agent') {
      // A person wrote it: it goes out as written, with no template and no approval.
      expect(msg).toMatchObject({ channel: 'sms', body: sent.body, status: 'sent' });
      expect(msg.templateId).toBeUndefined();
      expect(delivered).toEqual([expect.objectContaining({ channel: 'sms', to: real.to.sms, body: sent.body })]);
      continue;
    }
    const version = model.templates.find((tm) => tm.templateId === sent.templateId)!.versions[sent.version - 1]!;
    const content = expectedContent(version.marker, sent.channel, sent.variables);
    expect(msg, 'rendered from the version that was approved when sent').toMatchObject({
      channel: sent.channel,
      templateId: sent.templateId,
      templateVersion: sent.version,
      contentHash: sent.contentHash,
      body: content.body,
      ...(content.subject !== undefined ? { subject: content.subject } : {}),
    });
    if (msg.status === 'sent') {
      outcome.sent++;
      // Claimed while still approved: a revoke, if any, committed after the claim.
      if (version.revokedAt !== undefined) {
        expect(Date.parse(msg.sendingAt as string), `${msg.messageId} claimed before its version was revoked`).toBeLessThan(version.revokedAt);
        outcome.sentThenRevoked++;
      }
      expect(delivered, 'the outbox holds each sent message once, with the approved content').toEqual([
        expect.objectContaining({ channel: sent.channel, to: real.to[sent.channel], ...content }),
      ]);
    } else {
      // Only a revoke after queueing stops an accepted send; the sender decided so after the revoke began.
      expect(msg).toMatchObject({ status: 'failed', failureReason: 'template_not_approved' });
      expect(version.status).toBe('revoked');
      expect(Date.parse(msg.statusUpdatedAt as string), `${msg.messageId} failed after the revoke was asked for`).toBeGreaterThanOrEqual(version.revokeRequestedAt!);
      expect(delivered, `${msg.messageId} never reached the outbox`).toEqual([]);
      outcome.revokedInFlight++;
    }
  }
  expect(entries.map((e) => e.messageId).sort(), 'the outbox holds sent messages only').toEqual(messages.filter((msg) => msg.status === 'sent').map((msg) => msg.messageId).sort());

  // Every version as staff see it (status, author, hash, who decided), and a trail with each transition
  // once and nothing for a refused one. (Entries of one millisecond may come in any order: compared sorted.)
  for (const template of model.templates) {
    const seen = await jsonOf<{ versions: Json[] }>(await call('GET', `/templates/${template.templateId}`, real.decider), 200);
    expect(seen.versions).toEqual(
      template.versions.map((state, i) =>
        expect.objectContaining({
          version: i + 1,
          status: state.status,
          contentHash: state.contentHash,
          author: real.editors[state.author]!.sub,
          ...(state.approvedBy !== undefined ? { approvedBy: state.approvedBy } : {}),
          ...(state.status === 'revoked' ? { revokedBy: real.decider.sub } : {}),
        }),
      ),
    );
    const trail = await jsonOf<Array<{ action: string; actor: string; version?: number; contentHash?: string }>>(await call('GET', `/templates/${template.templateId}/audit`, real.decider), 200);
    expect(trail.filter((entry) => entry.action !== 'queued_for_approval').map(auditLine).sort(), `audit of ${template.templateId}`).toEqual([...template.audit].sort());
  }
  // The approval queue lists exactly the pending versions (the queue consumer adds them shortly after a submit).
  const mine = new Set(model.templates.map((tm) => tm.templateId));
  const pending = allVersions(model)
    .filter((ref) => ref.state.status === 'pending_approval')
    .map((ref) => `${ref.template.templateId}/${ref.version}`)
    .sort();
  await waitFor(
    async () => {
      const queue = await jsonOf<Array<{ templateId: string; version: number }>>(await call('GET', '/approvals', real.decider), 200);
      expect(queue.filter((item) => mine.has(item.templateId)).map((item) => `${item.templateId}/${item.version}`).sort()).toEqual(pending);
      return true;
    },
    { timeoutMs: 10_000, intervalMs: 100 },
  );
  return outcome;
}

const NUM_RUNS = 25;

describe('approval model', () => {
  it('never lets a draft, pending, rejected or revoked version reach a provider, under any sequence of edits, decisions and sends', async () => {
    const totals = { runs: 0, commands: 0, ...noStats() };
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 80, size: 'max' }), async (cmds) => {
        const customer = await newCustomer();
        const run = randomBytes(3).toString('hex');
        const real: Real = {
          conversationId: customer.conversationId,
          to: { sms: customer.phone!, email: customer.email! },
          editors: [0, 1].map((i) => ({ ...editor(`model-editor${i}-${run}`), roles: ['editor', 'approver'] })) as [Staff, Staff],
          decider: approver(`model-approver-${run}`),
          sender: agent(),
          run,
        };
        const model: Model = { templates: [], sends: [], stats: noStats(), commands: 0 };
        // Every run starts from one template, so the generated commands have something to act on.
        await fc.asyncModelRun(() => ({ model, real }), [new CreateTemplate(0), ...cmds]);
        Object.assign(model.stats, await assertOnlyApprovedWentOut(model, real));
        totals.runs++;
        totals.commands += model.commands;
        for (const name of statNames) totals[name] += model.stats[name];
      }),
      {
        numRuns: NUM_RUNS,
        endOnFailure: true,
        examples: [
          // Crosses the rule both ways: refused, sent while approved, a newer draft, revoked, refused.
          [
            [
              new Send({ pick: 0, aimed: false }, sendSpecOf({ naming: 'latest' })),
              new Submit({ pick: 0, aimed: true }),
              new Send({ pick: 0, aimed: false }, sendSpecOf({ naming: 'explicit' })),
              new Approve({ pick: 0, aimed: true }, 'approver', 'current'),
              new Send({ pick: 0, aimed: true }, sendSpecOf({ naming: 'latest' })),
              new NewVersion(0, 1),
              new Send({ pick: 1, aimed: false }, sendSpecOf({ naming: 'explicit', channel: 'email', variables: 'nameAndEta' })),
              new Send({ pick: 0, aimed: true }, sendSpecOf({ naming: 'latest', channel: 'email', variables: 'nameAndEta' })),
              new Revoke({ pick: 0, aimed: true }),
              new Send({ pick: 0, aimed: false }, sendSpecOf({ naming: 'explicit' })),
            ],
          ],
          // Four eyes: the author is refused, the other editor may approve. Then an older approved version
          // is named explicitly and revoked while its message waits behind two agent messages.
          [
            [
              new Submit({ pick: 0, aimed: true }),
              new Approve({ pick: 0, aimed: true }, 'author', 'current'),
              new Approve({ pick: 0, aimed: true }, 'otherEditor', 'stale'),
              new Approve({ pick: 0, aimed: true }, 'otherEditor', 'none'),
              new Send({ pick: 0, aimed: true }, sendSpecOf({ variables: 'none' })),
              new Send({ pick: 0, aimed: true }, sendSpecOf()),
              new NewVersion(0, 0),
              new Submit({ pick: 0, aimed: true }),
              new Approve({ pick: 0, aimed: true }, 'approver', 'current'),
              new Send({ pick: 0, aimed: true }, sendSpecOf({ naming: 'explicit', behind: 2, revokeAfter: true })),
              new Send({ pick: 0, aimed: false }, sendSpecOf({ naming: 'latest' })),
              new Send({ pick: 0, aimed: false }, sendSpecOf({ naming: 'ghost' })),
            ],
          ],
        ],
      },
    );
    console.info('approval model:', totals);
    expect(totals.runs).toBe(NUM_RUNS);
    // Each path was actually explored, by the generated runs and not only the two examples above: every
    // threshold is above what the examples alone can give (5 sends, 3 approvals, 4 refused `not_approved`,
    // at most 4 of any other figure). Over 25 runs of this test, the lowest total of each was at least twice
    // its threshold (e.g. 64 sent, 6 self-approvals refused), so a miss means that generation stopped
    // reaching a path, not bad luck. (Revoked in flight depends on the sender's speed: once it lost its
    // read before the claim, 3 in one run; with up to 4 messages ahead of the raced one, 15–21 in three runs.)
    const atLeast: Partial<Stats> = {
      sent: 25,
      sendsLatest: 15,
      sendsExplicit: 15,
      sendsEmail: 5,
      latestBehindNewerVersion: 8,
      explicitOlderApproved: 2,
      sentThenRevoked: 10,
      revokedInFlight: 4,
      refusedNotApproved: 10,
      refusedNoSuchVersion: 3,
      refusedMissingVariable: 3,
      approvals: 20,
      approvalsByOtherEditor: 5,
      rejections: 3,
      refusedSelfApproval: 2,
      refusedHashMismatch: 2,
    };
    for (const [name, min] of Object.entries(atLeast)) expect(totals[name as StatName], `${name} across ${NUM_RUNS} runs`).toBeGreaterThanOrEqual(min);
  }, 120_000);
});
