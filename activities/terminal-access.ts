/**
 * The activities of `terminalAccess` (workflows/terminal-access.ts): a technician's terminal request waits for an
 * approval like a tool call does, through the same `Approval` rows, decision service, channels and checks
 * (activities/approvals.ts's checkRecordedDecision, expireRecordedApproval, cancelRecordedApproval), then holds
 * its window. As everywhere, the workflow's word is not believed: every activity reads the request back and acts
 * only for the workflow the request names.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Prisma, TerminalSession } from '@prisma/client';
import { approvalDigest, confirmationPhrase } from '../cage/approval-digest';
import { elideMiddle } from '../cage/call-view';
import { terminalTier } from '../cage/policy';
import { FailureType } from '../common/failures';
import { terminalInvocationId } from '../common/ids';
import type { ApprovalDecisionSignal, ApprovalOutcome } from '../common/session';
import { TERMINAL_ACTION } from '../common/terminal-protocol';
import { approvalExpiresAt, approvalTtlSeconds } from '../common/policy-document';
import { Tier } from '../common/tools';
import { audit } from '../audit/log';
import { closeLiveTerminals } from '../lib/terminal-events';
import { currentPolicy } from '../lib/policy-store';
import { cancelRecordedApproval, checkRecordedDecision, expireRecordedApproval } from './approvals';
import type { ActivityDeps } from './deps';

export interface TerminalRef {
  terminalId: string;
  orgId: string;
}

/** What the request became: its status and, once approved, the end of its window. */
export interface TerminalGrant {
  status: string;
  windowEndsAt: string | null;
  paused: boolean;
}

type Prisma_ = ActivityDeps['prisma'];

/** The request, if the calling workflow is the one it names; otherwise audited and refused. */
async function assertTerminalCaller(prisma: Prisma_, ref: TerminalRef, activity: string): Promise<TerminalSession> {
  const workflowId = Context.current().info.workflowExecution?.workflowId;
  const row = await prisma.terminalSession.findUnique({ where: { id: ref.terminalId } }).catch(() => null);
  if (row && row.orgId === ref.orgId && row.workflowId === workflowId) return row;
  await audit(prisma, {
    orgId: row?.orgId ?? null,
    actorType: 'system',
    action: 'security.session_identity_refused',
    target: activity,
    data: { workflowId: workflowId ?? null, claimedTerminalId: String(ref.terminalId).slice(0, 100), activity },
  }).catch(() => undefined);
  throw ApplicationFailure.nonRetryable(`${activity} refused: not this terminal request's workflow`, FailureType.Unauthorized);
}

/** The call an approver approves: its digest covers the device, the reason and the window. */
export function terminalCall(row: Pick<TerminalSession, 'id' | 'deviceId' | 'reason' | 'windowSeconds'>) {
  const input = { device_id: row.deviceId, reason: row.reason, window_seconds: row.windowSeconds, terminal_id: row.id };
  return { tool: TERMINAL_ACTION, input, targets: [row.deviceId] };
}

export function makeRequestTerminalApproval({ prisma }: ActivityDeps) {
  return async function requestTerminalApproval(ref: TerminalRef): Promise<{ approvalId: string; expiresAt: string; tier: number }> {
    const row = await assertTerminalCaller(prisma, ref, 'requestTerminalApproval');
    const invocationId = terminalInvocationId(row.id);
    const existing = await prisma.approval.findUnique({ where: { invocationId } });
    if (existing) return { approvalId: existing.id, expiresAt: existing.expiresAt.toISOString(), tier: existing.tier };
    // A policy that cannot be read throws here: no approval is asked for, no terminal opens (fail closed).
    const [device, policy] = await Promise.all([
      prisma.device.findFirst({ where: { id: row.deviceId, orgId: row.orgId }, select: { id: true, name: true } }),
      currentPolicy(prisma, row.orgId),
    ]);
    if (!device) throw ApplicationFailure.nonRetryable('the device of this terminal request is gone', FailureType.NotFound);
    // The tier is decided here, where the history records it, from the org's policy as it is now.
    const tier = terminalTier(policy.document.overrides);
    const call = terminalCall(row);
    const minutes = Math.round(row.windowSeconds / 60);
    const ttl = approvalTtlSeconds(policy.document, tier);
    const approval = await prisma.approval.create({
      data: {
        orgId: row.orgId,
        sessionId: row.id,
        workflowId: row.workflowId,
        invocationId,
        tier,
        digest: approvalDigest(call),
        toolName: TERMINAL_ACTION,
        input: call.input as Prisma.InputJsonValue,
        targets: [device] as unknown as Prisma.InputJsonValue,
        summary: elideMiddle(`open a terminal on ${device.name} for ${minutes >= 1 ? `${minutes} min` : `${row.windowSeconds} s`}; reason: ${row.reason}`, 500),
        confirmationPhrase: tier >= Tier.T4 ? confirmationPhrase([device]) : null,
        requestedBy: row.requestedBy,
        status: 'pending',
        expiresAt: approvalExpiresAt(new Date(), ttl),
        policyVersion: policy.number,
      },
    });
    await prisma.terminalSession.update({ where: { id: row.id }, data: { approvalId: approval.id, tier } });
    await audit(prisma, {
      orgId: row.orgId,
      actorType: 'user',
      actorId: row.requestedBy,
      sessionId: row.id,
      action: 'approval.requested',
      target: approval.id,
      data: { tool: TERMINAL_ACTION, tier, digest: approval.digest, expiresAt: approval.expiresAt.toISOString(), requestedBy: row.requestedBy, device: device.name },
    });
    return { approvalId: approval.id, expiresAt: approval.expiresAt.toISOString(), tier };
  };
}

/** An approved request opens its window now, unless the org was paused meanwhile (then it is withdrawn). */
async function settle(prisma: Prisma_, row: TerminalSession, outcome: ApprovalOutcome): Promise<TerminalGrant> {
  const org = await prisma.organization.findUniqueOrThrow({ where: { id: row.orgId }, select: { copilotPausedAt: true } });
  const now = new Date();
  if (outcome.status === 'approved' && !org.copilotPausedAt) {
    const windowEndsAt = new Date(now.getTime() + row.windowSeconds * 1000);
    const granted = await prisma.terminalSession.updateMany({ where: { id: row.id, status: 'pending' }, data: { status: 'approved', approvedAt: now, windowEndsAt } });
    if (granted.count === 1) return { status: 'approved', windowEndsAt: windowEndsAt.toISOString(), paused: false };
    return grantOf(prisma, row.id);
  }
  const status = outcome.status === 'approved' ? 'cancelled' : outcome.status;
  const endReason = outcome.status === 'approved' ? 'paused' : outcome.status;
  await prisma.terminalSession.updateMany({ where: { id: row.id, status: 'pending' }, data: { status, endedAt: now, endReason } });
  return grantOf(prisma, row.id);
}

async function grantOf(prisma: Prisma_, terminalId: string): Promise<TerminalGrant> {
  const row = await prisma.terminalSession.findUniqueOrThrow({ where: { id: terminalId } });
  const org = await prisma.organization.findUniqueOrThrow({ where: { id: row.orgId }, select: { copilotPausedAt: true } });
  return { status: row.status, windowEndsAt: row.windowEndsAt?.toISOString() ?? null, paused: org.copilotPausedAt !== null };
}

export function makeVerifyTerminalDecision({ prisma }: ActivityDeps) {
  return async function verifyTerminalDecision(input: TerminalRef & { signal: ApprovalDecisionSignal }): Promise<{ valid: true; grant: TerminalGrant } | { valid: false; reason: string }> {
    const row = await assertTerminalCaller(prisma, input, 'verifyTerminalDecision');
    const approval = row.approvalId === input.signal.approvalId ? await prisma.approval.findUnique({ where: { id: row.approvalId } }) : null;
    const verdict = await checkRecordedDecision(prisma, approval, input.signal);
    if (!verdict.valid) return verdict;
    return { valid: true, grant: await settle(prisma, row, verdict.outcome) };
  };
}

export function makeExpireTerminalApproval({ prisma }: ActivityDeps) {
  return async function expireTerminalApproval(ref: TerminalRef): Promise<TerminalGrant> {
    const row = await assertTerminalCaller(prisma, ref, 'expireTerminalApproval');
    if (!row.approvalId) return grantOf(prisma, row.id);
    const { outcome } = await expireRecordedApproval(prisma, row.approvalId);
    return settle(prisma, row, outcome);
  };
}

export function makeCancelTerminalApproval({ prisma }: ActivityDeps) {
  return async function cancelTerminalApproval(ref: TerminalRef & { reason: string }): Promise<TerminalGrant> {
    const row = await assertTerminalCaller(prisma, ref, 'cancelTerminalApproval');
    if (row.approvalId) await cancelRecordedApproval(prisma, row.approvalId, ref.reason);
    await prisma.terminalSession.updateMany({ where: { id: row.id, status: 'pending' }, data: { status: 'cancelled', endedAt: new Date(), endReason: 'paused' } });
    return grantOf(prisma, row.id);
  };
}

/** The request as the database holds it, and the kill switch: what a revoke or pause hint is checked against. */
export function makeReadTerminalGrant({ prisma }: ActivityDeps) {
  return async function readTerminalGrant(ref: TerminalRef): Promise<TerminalGrant> {
    await assertTerminalCaller(prisma, ref, 'readTerminalGrant');
    return grantOf(prisma, ref.terminalId);
  };
}

/**
 * The window is over (its time ran out, or the kill switch): the grant ends and every api node closes its live
 * terminals at once. A grant that already ended (revoked, paused by the api) is left as it is.
 */
export function makeEndTerminalGrant({ prisma }: ActivityDeps) {
  return async function endTerminalGrant(ref: TerminalRef & { reason: 'window' | 'paused' }): Promise<void> {
    const row = await assertTerminalCaller(prisma, ref, 'endTerminalGrant');
    const ended = await prisma.terminalSession.updateMany({ where: { id: row.id, status: 'approved' }, data: { status: 'ended', endedAt: new Date(), endReason: ref.reason } });
    await closeLiveTerminals(prisma, { terminalSessionId: row.id, reason: ref.reason });
    if (ended.count === 1) {
      await audit(prisma, { orgId: row.orgId, actorType: 'system', action: 'terminal.window_ended', target: row.id, sessionId: row.id, data: { reason: ref.reason, deviceId: row.deviceId } });
    }
  };
}
