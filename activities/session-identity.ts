/**
 * Who is asking. Anyone who reaches the Temporal frontend can start a `copilotSession` (or a remediation) with input
 * of their choosing: another session's ids, or carried state with the breaker cleared and the kill switch off. So
 * no activity acts for a session on the workflow's word: it reads the session back from the database, and the
 * session must exist, belong to the org the workflow names, and be known under the very workflow id that is calling
 * (a remediation: the id its session's workflow gives it for that call). Before a tool may run, the breaker and the
 * kill switch are read from the database too (the breaker also by the database's own count of rejections,
 * activities/breaker.ts), whatever the workflow's state says. Every refusal is audited with
 * its rule, and fails closed: a check that cannot be made refuses.
 */
import type { CopilotSession } from '@prisma/client';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { FailureType } from '../common/failures';
import { invocationOfCommand, remediationWorkflowId, stepOfCommandInvocation, userMessageId, Uuid } from '../common/ids';
import { BREAKER_POLICY_DENIAL, PAUSED_DENIAL, UNKNOWN_SESSION_DENIAL } from '../common/session';
import type { AuditAction } from '../audit/actions';
import { audit } from '../audit/log';
import { breakerTripped } from './breaker';
import type { ActivityDeps } from './deps';
import type { CommandRecord } from './command-record';
import type { SessionRecord } from './session-record';

export interface SessionClaim {
  sessionId: string;
  orgId: string;
  /** Called from the remediation workflow its session started for this call (the call's tool_use id). */
  remediationOf?: string;
}

export type SessionRule = 'session_identity' | 'breaker' | 'paused' | 'turn_author';
/** What of the session the checks read. */
export type CheckedSession = Pick<CopilotSession, 'id' | 'orgId' | 'workflowId' | 'breakerTrippedAt'>;
export type SessionCheck = { ok: true; session: CheckedSession } | { ok: false; rule: SessionRule; reason: string };

/** The session (by the claimed id) and the claimed org's kill switch, when the caller read them with its own rows. */
export interface SessionRead {
  session: SessionRecord | null;
  /** Null: no such org. */
  paused: boolean | null;
}

/** The calling activity's workflow id; none outside a workflow (which no session is). */
export const callingWorkflow = (): string | undefined => Context.current().info.workflowExecution?.workflowId;

/** Which of the database's rules for running a tool apply besides the identity (callers that record a pause their own way leave it out). */
export interface ToolRules {
  breaker?: boolean;
  paused?: boolean;
  /** Told when this check is the one that trips the breaker (the database's count reached the threshold). */
  onBreakerTrip?: () => void;
}

/**
 * The session, if the database knows it under the calling workflow's id and in the claimed org; with `rules`, also
 * only while its breaker is armed and its org's copilot is not paused.
 */
export async function checkSession(prisma: ActivityDeps['prisma'], claim: SessionClaim, rules: ToolRules = {}, read?: SessionRead): Promise<SessionCheck> {
  const session: CheckedSession | null = read ? read.session : Uuid.safeParse(claim.sessionId).success ? await prisma.copilotSession.findUnique({ where: { id: claim.sessionId } }) : null;
  if (!isCallersSession(session, claim)) return { ok: false, rule: 'session_identity', reason: UNKNOWN_SESSION_DENIAL };
  if (rules.breaker && (await breakerTripped(prisma, session, rules.onBreakerTrip, read?.session ?? undefined))) return { ok: false, rule: 'breaker', reason: BREAKER_POLICY_DENIAL };
  if (rules.paused) {
    const org = read ? read.paused : await prisma.organization.findUnique({ where: { id: session.orgId }, select: { copilotPausedAt: true } }).then((o) => o && o.copilotPausedAt !== null);
    // An org that cannot be found counts as paused.
    if (org !== false) return { ok: false, rule: 'paused', reason: PAUSED_DENIAL };
  }
  return { ok: true, session };
}

/**
 * The identity rule alone, on a session row the caller read (by the claimed id) with something else: it exists, is in
 * the claimed org, and is known under the calling workflow's id (or the remediation's it started for the call).
 */
export function isCallersSession<S extends { orgId: string; workflowId: string }>(session: S | null | undefined, claim: SessionClaim): session is S {
  const workflowId = callingWorkflow();
  const expected = session && (claim.remediationOf === undefined ? session.workflowId : remediationWorkflowId(session.workflowId, claim.remediationOf));
  return !!session && session.orgId === claim.orgId && !!workflowId && workflowId === expected;
}

/** For a session read with something else: nothing, or the refusal audited and a non-retryable `Unauthorized` failure. */
export async function assertCallersSession(prisma: ActivityDeps['prisma'], claim: SessionClaim, session: { orgId: string; workflowId: string } | null, activity: string): Promise<void> {
  if (isCallersSession(session, claim)) return;
  const refusal = { rule: 'session_identity' as const, reason: UNKNOWN_SESSION_DENIAL };
  await auditSessionRefusal(prisma, claim, refusal, { activity }).catch(() => undefined);
  throw ApplicationFailure.nonRetryable(`${activity} refused: ${refusal.reason}`, FailureType.Unauthorized);
}

/** The audit event of a refusal: in the claimed org's chain, or outside any chain when that org does not exist. */
export async function auditSessionRefusal(
  prisma: ActivityDeps['prisma'],
  claim: SessionClaim,
  refusal: { rule: SessionRule; reason: string },
  what: { activity: string; action?: AuditAction; target?: string; data?: Record<string, unknown> },
): Promise<void> {
  const known = refusal.rule !== 'session_identity';
  const entry = {
    actorType: 'system' as const,
    actorId: known ? claim.sessionId : null,
    // A forged identity names a session that is not the caller's: the event is not filed under it.
    sessionId: known ? claim.sessionId : null,
    action: what.action ?? (known ? ('tool.denied' as const) : ('security.session_identity_refused' as const)),
    target: what.target ?? what.activity,
    data: { rule: refusal.rule, reason: refusal.reason, activity: what.activity, workflowId: callingWorkflow() ?? null, claimedSessionId: claim.sessionId.slice(0, 100), ...what.data },
  };
  const orgId = Uuid.safeParse(claim.orgId).success ? claim.orgId : null;
  await audit(prisma, { ...entry, orgId }).catch(() => audit(prisma, entry));
}

/**
 * For activities with no denial of their own to return: the session, or a non-retryable `Unauthorized` failure
 * after the refusal is audited (the turn fails; nothing is written for the session).
 */
export async function assertSession(prisma: ActivityDeps['prisma'], claim: SessionClaim, activity: string, rules: ToolRules = {}): Promise<CheckedSession> {
  const check = await checkSession(prisma, claim, rules);
  if (check.ok) return check.session;
  await auditSessionRefusal(prisma, claim, check, { activity }).catch(() => undefined);
  throw ApplicationFailure.nonRetryable(`${activity} refused: ${check.reason}`, FailureType.Unauthorized);
}

/**
 * For activities that create device commands: the session of the tool call the command ids name (authorized, as
 * the command authority checked first) must be the caller's, through its own workflow or the remediation it
 * started for that call, and its breaker armed. A pause is left to the caller, which records such commands as refused.
 */
export async function assertCommandSession(prisma: ActivityDeps['prisma'], command: { commandId: string; deviceId: string; orgId: string }, activity: string, record?: CommandRecord): Promise<void> {
  if (record) return assertRecordedCommandSession(prisma, command, activity, record);
  const named = invocationOfCommand(command.commandId, command.deviceId);
  // A remediation's canary read-back or undo names its invocation with the step after it.
  const invocationId = named === null ? null : stepOfCommandInvocation(named).invocationId;
  const inv = invocationId
    ? await prisma.toolInvocation.findUnique({ where: { id: invocationId }, select: { sessionId: true, toolUseId: true, session: { select: { workflowId: true } } } })
    : null;
  // Which of the two callers it claims to be; checkSession then compares the calling workflow's id exactly.
  const viaRemediation = inv !== null && callingWorkflow() === remediationWorkflowId(inv.session.workflowId, inv.toolUseId);
  const claim = { sessionId: inv?.sessionId ?? '', orgId: command.orgId, ...(viaRemediation ? { remediationOf: inv.toolUseId } : {}) };
  await assertSession(prisma, claim, activity, { breaker: true });
}

/**
 * The same check on the command's tool call and session as read with the batch (activities/command-record.ts), by the
 * invocation the command id names (the command authority has checked that it does): the same identity rule, the same
 * breaker (the session row, and the database's count under the org's policy in force), the same refusals.
 */
async function assertRecordedCommandSession(prisma: ActivityDeps['prisma'], command: { orgId: string }, activity: string, { invocation: inv, session }: CommandRecord): Promise<void> {
  const viaRemediation = inv !== null && session !== null && callingWorkflow() === remediationWorkflowId(session.workflowId, inv.toolUseId);
  const claim: SessionClaim = { sessionId: inv?.sessionId ?? '', orgId: command.orgId, ...(viaRemediation ? { remediationOf: inv.toolUseId } : {}) };
  const refusal: { rule: SessionRule; reason: string } | null = !isCallersSession(session, claim)
    ? { rule: 'session_identity', reason: UNKNOWN_SESSION_DENIAL }
    : (await breakerTripped(prisma, session, undefined, session))
      ? { rule: 'breaker', reason: BREAKER_POLICY_DENIAL }
      : null;
  if (!refusal) return;
  await auditSessionRefusal(prisma, claim, refusal, { activity }).catch(() => undefined);
  throw ApplicationFailure.nonRetryable(`${activity} refused: ${refusal.reason}`, FailureType.Unauthorized);
}

/**
 * The user who wrote the turn, as recordUserMessage stored it (only for a verified message request): the requester of
 * every call of that turn, whoever an activity's caller names.
 */
export async function turnAuthor(prisma: ActivityDeps['prisma'], sessionId: string, turnId: string): Promise<string | null> {
  const message = await prisma.message.findUnique({ where: { id: userMessageId(sessionId, turnId) }, select: { userId: true, sessionId: true } });
  return message?.sessionId === sessionId ? message.userId : null;
}
