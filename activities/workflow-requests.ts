/**
 * Signals and updates can be sent by anyone who reaches the Temporal frontend, so the workflows believe none of
 * their payloads. The api records what a person asked for (a `WorkflowRequest` row: who, which workflow, what)
 * and the workflow carries only its id; these activities check the row before the workflow acts on it: it exists,
 * it is for this workflow and this kind of request, it was never used, and its author may still do it today.
 * Every refusal is audited; the workflow changes nothing.
 */
import type { Prisma, WorkflowRequest } from '@prisma/client';
import { Context } from '@temporalio/activity';
import { sessionOfWorkflowId, userMessageId } from '../common/ids';
import { TOOL_CALL_MESSAGE_KIND, UNKNOWN_SESSION_DENIAL } from '../common/session';
import { publishSessionEvent } from '../lib/session-events';
import { audit } from '../audit/log';
import { approvalAuthority, approverSitesOf } from '../lib/approval-authority';
import { continueProofProblem } from './approvals';
import type { ActivityDeps } from './deps';
import { callingWorkflow, checkSession, isCallersSession } from './session-identity';
import { readAndClaimRequest, type RequestRecord } from './request-record';

export type RequestKind = 'message' | 'tool_call' | 'breaker_reset' | 'remediation_pause' | 'remediation_resume' | 'remediation_cancel' | CanaryDecisionKind;

/** An approver's decision after a remediation's canary failed. */
export type CanaryDecision = 'continue' | 'cancel' | 'rollback';
export type CanaryDecisionKind = `remediation_canary_${CanaryDecision}`;
export const CANARY_DECISION_KINDS: CanaryDecisionKind[] = ['remediation_canary_continue', 'remediation_canary_cancel', 'remediation_canary_rollback'];
type Verdict<T> = ({ ok: true } & T) | { ok: false; reason: string };

/** This activity's place in its workflow run: the same on every retry, different for every other delivery. */
const thisDelivery = () => {
  const { workflowExecution, activityId } = Context.current().info;
  return `${workflowExecution?.runId ?? ''}/${activityId}`;
};

/** The session of a copilot workflow id, or of a remediation started by one (`copilot:<org>:<session>…`). */

const NOT_RECORDED = 'it did not come through Gatehouse (no request was recorded for it), so it was not acted on';

/** The author's roles in the org, or none when the user is gone or disabled. */
async function rolesOf(deps: ActivityDeps, userId: string, orgId: string): Promise<Set<string>> {
  const user = await deps.prisma.user.findUnique({ where: { id: userId }, include: { roleBindings: { where: { orgId } } } });
  if (!user || user.disabledAt) return new Set();
  return new Set(user.roleBindings.map((b) => b.role));
}

type ClaimInput = { requestId: string; workflowId: string; orgId: string; kinds: RequestKind[]; usedFor: string };
const USED_ALREADY = 'this request was used already; a request counts once';

/**
 * The one rule of a claim, whichever way the request was read: the request if it is this workflow's, of this kind,
 * and unused (`claimNow` claims it for `usedFor`, atomically, so two workflows or two deliveries cannot both use it);
 * a retry of the same activity finds its own claim; a claim lost to another transaction in that instant is read
 * again (`usedForNow`). Else why not.
 */
async function judgeClaim<R extends { id: string; workflowId: string; orgId: string; kind: string; usedFor: string | null }>(
  request: R | null,
  used: boolean,
  input: ClaimInput,
  claimNow: () => Promise<boolean>,
  usedForNow: () => Promise<string | null | undefined>,
): Promise<R | string> {
  if (!request || request.workflowId !== input.workflowId || request.orgId !== input.orgId || !input.kinds.includes(request.kind as RequestKind)) {
    return `no such request was recorded for this ${['message', 'tool_call', 'breaker_reset'].includes(input.kinds[0] ?? '') ? 'session' : 'remediation'}; ${NOT_RECORDED}`;
  }
  if (used) return request.usedFor === input.usedFor ? request : USED_ALREADY;
  if (await claimNow()) return request;
  return (await usedForNow()) === input.usedFor ? request : USED_ALREADY;
}

const usedForOf = (deps: ActivityDeps, id: string) => async () => (await deps.prisma.workflowRequest.findUnique({ where: { id } }))?.usedFor;

/** The request read, then claimed (see judgeClaim). */
async function claim(deps: ActivityDeps, input: ClaimInput): Promise<WorkflowRequest | string> {
  const request = await deps.prisma.workflowRequest.findUnique({ where: { id: input.requestId } });
  const claimNow = async () => (await deps.prisma.workflowRequest.updateMany({ where: { id: input.requestId, usedAt: null }, data: { usedAt: new Date(), usedFor: input.usedFor } })).count === 1;
  return judgeClaim(request, request?.usedAt != null, input, claimNow, usedForOf(deps, input.requestId));
}

/** `claim`'s answer from a request read and claimed with the session in one statement (./request-record.ts). */
function claimed(deps: ActivityDeps, record: RequestRecord, input: ClaimInput): Promise<NonNullable<RequestRecord['request']> | string> {
  return judgeClaim(record.request, record.request?.used ?? false, input, async () => record.claimed, usedForOf(deps, input.requestId));
}

async function refused(
  deps: ActivityDeps,
  what: { orgId: string; sessionId?: string | null; workflowId: string; target?: string; kind: string; requestId?: string; claimedUserId?: string; reason: string },
): Promise<{ ok: false; reason: string }> {
  // Fail closed: a refusal stands even if its audit event cannot be written (the log says so).
  await audit(deps.prisma, {
    orgId: what.orgId,
    actorType: what.claimedUserId ? 'user' : 'system',
    actorId: what.claimedUserId ?? null,
    action: 'workflow.request_refused',
    target: what.target ?? what.workflowId,
    sessionId: what.sessionId ?? sessionOfWorkflowId(what.workflowId),
    data: { kind: what.kind, requestId: what.requestId ?? null, reason: what.reason },
  }).catch((err: unknown) => deps.logger.warn({ err: (err as Error).message }, 'audit event could not be written'));
  return { ok: false, reason: what.reason };
}

/**
 * The author and text of a turn's message, from the api's record: for this session, unused, and written by someone
 * who may still post here (the session's technician, or an org admin). A message without a record is refused.
 */
export function makeVerifyMessageRequest(deps: ActivityDeps) {
  return async function verifyMessageRequest(input: { sessionId: string; orgId: string; turnId: string; requestId?: string; claimedUserId?: string }): Promise<Verdict<{ userId: string; text: string }>> {
    // The session, the request (claimed for this turn where every check before the claim holds) and its author's
    // roles: one statement (./request-record.ts). The checks below are the ones made of them before, in that order.
    const record = await readAndClaimRequest(deps.pool, { ...input, requestId: input.requestId ?? '', callingWorkflowId: callingWorkflow() ?? '', kinds: ['message'], usedFor: input.turnId });
    const { session } = record;
    const base = { orgId: input.orgId, sessionId: input.sessionId, workflowId: session?.workflowId ?? '', kind: 'message', requestId: input.requestId, claimedUserId: input.claimedUserId };
    const deny = (reason: string) => refused(deps, { ...base, reason: `this message was refused: ${reason}` });
    if (!session || session.orgId !== input.orgId) return deny('the session is unknown');
    // A workflow started under another id with this session's ids gets none of its messages.
    if (!isCallersSession(session, input)) return refused(deps, { ...base, reason: `this message was refused: ${UNKNOWN_SESSION_DENIAL}` });
    if (!input.requestId) return deny(NOT_RECORDED);
    const request = await claimed(deps, record, { requestId: input.requestId, workflowId: session.workflowId, orgId: input.orgId, kinds: ['message'], usedFor: input.turnId });
    if (typeof request === 'string') return deny(request);
    const { roles } = record;
    const mayPost = roles.has('admin') || (roles.has('technician') && session.userId === request.userId);
    if (!mayPost) return refused(deps, { ...base, claimedUserId: request.userId, reason: 'this message was refused: its author may no longer post in this session' });
    return { ok: true, userId: request.userId, text: request.text ?? '' };
  };
}

/**
 * The author, tool and arguments of an MCP client's tools/call, from the api's record: for this session, unused, and
 * made by someone who may still act in it (the session's technician, or an org admin). The turn's transcript entry
 * names its author (the requester of the call, barred from approving it at T4), written once whatever the retries.
 */
export function makeVerifyToolCallRequest(deps: ActivityDeps) {
  return async function verifyToolCallRequest(input: { sessionId: string; orgId: string; turnId: string; requestId: string }): Promise<Verdict<{ userId: string; tool: string; input: unknown }>> {
    // One statement, as a message's (./request-record.ts): the session, the request claimed, its author's roles.
    const record = await readAndClaimRequest(deps.pool, { ...input, callingWorkflowId: callingWorkflow() ?? '', kinds: ['tool_call'], usedFor: input.turnId });
    const { session } = record;
    const base = { orgId: input.orgId, sessionId: input.sessionId, workflowId: session?.workflowId ?? '', kind: 'tool_call', requestId: input.requestId };
    const deny = (reason: string, claimedUserId?: string) => refused(deps, { ...base, claimedUserId, reason: `this tool call was refused: ${reason}` });
    if (!session || session.orgId !== input.orgId) return deny('the session is unknown');
    if (!isCallersSession(session, input)) return deny(UNKNOWN_SESSION_DENIAL);
    const request = await claimed(deps, record, { requestId: input.requestId, workflowId: session.workflowId, orgId: input.orgId, kinds: ['tool_call'], usedFor: input.turnId });
    if (typeof request === 'string') return deny(request);
    if (!request.toolName) return deny('the request names no tool', request.userId);
    const { roles } = record;
    const mayAct = roles.has('admin') || (roles.has('technician') && session.userId === request.userId);
    if (!mayAct) return deny('its author may no longer act in this session', request.userId);
    const text = `tools/call ${request.toolName} ${JSON.stringify(request.toolInput ?? {})}`.slice(0, 4000);
    const id = userMessageId(input.sessionId, input.turnId);
    await deps.prisma.message.upsert({
      where: { id },
      create: { id, sessionId: input.sessionId, orgId: input.orgId, turnId: input.turnId, role: 'user', kind: TOOL_CALL_MESSAGE_KIND, content: [{ type: 'text', text }] as Prisma.InputJsonValue, userId: request.userId },
      update: {},
    });
    await publishSessionEvent(deps.prisma, { sessionId: input.sessionId, turnId: input.turnId, type: 'turn:started', text });
    return { ok: true, userId: request.userId, tool: request.toolName, input: request.toolInput ?? {} };
  };
}

/**
 * An org admin's breaker reset, recorded for this session and unused. The reset itself happens here: the session
 * row's breaker is cleared (authorization reads it) in the same transaction as its audit event.
 */
export function makeVerifyBreakerReset(deps: ActivityDeps) {
  return async function verifyBreakerReset(input: { sessionId: string; orgId: string; workflowId: string; requestId: string }): Promise<Verdict<{ userId: string }>> {
    const base = { orgId: input.orgId, sessionId: input.sessionId, workflowId: input.workflowId, kind: 'breaker_reset', requestId: input.requestId };
    const known = await checkSession(deps.prisma, input);
    if (!known.ok) return refused(deps, { ...base, reason: `the breaker was not reset: ${known.reason}` });
    const request = await claim(deps, { requestId: input.requestId, workflowId: input.workflowId, orgId: input.orgId, kinds: ['breaker_reset'], usedFor: thisDelivery() });
    if (typeof request === 'string') return refused(deps, { ...base, reason: `the breaker was not reset: ${request}` });
    if (!(await rolesOf(deps, request.userId, input.orgId)).has('admin')) {
      return refused(deps, { ...base, claimedUserId: request.userId, reason: 'the breaker was not reset: only an admin of this organization can reset it' });
    }
    await deps.prisma.$transaction(async (tx) => {
      await tx.copilotSession.update({ where: { id: input.sessionId }, data: { breakerTrippedAt: null } });
      await audit(tx, { orgId: input.orgId, actorType: 'user', actorId: request.userId, action: 'breaker.reset', target: input.sessionId, sessionId: input.sessionId, data: { requestId: request.id } });
    });
    return { ok: true, userId: request.userId };
  };
}

/**
 * A pause, resume or cancel recorded for this remediation and unused, by someone who may still steer it (a
 * technician, approver or admin of the org). No resume while an admin has paused the org's copilot.
 */
export function makeVerifyRemediationControl(deps: ActivityDeps) {
  return async function verifyRemediationControl(input: {
    orgId: string;
    workflowId: string;
    /** The remediation's id as the api and the audit log name it (its tool invocation's id). */
    invocationId?: string;
    /** The same, as inputs scheduled before the rename name it (a retry of one recorded in a history). */
    remediationId?: string;
    requestId: string;
  }): Promise<Verdict<{ userId: string; action: 'pause' | 'resume' | 'cancel' }>> {
    const invocationId = input.invocationId ?? input.remediationId ?? '';
    const base = { orgId: input.orgId, workflowId: input.workflowId, target: invocationId, kind: 'remediation_control', requestId: input.requestId };
    const request = await claim(deps, { requestId: input.requestId, workflowId: input.workflowId, orgId: input.orgId, kinds: ['remediation_pause', 'remediation_resume', 'remediation_cancel'], usedFor: thisDelivery() });
    if (typeof request === 'string') return refused(deps, { ...base, reason: `the remediation was not steered: ${request}` });
    const action = request.kind.replace('remediation_', '') as 'pause' | 'resume' | 'cancel';
    const who = { ...base, sessionId: request.sessionId, kind: request.kind, claimedUserId: request.userId };
    const roles = await rolesOf(deps, request.userId, input.orgId);
    if (!['technician', 'approver', 'admin'].some((r) => roles.has(r))) {
      return refused(deps, { ...who, reason: 'the remediation was not steered: its author may no longer steer remediations of this organization' });
    }
    if (action === 'resume') {
      const org = await deps.prisma.organization.findUnique({ where: { id: input.orgId } });
      if (!org || org.copilotPausedAt) return refused(deps, { ...who, reason: 'the remediation was not resumed: an admin has paused the copilot for this organization' });
    }
    await audit(deps.prisma, { orgId: input.orgId, actorType: 'user', actorId: request.userId, action: `remediation.${action}`, target: invocationId, sessionId: request.sessionId, data: { requestId: request.id } });
    return { ok: true, userId: request.userId, action };
  };
}

/**
 * An approver's decision on a failed canary (continue, cancel or roll back), recorded for this remediation and
 * unused, by someone who may decide the remediation's approval (lib/approval-authority.ts). A continue carries
 * the proof approving the call took (T4: the typed phrase and a passkey signature; ./approvals.ts continueProofProblem)
 * and is refused while an admin has paused the org's copilot. The decision is audited here, with its reason.
 */
export function makeVerifyCanaryDecision(deps: ActivityDeps) {
  return async function verifyCanaryDecision(input: { orgId: string; workflowId: string; invocationId: string; requestId: string }): Promise<Verdict<{ userId: string; decision: CanaryDecision }>> {
    const base = { orgId: input.orgId, workflowId: input.workflowId, target: input.invocationId, kind: 'remediation_canary_decision', requestId: input.requestId };
    const request = await claim(deps, { requestId: input.requestId, workflowId: input.workflowId, orgId: input.orgId, kinds: CANARY_DECISION_KINDS, usedFor: thisDelivery() });
    if (typeof request === 'string') return refused(deps, { ...base, reason: `the canary decision was not taken: ${request}` });
    const decision = request.kind.replace('remediation_canary_', '') as CanaryDecision;
    const who = { ...base, sessionId: request.sessionId, kind: request.kind, claimedUserId: request.userId };
    // Whoever may decide the remediation's approval decides its canary (lib/approval-authority.ts): going on is
    // approving more of the call, stopping it is a rejection.
    const approval = await deps.prisma.approval.findUnique({ where: { invocationId: input.invocationId } });
    const authority =
      approval && approval.orgId === input.orgId
        ? await approvalAuthority(deps.prisma, approval, { userId: request.userId, approverSites: await approverSitesOf(deps.prisma, request.userId, input.orgId) }, decision === 'continue' ? 'approved' : 'rejected')
        : ({ ok: false, message: 'the remediation has no approval to decide by' } as const);
    if (!authority.ok) return refused(deps, { ...who, reason: `the canary decision was not taken: ${authority.message}` });
    if (decision === 'continue') {
      // The proof approving the call took (T4: the phrase and a passkey signature), as recorded with the request.
      const problem = approval ? await continueProofProblem(deps.prisma, approval, request) : 'the remediation has no approval to decide by';
      if (problem) return refused(deps, { ...who, reason: `the remediation was not continued: ${problem}` });
      const org = await deps.prisma.organization.findUnique({ where: { id: input.orgId } });
      if (!org || org.copilotPausedAt) return refused(deps, { ...who, reason: 'the remediation was not continued: an admin has paused the copilot for this organization' });
    }
    await audit(deps.prisma, {
      orgId: input.orgId,
      actorType: 'user',
      actorId: request.userId,
      action: `remediation.canary_${decision}`,
      target: input.invocationId,
      sessionId: request.sessionId,
      data: { requestId: request.id, reason: request.text ?? '' },
    });
    return { ok: true, userId: request.userId, decision };
  };
}

/** A signal in the shape the api sent before requests were recorded: refused in any new run, and audited. */
export function makeRefuseUnverifiedRequest(deps: ActivityDeps) {
  return async function refuseUnverifiedRequest(input: { orgId: string; sessionId?: string; workflowId: string; target?: string; kind: string; claimedUserId?: string }): Promise<void> {
    await refused(deps, { ...input, reason: `a ${input.kind.replace('_', ' ')} signal was refused: ${NOT_RECORDED}` });
  };
}

/**
 * The org's kill switch as the database has it: a `copilotPaused` signal only tells the session to look, so a forged
 * one can neither lift an admin's pause nor pause a session. A signal that contradicts the record is audited.
 */
export function makeReadCopilotPaused(deps: ActivityDeps) {
  return async function readCopilotPaused(input: { orgId: string; sessionId: string; workflowId: string; claimedPaused: boolean; claimedUserId: string }): Promise<{ paused: boolean }> {
    const org = await deps.prisma.organization.findUnique({ where: { id: input.orgId }, select: { copilotPausedAt: true } });
    // An organization that cannot be found is treated as paused: no tool runs for it.
    const paused = !org || org.copilotPausedAt !== null;
    if (paused !== input.claimedPaused) {
      await refused(deps, { ...input, kind: 'copilot_paused', reason: `a kill-switch signal said the copilot is ${input.claimedPaused ? 'paused' : 'running'}, but it is ${paused ? 'paused' : 'running'}; the record stands` });
    }
    return { paused };
  };
}
