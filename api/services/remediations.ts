/**
 * The operations on a remediation (the child workflow of a tool that runs as one), one each: read its progress, and
 * ask it to pause, resume or cancel. The request is recorded here; the workflow acts on it only after its activity
 * has checked the record (and audited the change). Another org's remediation, or one of a session the caller may
 * not see, answers exactly like an unknown one.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { remediationWorkflowId } from '../../common/ids';
import { REMEDIATION_TOOLS } from '../../common/tools';
import { percentDone } from '../../common/remediation-progress';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { remediationControlRequestUpdate, remediationProgressQuery, type RemediationProgress } from '../../workflows/definitions';
import type { ApiDeps } from '../deps';
import { type Principal, Role, tenantScope, visibleSession } from '../http/access';
import { temporalUnavailable } from '../http/temporal-errors';
import type { Caller } from './caller';

export type RemediationControl = 'pause' | 'resume' | 'cancel';

async function findRemediation(deps: ApiDeps, principal: Principal, id: string, roles?: Role[]) {
  const inv = await deps.prisma.toolInvocation.findFirst({ where: { id, toolName: { in: REMEDIATION_TOOLS }, ...tenantScope(principal, roles) }, include: { session: true } });
  // Part of its session's content: shown (and steered) only to those who may see that session.
  if (!inv || !(await visibleSession(deps, principal, inv.sessionId, roles))) throw AppError.notFound('remediation');
  return { inv, workflowId: remediationWorkflowId(inv.session.workflowId, inv.toolUseId) };
}

/** The progress with device names, or a not-started state while the call still waits for its approval. */
async function progressOf(deps: ApiDeps, orgId: string, workflowId: string) {
  let progress: RemediationProgress;
  try {
    progress = await deps.temporal.workflow.getHandle(workflowId).query(remediationProgressQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { state: 'not_started' as const };
    throw temporalUnavailable(err);
  }
  const ids = Object.keys(progress.devices);
  const names = new Map((await deps.prisma.device.findMany({ where: { id: { in: ids }, orgId }, select: { id: true, name: true } })).map((d) => [d.id, d.name]));
  return {
    ...progress,
    percent: percentDone(progress),
    devices: ids.map((id) => ({ id, name: names.get(id) ?? id, status: progress.devices[id] })),
  };
}

/** Anyone with a role in the org (who may see the session) reads the progress. */
export async function remediationProgress({ deps, principal }: Caller, id: string) {
  const { inv, workflowId } = await findRemediation(deps, principal, id);
  return { id: inv.id, sessionId: inv.sessionId, workflowId, ...(await progressOf(deps, inv.orgId, workflowId)) };
}

/** Technicians, approvers and admins steer it; answers the state it was in when asked. */
export async function requestRemediationControl({ deps, principal }: Caller, id: string, action: RemediationControl) {
  const { inv, workflowId } = await findRemediation(deps, principal, id, [Role.Technician, Role.Approver, Role.Admin]);
  const before = await progressOf(deps, inv.orgId, workflowId);
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
