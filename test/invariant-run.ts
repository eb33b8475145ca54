/**
 * Runs plans from test/invariant-plan.ts on the cage (test/invariant-cage.ts): every action in order, recording
 * what each entry point refused or wrongly accepted, then every approval closed and every turn and command settled,
 * and hands test/invariants.ts what the run left behind. Shared by the bounded test (test/invariants.int.test.ts)
 * and the long bench (bench/invariants.ts).
 */
import crypto from 'node:crypto';
import type { SessionState } from '../common/session';
import { approvalDecisionSignal, copilotPausedSignal, commandResultsSignal, resetBreakerSignal, sendMessageUpdate, stateQuery } from '../workflows/definitions';
import { turnTag } from './hostile-model';
import type { Cage } from './invariant-cage';
import { decide } from './invariant-decisions';
import { concreteReplies, type Action, type PersonName, type RunPlan, type SymStep } from './invariant-plan';
import type { ObservedDenial, RunRecord } from './invariants';

export { startCage, stopCage, type Cage } from './invariant-cage';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A bound on a call into Temporal: a workflow that never answers must not hang the run (the checks still see it). */
async function bounded<T>(what: string, p: Promise<T>, ms = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms / 1000}s`)), ms)));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

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
    journals: [...cage.book.acme, cage.book.warehouse].map((d) => ({ deviceId: d.id, name: d.name, file: sys.journalOf(d.name) })),
    modelRequests: [],
    otherOrgMarkers: cage.otherOrgMarkers,
    actionMs: [],
    finishMs: 0,
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
          const { turnId } = await bounded('a forged sendMessage', handle.executeUpdate(sendMessageUpdate, { args: [{ text, userId: as.userId }] }));
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
          const waiting = await sys.prisma.deviceCommand.findFirst({ where: { id: { startsWith: `${session.id}:` }, status: { in: ['pending', 'delivered'] } } });
          if (!waiting) return;
          await sys.temporal.client.workflow.getHandle(waiting.reportTo).signal(commandResultsSignal, { results: [{ commandId: waiting.id, status: 'succeeded' }] });
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
    for (const a of plan.actions) {
      const started = Date.now();
      await (act[a.type] as (x: Action) => Promise<void>)(a);
      record.actionMs.push(Date.now() - started);
    }
  } finally {
    // Even after a driver error: the next run must not start paused or with approvals open.
    const started = Date.now();
    await finish(cage, record, runTag);
    record.finishMs = Date.now() - started;
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
    let s: SessionState;
    try {
      s = await bounded('the session state query', sys.temporal.client.workflow.getHandle(session.workflowId).query(stateQuery));
    } catch (err) {
      console.error(`invariants: session ${sessionId} could not be read (${String(err)}); its in-workflow refusals are not checked`);
      continue;
    }
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

