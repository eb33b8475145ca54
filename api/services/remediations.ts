/**
 * The operations on a remediation (the child workflow of a tool that runs as one), one each: read its progress, and
 * ask it to pause, resume or cancel. The request is recorded here; the workflow acts on it only after its activity
 * has checked the record (and audited the change). Another org's remediation, or one of a session the caller may
 * not see, answers exactly like an unknown one. After a failed canary, an approver who may decide the remediation's
 * approval decides: continue, cancel or roll back (recorded and checked the same way). Continuing approves more of
 * the call, so it takes the proof approving it took: for T4 the typed confirmation phrase, and where the approval
 * needed a passkey (T4; T3 where the org asks) a passkey signature over the continue's own challenge.
 */
import type { Approval, Prisma } from '@prisma/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { CANARY_STEP_MARK, remediationWorkflowId } from '../../common/ids';
import { REMEDIATION_TOOLS, Tier, type ToolExecution } from '../../common/tools';
import { isCommandOutcome } from '../../common/session';
import { percentDone } from '../../common/remediation-progress';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { remediationCanaryDecisionUpdate, remediationControlRequestUpdate, remediationProgressQuery, type RemediationProgress } from '../../workflows/definitions';
import { audit } from '../../audit/log';
import { approvalAuthority } from '../../lib/approval-authority';
import type { ApiDeps } from '../deps';
import { type Principal, Role, sitesWhere, tenantScope, visibleSession } from '../http/access';
import { temporalUnavailable } from '../http/temporal-errors';
import type { Caller } from './caller';
import { approvalAssertionOptions, checkDecisionAssertion, passkeyRequired, type WebAuthnOptions } from './passkeys';

export type RemediationControl = 'pause' | 'resume' | 'cancel';
export type CanaryDecision = 'continue' | 'cancel' | 'rollback';

/** The proof as recorded with the request (WorkflowRequest.confirmation, .passkeyAssertion). */
type RecordedProof = Pick<Prisma.WorkflowRequestUncheckedCreateInput, 'confirmation' | 'passkeyAssertion'>;

/** What a continue carries when the remediation's approval needed the T4 proof. */
export interface ContinueProof {
  confirmation?: string;
  /** navigator.credentials.get's answer over POST /v1/remediations/:id/canary-decision/passkey-options. */
  passkey?: unknown;
}

async function findRemediation(deps: ApiDeps, principal: Principal, id: string, roles?: Role[]) {
  const inv = await deps.prisma.toolInvocation.findFirst({ where: { id, toolName: { in: REMEDIATION_TOOLS }, ...tenantScope(principal, roles) }, include: { session: true } });
  // Part of its session's content: shown (and steered) only to those who may see that session.
  if (!inv || !(await visibleSession(deps, principal, inv.sessionId, roles))) throw AppError.notFound('remediation');
  return { inv, workflowId: remediationWorkflowId(inv.session.workflowId, inv.toolUseId) };
}

/** The progress with device names, or a not-started state while the call still waits for its approval. */
async function progressOf(deps: ApiDeps, inv: { id: string; orgId: string; execution: unknown }, workflowId: string, approval?: Approval | null) {
  const { orgId } = inv;
  let progress: RemediationProgress;
  try {
    progress = await deps.temporal.workflow.getHandle(workflowId).query(remediationProgressQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { state: 'not_started' as const };
    throw temporalUnavailable(err);
  }
  // Runs that hold only their own devices: every device's status is read from the record.
  const statuses = progress.devicesInRecord ? await recordedStatuses(deps, inv, progress) : progress.devices;
  const ids = Object.keys(statuses);
  const canaryIds = progress.canary?.devices ?? [];
  const names = new Map((await deps.prisma.device.findMany({ where: { id: { in: [...ids, ...canaryIds] }, orgId }, select: { id: true, name: true } })).map((d) => [d.id, d.name]));
  const nameOf = (id: string) => names.get(id) ?? id;
  const { canary, devicesInRecord: _inRecord, ...rest } = progress;
  return {
    ...rest,
    percent: percentDone(progress),
    devices: ids.map((id) => ({ id, name: nameOf(id), status: statuses[id] })),
    ...(canary
      ? {
          canary: {
            devices: canary.devices.map((id) => ({ id, name: nameOf(id) })),
            state: canary.state,
            failures: canary.failures.map((f) => ({ device: nameOf(f.deviceId), deviceId: f.deviceId, reason: f.reason })),
            choices: progress.state === 'canary-failed' ? (['continue', 'cancel', ...(canary.canRollBack ? ['rollback' as const] : [])] as CanaryDecision[]) : [],
            ...(progress.state === 'canary-failed' && approval ? { continueNeeds: await continueNeeds(deps, approval) } : {}),
            ...(canary.decision ? { decision: canary.decision.decision, decidedBy: canary.decision.by } : {}),
            ...(canary.undone ? { undone: Object.entries(canary.undone).map(([id, status]) => ({ device: nameOf(id), deviceId: id, status })) } : {}),
          },
        }
      : {}),
  };
}

/**
 * Each approved device's status, in the approved order: its command's (running until it ended), or, with no
 * command, queued while the remediation may still start it, else cancelled or skipped as the workflow counted it.
 */
async function recordedStatuses(deps: ApiDeps, inv: { id: string; orgId: string; execution: unknown }, progress: RemediationProgress): Promise<Record<string, string>> {
  const execution = inv.execution as ToolExecution | null;
  const approved = execution?.type === 'remediation' ? execution.devices : [];
  const rows = await deps.prisma.deviceCommand.findMany({ where: { invocationId: inv.id, orgId: inv.orgId, NOT: { id: { contains: CANARY_STEP_MARK } } }, select: { deviceId: true, status: true } });
  const commanded = new Map(rows.map((r) => [r.deviceId, isCommandOutcome(r.status) ? r.status : 'running']));
  const notStarted = progress.state === 'cancelled' ? 'cancelled' : progress.state === 'finished' ? 'skipped' : 'queued';
  return Object.fromEntries(approved.map((id) => [id, commanded.get(id) ?? notStarted]));
}

/** Anyone with a role in the org (who may see the session) reads the progress. */
export async function remediationProgress({ deps, principal }: Caller, id: string) {
  const { inv, workflowId } = await findRemediation(deps, principal, id);
  const approval = await deps.prisma.approval.findUnique({ where: { invocationId: inv.id } });
  return { id: inv.id, sessionId: inv.sessionId, workflowId, ...(await progressOf(deps, inv, workflowId, approval)) };
}

/** What continuing past a failed canary asks of the approver: the phrase to type (T4) and whether a passkey signs it. */
async function continueNeeds(deps: ApiDeps, approval: Approval): Promise<{ confirmationPhrase: string | null; passkey: boolean }> {
  return { confirmationPhrase: approval.tier >= Tier.T4 ? approval.confirmationPhrase : null, passkey: await passkeyRequired(deps.prisma, approval) };
}

/** The options for signing a continue of this remediation with the caller's passkey (its approval's digest, another domain). */
export async function canaryContinueOptions(caller: Caller, id: string): Promise<WebAuthnOptions> {
  const { inv } = await findRemediation(caller.deps, caller.principal, id);
  const approval = await caller.deps.prisma.approval.findUnique({ where: { invocationId: inv.id } });
  if (!approval) throw new AppError(AppErrorCode.Conflict, 'the remediation has no approval to decide by');
  return approvalAssertionOptions(caller, approval, 'canary_continue');
}

/** Technicians, approvers and admins steer it; answers the state it was in when asked. */
export async function requestRemediationControl({ deps, principal }: Caller, id: string, action: RemediationControl) {
  const { inv, workflowId } = await findRemediation(deps, principal, id, [Role.Technician, Role.Approver, Role.Admin]);
  const before = await progressOf(deps, inv, workflowId);
  if (before.state === 'not_started') throw new AppError(AppErrorCode.Conflict, 'the remediation has not started yet (it waits for its approval)');
  if (before.state === 'finished' || before.state === 'cancelled') throw new AppError(AppErrorCode.Conflict, `the remediation is already ${before.state}`);
  const request = await deps.prisma.workflowRequest.create({
    data: { orgId: inv.orgId, sessionId: inv.sessionId, workflowId, kind: `remediation_${action}`, userId: principal.userId },
  });
  const result = await deps.temporal.workflow
    .getHandle(workflowId)
    .executeUpdate(remediationControlRequestUpdate, { args: [{ requestId: request.id }] })
    .catch((err: unknown) => {
      throw temporalUnavailable(err);
    });
  if (!result.applied) throw new AppError(AppErrorCode.Conflict, result.reason);
  return { id: inv.id, stateBefore: before.state };
}

/**
 * An approver's decision on a failed canary. Anyone who may see the remediation learns it exists; deciding takes
 * what deciding its approval takes (lib/approval-authority.ts: approver of the org, sites covering its devices; a
 * continue of a T4 call, not an author of its session). A refusal is audited. The workflow checks the record again.
 */
export async function requestCanaryDecision({ deps, principal }: Caller, id: string, decision: CanaryDecision, reason: string, proof: ContinueProof = {}) {
  const { inv, workflowId } = await findRemediation(deps, principal, id);
  const approval = await deps.prisma.approval.findUnique({ where: { invocationId: inv.id } });
  const authority = approval
    ? await approvalAuthority(deps.prisma, approval, { userId: principal.userId, approverSites: sitesWhere(principal, inv.orgId, [Role.Approver]) }, decision === 'continue' ? 'approved' : 'rejected')
    : ({ ok: false, why: 'not_approver', message: 'the remediation has no approval to decide by' } as const);
  const refuse = async (error: AppError, why: string) => {
    await audit(deps.prisma, { orgId: inv.orgId, actorType: 'user', actorId: principal.userId, action: 'remediation.canary_decision_refused', target: inv.id, sessionId: inv.sessionId, data: { decision, why } });
    return error;
  };
  if (!authority.ok) throw await refuse(new AppError(AppErrorCode.Forbidden, `you may not decide this canary: ${authority.message}`), authority.message);
  const before = await progressOf(deps, inv, workflowId);
  if (before.state !== 'canary-failed' || !('canary' in before) || !before.canary) throw new AppError(AppErrorCode.Conflict, `the remediation is not waiting for a canary decision (it is ${before.state})`);
  if (!before.canary.choices.includes(decision)) throw new AppError(AppErrorCode.Conflict, 'this action declares no undo: it cannot be rolled back; choose continue or cancel');
  // Checked here to answer at once; the workflow's activity checks the recorded proof again before anything starts.
  const recordedProof: RecordedProof = decision === 'continue' && approval ? await checkContinueProof(deps, principal, approval, proof, refuse) : {};
  const request = await deps.prisma.workflowRequest.create({
    data: { orgId: inv.orgId, sessionId: inv.sessionId, workflowId, kind: `remediation_canary_${decision}`, userId: principal.userId, text: reason, ...recordedProof },
  });
  const result = await deps.temporal.workflow
    .getHandle(workflowId)
    .executeUpdate(remediationCanaryDecisionUpdate, { args: [{ requestId: request.id }] })
    .catch((err: unknown) => {
      throw temporalUnavailable(err);
    });
  if (!result.applied) throw new AppError(AppErrorCode.Conflict, result.reason);
  return { id: inv.id, decision };
}

/**
 * The proof a continue must carry where approving the remediation took it (docs/policy.md): for T4 the exact
 * confirmation phrase; where a passkey signed the approval, a fresh assertion by the caller over the continue's
 * challenge (spent here). Refusals are audited. Answers what is recorded with the request.
 */
async function checkContinueProof(deps: ApiDeps, principal: Principal, approval: Approval, proof: ContinueProof, refuse: (error: AppError, why: string) => Promise<AppError>): Promise<RecordedProof> {
  if (approval.tier >= Tier.T4 && proof.confirmation !== approval.confirmationPhrase) {
    throw await refuse(new AppError(AppErrorCode.BadRequest, `body.confirmation: type "${approval.confirmationPhrase ?? ''}" exactly to continue this T4 remediation`), 'confirmation phrase mismatch');
  }
  if (!(await passkeyRequired(deps.prisma, approval))) return { confirmation: proof.confirmation ?? null };
  const passkey = await checkDecisionAssertion(deps, principal, approval, proof.passkey, 'canary_continue');
  if (!passkey.ok) throw await refuse(new AppError(AppErrorCode.Forbidden, passkey.message), passkey.why);
  return { confirmation: proof.confirmation ?? null, passkeyAssertion: passkey.assertion as unknown as Prisma.InputJsonValue };
}
