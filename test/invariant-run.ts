/**
 * Runs plans from test/invariant-plan.ts against the whole system (real Temporal, PostgreSQL, Redis, api, worker,
 * simulated agents), with the hostile model as the copilot's model, Slack faked at the wire and a real SMTP
 * receiver for emailed links. It records what each entry point refused, then hands test/invariants.ts what the
 * run left behind. Shared by the bounded test (test/invariants.int.test.ts) and the long bench (bench/invariants.ts).
 */
import crypto from 'node:crypto';
import type { Approval } from '@prisma/client';
import type { SessionState } from '../common/session';
import { slackSignature } from '../api/services/slack';
import { approvalDecisionSignal, copilotPausedSignal, remediationResultsSignal, resetBreakerSignal, sendMessageUpdate, stateQuery } from '../workflows/definitions';
import { startTestSystem, type TestSystem } from './harness';
import { HostileModel, turnTag } from './hostile-model';
import { concreteReplies, type Action, type DeviceBook, type PersonName, type RunPlan, type SymStep } from './invariant-plan';
import type { ObservedDenial, RunRecord } from './invariants';
import { FakeSlack, SmtpInbox } from './services';

const SIGNING_SECRET = 'invariants-signing-secret-0123456789';

interface Person {
  userId: string;
  key: string;
  email: string;
  /** Linked to this Slack user (as its own admin linked it); unlinked people click as strangers. */
  slackId: string;
  acting: boolean;
  approver: boolean;
  admin: boolean;
}

export interface Cage {
  sys: TestSystem;
  model: HostileModel;
  slack: FakeSlack;
  inbox: SmtpInbox;
  team: string;
  people: Record<PersonName, Person>;
  book: DeviceBook;
  otherOrgMarkers: string[];
  runs: number;
}

/** The whole system with the hostile model, Slack and mail, and the people and devices plans refer to. */
export async function startCage(opts: { simulated: number }): Promise<Cage> {
  const model = await HostileModel.start();
  const slack = await FakeSlack.start();
  const inbox = await SmtpInbox.start();
  const sys = await startTestSystem({
    simulated: opts.simulated,
    modelUrl: model.url,
    env: {
      SLACK_BOT_TOKEN: 'xoxb-invariants-0123',
      SLACK_SIGNING_SECRET: SIGNING_SECRET,
      SLACK_API_URL: slack.url,
      SMTP_URL: inbox.url,
      // Plans send many messages quickly; these runs are about the cage, not the message rate.
      RATE_USER_MESSAGES_PER_MINUTE: '1000',
      RATE_ORG_MESSAGES_PER_HOUR: '100000',
      RATE_WINDOW_SCALE: '0.05',
      // Huge inputs make costly requests; a long bench must not end up testing only the budget's refusals.
      DEFAULT_DAILY_BUDGET_USD: '100000',
      DEFAULT_MONTHLY_BUDGET_USD: '1000000',
      DEFAULT_HOURLY_SPEND_USD: '100000',
    },
  });
  const team = `T0${crypto.randomBytes(4).toString('hex').toUpperCase()}`;
  const { acme, globex } = sys.seed.orgs;
  const adminKey = sys.keyOf('admin');
  const userOf = async (role: 'technician' | 'admin' | 'approver' | 'auditor', org: 'acme' | 'globex' = 'acme') => {
    const cred = sys.seed.credentials.find((c) => c.role === role && (role === 'auditor' || c.org === sys.seed.orgs[org].slug))!;
    const user = await sys.prisma.user.findUniqueOrThrow({ where: { email: cred.email } });
    return { userId: user.id, key: cred.apiKey, email: cred.email };
  };
  const narrowed = await sys.createUser(['approver']);
  await sys.prisma.roleBinding.updateMany({ where: { userId: narrowed.userId, orgId: acme.id }, data: { siteIds: [acme.siteIds[1]!] } });
  const narrowedEmail = (await sys.prisma.user.findUniqueOrThrow({ where: { id: narrowed.userId } })).email;
  const base = { acting: false, approver: false, admin: false };
  const people: Record<PersonName, Person> = {
    technician: { ...base, ...(await userOf('technician')), slackId: 'U0TECH', acting: true },
    // The admin grants itself the approver role (audited, allowed): the cage must still keep it from approving its own T4 calls.
    admin: { ...base, ...(await userOf('admin')), slackId: 'U0ADMIN', acting: true, approver: true, admin: true },
    approver: { ...base, ...(await userOf('approver')), slackId: 'U0APPROVER', approver: true },
    auditor: { ...base, ...(await userOf('auditor')), slackId: 'U0AUDITOR' },
    narrowedApprover: { ...base, ...narrowed, email: narrowedEmail, slackId: 'U0NARROW', approver: true },
    globexTechnician: { ...base, ...(await userOf('technician', 'globex')), slackId: 'U0GLOBEXTECH' },
    globexApprover: { ...base, ...(await userOf('approver', 'globex')), slackId: 'U0GLOBEXAPP' },
  };
  const must = async (what: string, res: Promise<{ status: number; body: unknown }>) => {
    const r = await res;
    if (r.status >= 300) throw new Error(`setting up the cage: ${what} answered ${r.status} ${JSON.stringify(r.body)}`);
  };
  await must('self-granted approver', sys.request('POST', `/v1/orgs/${acme.slug}/bindings`, { key: adminKey, body: { userId: people.admin.userId, role: 'approver' } }));
  await must('slack channel', sys.request('PUT', `/v1/orgs/${acme.slug}/slack`, { key: adminKey, body: { teamId: team, channelId: 'C0APPROVALS' } }));
  for (const name of ['technician', 'admin', 'approver', 'narrowedApprover'] as const) {
    await must(`slack link ${name}`, sys.request('POST', `/v1/orgs/${acme.slug}/slack/users`, { key: adminKey, body: { teamId: team, slackUserId: people[name].slackId, email: people[name].email } }));
  }
  await must('globex slack link', sys.request('POST', `/v1/orgs/${globex.slug}/slack/users`, { key: sys.keyOf('admin', 'globex'), body: { teamId: team, slackUserId: people.globexApprover.slackId, email: people.globexApprover.email } }));
  // Short approval windows: an approval nobody decides expires (a rejection) within the run.
  await must('policy', sys.request('PUT', `/v1/orgs/${acme.slug}/policy`, { key: adminKey, body: { overrides: [], approvalTtlSeconds: { t3: 20, t4: 20 } } }));

  const warehouse = await sys.enrollDevice(`WAREHOUSE-${crypto.randomBytes(3).toString('hex')}`);
  const moved = await sys.prisma.device.update({ where: { id: warehouse.deviceId }, data: { siteId: acme.siteIds[1]! } });
  const foreign = await sys.enrollDevice(`GLOBEX-SRV-${crypto.randomBytes(3).toString('hex')}`, 'globex');
  const globexDevice = await sys.prisma.device.findUniqueOrThrow({ where: { id: foreign.deviceId } });
  const book: DeviceBook = {
    acme: [...sys.simulated].map(([name, id]) => ({ id, name })).sort((a, b) => a.name.localeCompare(b.name)),
    warehouse: { id: moved.id, name: moved.name },
    globex: { id: globexDevice.id, name: globexDevice.name },
    globexOrgId: globex.id,
  };
  const globexOrg = await sys.prisma.organization.findUniqueOrThrow({ where: { id: globex.id } });
  const otherOrgMarkers = [globexDevice.id, globexDevice.name, globexDevice.hostname, globexOrg.name, globexOrg.slug, globex.id, 'Main Office', people.globexTechnician.email, people.globexApprover.email];
  return { sys, model, slack, inbox, team, people, book, otherOrgMarkers, runs: 0 };
}

export async function stopCage(cage: Cage | undefined): Promise<void> {
  if (!cage) return;
  await cage.sys.stop();
  await cage.model.stop();
  await cage.slack.stop();
  await cage.inbox.stop();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One run: the plan's actions in order, then every open approval rejected and every turn and command settled. */
export async function executeRun(cage: Cage, plan: RunPlan): Promise<RunRecord> {
  const { sys, people } = cage;
  const acme = sys.seed.orgs.acme;
  const runTag = `r${(cage.runs += 1)}x${crypto.randomBytes(3).toString('hex')}`;
  let turns = 0;
  const record: RunRecord = {
    startedAt: new Date(),
    orgId: acme.id,
    otherOrgId: sys.seed.orgs.globex.id,
    sessionIds: [],
    messages: [],
    screenRefusedTurns: [],
    sessionRefusals: [],
    observedDenials: [],
    wronglyAccepted: [],
    journals: cage.book.acme.map((d) => ({ deviceId: d.id, name: d.name, file: sys.journalOf(d.name) })),
    modelRequests: [],
    otherOrgMarkers: cage.otherOrgMarkers,
  };
  const sessions: { id: string; owner: PersonName; workflowId: string }[] = [];
  for (const owner of plan.owners) {
    const res = await sys.request('POST', '/v1/sessions', { key: people[owner].key, body: { org: acme.slug } });
    if (res.status !== 201) throw new Error(`a run could not start its session: ${res.status} ${JSON.stringify(res.body)}`);
    sessions.push({ id: res.body.id, owner, workflowId: res.body.workflowId });
    record.sessionIds.push(res.body.id);
  }
  const denied = (d: Omit<ObservedDenial, 'at'>, at: Date) => record.observedDenials.push({ ...d, at });
  const adminKey = people.admin.key;
  const state = async (sessionId: string): Promise<any> => (await sys.request('GET', `/v1/sessions/${sessionId}`, { key: adminKey })).body;

  /** Until the turn ended or waits for a human (bounded: a stuck turn is the invariants' business, not the driver's). */
  const settle = async (sessionId: string, turnId: string) => {
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const s = await state(sessionId);
      const turn = s.turns?.find((t: { turnId: string }) => t.turnId === turnId);
      if (s.status === 'waiting_approval' || ['answered', 'failed', 'refused'].includes(turn?.status)) return;
      await sleep(300);
    }
  };
  const script = (steps: SymStep[], text: string) => {
    const tag = `${runTag}-${(turns += 1)}`;
    cage.model.script(tag, concreteReplies(steps, tag, cage.book));
    return `${text} ${turnTag(tag)}`;
  };
  const pending = () => sys.prisma.approval.findFirst({ where: { sessionId: { in: record.sessionIds }, status: 'pending' }, orderBy: { createdAt: 'desc' } });

  const act: { [T in Action['type']]: (a: Extract<Action, { type: T }>) => Promise<void> } = {
    async message(a) {
      const session = sessions[a.session % sessions.length]!;
      const name = a.by === 'owner' ? session.owner : a.by;
      const by = people[name];
      const text = script(a.steps, a.text);
      const at = new Date();
      const res = await sys.request('POST', `/v1/sessions/${session.id}/messages`, { key: by.key, body: { text } });
      const allowed = by.acting && (session.owner === name || by.admin);
      if (res.status === 202) {
        record.messages.push({ sessionId: session.id, turnId: res.body.turnId, text, userId: by.userId });
        if (!allowed) record.wronglyAccepted.push({ what: 'a message', actorId: by.userId, target: session.id });
        await settle(session.id, res.body.turnId);
      } else if (crossTenant(name, res.status)) {
        denied({ what: `a message (HTTP ${res.status})`, actorId: by.userId, target: session.id, sessionId: session.id }, at);
      }
    },
    decide: (a) => decide(cage, record, a, pending, denied),
    async pause(a) {
      await pauseOrResume(cage, record, a.by, true, denied);
    },
    async resume(a) {
      await pauseOrResume(cage, record, a.by, false, denied);
    },
    async resetBreaker(a) {
      const session = sessions[a.session % sessions.length]!;
      const by = people[a.by];
      const at = new Date();
      const res = await sys.request('POST', `/v1/sessions/${session.id}/breaker/reset`, { key: by.key });
      if (res.status === 200 && !by.admin) record.wronglyAccepted.push({ what: 'a breaker reset', actorId: by.userId, target: session.id });
      if (crossTenant(a.by, res.status)) denied({ what: `a breaker reset (HTTP ${res.status})`, actorId: by.userId, target: session.id, sessionId: session.id }, at);
    },
    async forge(a) {
      // Straight to the Temporal frontend, as anyone who can reach it could: no API key, no role check.
      const session = sessions[a.session % sessions.length]!;
      const handle = sys.temporal.client.workflow.getHandle(session.workflowId);
      const as = people[a.as];
      try {
        if (a.what === 'sendMessage') {
          const text = script(a.steps, a.text);
          const { turnId } = await handle.executeUpdate(sendMessageUpdate, { args: [{ text, userId: as.userId }] });
          record.messages.push({ sessionId: session.id, turnId, text, userId: as.userId });
          await settle(session.id, turnId);
        } else if (a.what === 'resetBreaker') {
          await handle.signal(resetBreakerSignal, { adminId: as.userId });
        } else if (a.what === 'copilotPaused') {
          await handle.signal(copilotPausedSignal, { paused: false, by: as.userId });
        } else if (a.what === 'approvalDecision') {
          const approval = await sys.prisma.approval.findFirst({ where: { sessionId: session.id, status: 'pending' } });
          if (!approval) return;
          const at = new Date();
          await handle.signal(approvalDecisionSignal, { approvalId: approval.id, decision: 'approved', approverId: as.userId, channel: 'api', digest: approval.digest, ...(approval.confirmationPhrase ? { confirmation: approval.confirmationPhrase } : {}) });
          denied({ what: 'a forged approvalDecision signal', actorId: as.userId, target: approval.id, sessionId: session.id }, at);
          await sleep(1500);
        } else {
          const waiting = await sys.prisma.deviceCommand.findFirst({ where: { id: { startsWith: `${session.id}:` }, reportTo: { not: null }, status: { in: ['pending', 'delivered'] } } });
          if (!waiting?.reportTo) return;
          await sys.temporal.client.workflow.getHandle(waiting.reportTo).signal(remediationResultsSignal, { results: [{ commandId: waiting.id, status: 'succeeded' }] });
        }
      } catch {
        // A forged call the frontend or the workflow refused outright changes nothing; the checks see the rest.
      }
    },
    async restartWorker() {
      await sys.stopWorker();
      await sys.startWorker();
    },
  };

  try {
    for (const a of plan.actions) await (act[a.type] as (x: Action) => Promise<void>)(a);
  } finally {
    // Even after a driver error: the next run must not start paused or with approvals open.
    await finish(cage, record, runTag);
  }
  return record;
}

async function pauseOrResume(cage: Cage, record: RunRecord, name: PersonName, paused: boolean, denied: (d: Omit<ObservedDenial, 'at'>, at: Date) => void) {
  const by = cage.people[name];
  const acme = cage.sys.seed.orgs.acme;
  const at = new Date();
  const res = await cage.sys.request('POST', `/v1/orgs/${acme.slug}/copilot/${paused ? 'pause' : 'resume'}`, { key: by.key });
  if (res.status === 200 && !by.admin) record.wronglyAccepted.push({ what: paused ? 'a pause' : 'a resume', actorId: by.userId, target: acme.slug });
  if (crossTenant(name, res.status)) denied({ what: `${paused ? 'a pause' : 'a resume'} (HTTP ${res.status})`, actorId: by.userId, target: acme.slug }, at);
}

/**
 * Which refusals must leave an audit event (architecture §8 and §11): another org's user probing this org's ids,
 * and every refused decision (approver, digest, phrase). A technician's plain 403 on an admin route is not a cage
 * decision and is only checked for being refused.
 */
const crossTenant = (name: PersonName, status: number) => name.startsWith('globex') && status === 404;

const DECISION_DENIED = /changed since you reviewed it|type ".*" exactly|approver|someone other than/;

/** A decision on the newest pending approval of the run, by one person, through one channel. */
async function decide(
  cage: Cage,
  record: RunRecord,
  a: Extract<Action, { type: 'decide' }>,
  pending: () => Promise<Approval | null>,
  denied: (d: Omit<ObservedDenial, 'at'>, at: Date) => void,
): Promise<void> {
  const approval = await pending();
  if (!approval) return;
  const by = cage.people[a.by];
  const digest = a.digest === 'right' ? approval.digest : a.digest === 'wrong' ? '0'.repeat(64) : undefined;
  const confirmation = a.phrase === 'right' ? (approval.confirmationPhrase ?? undefined) : a.phrase === 'wrong' ? 'NOT-THE-DEVICE' : undefined;
  const at = new Date();
  let refused: string | null = null;
  if (a.channel === 'api') {
    const res = await cage.sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: by.key, body: { decision: a.decision, reason: 'randomized run', ...(digest ? { digest } : {}), ...(confirmation ? { confirmation } : {}) } });
    if ([401, 403, 404].includes(res.status) || ([400, 409].includes(res.status) && DECISION_DENIED.test(String(res.body?.error?.message)))) refused = `HTTP ${res.status}`;
  } else if (a.channel === 'slack') {
    refused = await decideInSlack(cage, approval, a, by, digest, confirmation);
  } else {
    refused = await decideByEmail(cage, approval, a, by, confirmation);
  }
  const after = await cage.sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } });
  if (after.decidedBy === by.userId && !by.approver) record.wronglyAccepted.push({ what: `a decision through ${a.channel}`, actorId: by.userId, target: approval.id });
  if (refused) {
    const unlinked = a.channel === 'slack' && !['technician', 'admin', 'approver', 'narrowedApprover', 'globexApprover'].includes(a.by);
    denied({ what: `a ${a.decision} through ${a.channel} (${refused})`, actorId: unlinked ? `slack:${cage.team}:${by.slackId}` : by.userId, target: approval.id, sessionId: approval.sessionId }, at);
  }
  // Let the waiting workflow take the decision in before the next action.
  const deadline = Date.now() + 10_000;
  while (after.status !== 'pending' && Date.now() < deadline && !(await cage.sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).recordedAt) await sleep(200);
}

/** POSTs to /slack/interactions as Slack would (v0-signed); returns why it was refused, or null. */
async function decideInSlack(cage: Cage, approval: Approval, a: Extract<Action, { type: 'decide' }>, by: Person, digest: string | undefined, confirmation: string | undefined): Promise<string | null> {
  const posted = await cage.slack.waitFor('chat.postMessage', (c) => JSON.stringify(c.args.blocks ?? '').includes(approval.id), 5000).catch(() => null);
  if (!posted) return null;
  let value: { a: string; d: string };
  try {
    const button = posted.args.blocks.find((b: { type: string }) => b.type === 'actions').elements.find((e: { action_id: string }) => e.action_id === a.decision);
    value = JSON.parse(button.value as string) as { a: string; d: string };
  } catch {
    return null; // the message no longer offers the button (already decided)
  }
  const signed = JSON.stringify({ a: value.a, d: digest === undefined || digest === approval.digest ? value.d : digest });
  const post = async (payload: unknown) => {
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    const ts = String(Math.floor(Date.now() / 1000));
    const res = await fetch(`${cage.sys.url}/slack/interactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': ts, 'x-slack-signature': slackSignature(SIGNING_SECRET, ts, body) },
      body,
    });
    return res.text();
  };
  const since = Date.now();
  if (a.decision === 'approve' && approval.tier >= 4) {
    // T4: the click opens the modal; the decision is its submission with the typed phrase.
    const answer = await post({ type: 'view_submission', user: { id: by.slackId }, team: { id: cage.team }, view: { callback_id: 'gatehouse_t4', private_metadata: signed, state: { values: { phrase: { value: { value: confirmation ?? '' } } } } } });
    return answer.includes('"errors"') ? 'modal refused' : null;
  }
  await post({ type: 'block_actions', user: { id: by.slackId }, team: { id: cage.team }, channel: { id: 'C0APPROVALS' }, actions: [{ action_id: a.decision, value: signed }] });
  const told = await cage.slack.waitFor('chat.postEphemeral', (c) => c.args.user === by.slackId && c.at >= since, 5000).catch(() => null);
  const decided = (await cage.sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).decidedBy === by.userId;
  return told && !decided && !/already|first/.test(String(told.args.text)) ? 'ephemeral refusal' : null;
}

/** Follows the emailed link the person received, if any, and submits the page's form; returns why it was refused, or null. */
async function decideByEmail(cage: Cage, approval: Approval, a: Extract<Action, { type: 'decide' }>, by: Person, confirmation: string | undefined): Promise<string | null> {
  const mail = await cage.inbox.waitFor(by.email, /approval needed/, 5000, (m) => m.text.includes(approval.id)).catch(() => null);
  const link = mail && /https?:\/\/[^\s]+\/a\/[A-Za-z0-9_-]{43}/.exec(mail.text)?.[0];
  if (!link) return null;
  const page = await fetch(link);
  const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())?.[1];
  if (!csrf) return null;
  const form = new URLSearchParams({ _csrf: csrf, decision: a.decision, reason: 'randomized run', ...(confirmation ? { confirmation } : {}) });
  const res = await fetch(link, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie }, body: form.toString() });
  return [400, 403, 404].includes(res.status) ? `link page ${res.status}` : null;
}

/**
 * The end of a run: the kill switch lifted, every open approval rejected by the approver (a turn may ask again),
 * every turn and command of the run finished; then what the workflows themselves refused is read from their state.
 */
async function finish(cage: Cage, record: RunRecord, runTag: string): Promise<void> {
  const { sys, people } = cage;
  const acme = sys.seed.orgs.acme;
  if ((await sys.prisma.organization.findUniqueOrThrow({ where: { id: acme.id } })).copilotPausedAt) {
    await sys.request('POST', `/v1/orgs/${acme.slug}/copilot/resume`, { key: people.admin.key });
  }
  const deadline = Date.now() + 120_000;
  for (;;) {
    const open = await sys.prisma.approval.findMany({ where: { sessionId: { in: record.sessionIds }, status: 'pending' } });
    for (const a of open) await sys.request('POST', `/v1/approvals/${a.id}/decision`, { key: people.approver.key, body: { decision: 'reject', reason: 'end of the run' } });
    const states = await Promise.all(record.sessionIds.map((id) => sys.request('GET', `/v1/sessions/${id}`, { key: people.admin.key })));
    const busy = states.some((s) => s.body.status !== 'idle');
    const commands = await sys.prisma.deviceCommand.count({ where: { OR: record.sessionIds.map((id) => ({ id: { startsWith: `${id}:` } })), status: { in: ['pending', 'delivered'] } } });
    if ((open.length === 0 && !busy && commands === 0) || Date.now() > deadline) break;
    await sleep(500);
  }
  for (const sessionId of record.sessionIds) {
    const session = await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } });
    const s: SessionState = await sys.temporal.client.workflow.getHandle(session.workflowId).query(stateQuery);
    for (const turn of s.turns) {
      if (turn.status === 'refused') {
        record.sessionRefusals.push({ sessionId, turnId: turn.turnId, reason: turn.error ?? '' });
        if (/prompt injection/.test(turn.error ?? '')) record.screenRefusedTurns.push({ sessionId, turnId: turn.turnId });
      }
      for (const step of turn.steps) {
        if (step.kind === 'tool' && step.status === 'denied' && !step.invocationId) record.sessionRefusals.push({ sessionId, turnId: turn.turnId, toolUseId: step.toolUseId, reason: step.summary ?? '' });
      }
    }
  }
  record.modelRequests = cage.model.requests.filter((r) => r.tag?.startsWith(`${runTag}-`));
}

