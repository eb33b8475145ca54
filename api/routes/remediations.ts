/**
 * Remediations (the `run_remediation` tool's child workflows): progress, and pause / resume / cancel. The id is
 * the tool invocation's id, as the session's steps show it. Anyone with a role in the org can read the progress;
 * technicians, approvers and admins can steer it: the request is recorded here, and the workflow acts on it only
 * after its activity has checked the record (and audited the change). Another org's remediation, or one of a session
 * the user may not see (it reached a site outside theirs), answers exactly like an unknown one.
 */
import { RemediationAnswer, RemediationRequestedAnswer } from '../../common/api-answers';
import { WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import { remediationWorkflowId } from '../../common/ids';
import { REMEDIATION_TOOLS } from '../../common/tools';
import { percentDone } from '../../common/remediation-progress';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { remediationControlRequestUpdate, remediationProgressQuery, type RemediationProgress } from '../../workflows/definitions';
import type { ApiDeps } from '../deps';
import { type Principal, Role, tenantScope, visibleSession } from '../http/access';
import { defineRoute, type AnyRoute } from '../http/route';
import { temporalUnavailable } from '../http/temporal-errors';

const Params = z.object({ id: z.string().regex(/^[0-9a-f-]{36}:[A-Za-z0-9_-]{1,128}$/, 'a remediation id (the tool invocation id)') }).strict();

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

export const getRemediation = defineRoute({
  method: 'get',
  path: '/v1/remediations/:id',
  summary: "A remediation's progress: counts, state (running, paused, cancelled, finished) and every device's status",
  tag: 'remediations',
  auth: 'user',
  params: Params,
  responses: { 200: 'Progress', 401: 'No valid API key', 404: 'Unknown remediation', 503: 'Temporal unavailable' },
  response: RemediationAnswer,
  async handler({ deps, principal, params }) {
    const { inv, workflowId } = await findRemediation(deps, principal, params.id);
    return { status: 200, body: { id: inv.id, sessionId: inv.sessionId, workflowId, ...(await progressOf(deps, inv.orgId, workflowId)) } };
  },
});

function controlRoute(action: 'pause' | 'resume' | 'cancel') {
  return defineRoute({
    method: 'post',
    path: `/v1/remediations/:id/${action}`,
    summary:
      action === 'pause'
        ? 'Pause: devices already running finish, no new device starts until resumed'
        : action === 'resume'
          ? 'Resume a paused remediation'
          : 'Cancel: devices already running finish, the others never start',
    tag: 'remediations',
    auth: 'user',
    params: Params,
    responses: { 202: 'Requested', 401: 'No valid API key', 404: 'Unknown remediation', 409: 'Not running yet, already over, or refused (a resume while the copilot is paused)', 503: 'Temporal unavailable' },
    response: RemediationRequestedAnswer,
    async handler({ deps, principal, params }) {
      const { inv, workflowId } = await findRemediation(deps, principal, params.id, [Role.Technician, Role.Approver, Role.Admin]);
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
      return { status: 202, body: { id: inv.id, requested: action, stateBefore: before.state } };
    },
  });
}

export const pauseRemediation = controlRoute('pause');
export const resumeRemediation = controlRoute('resume');
export const cancelRemediation = controlRoute('cancel');

/** The routes of this file, registered by api/server.ts. */
export const remediationRoutes: AnyRoute[] = [getRemediation, pauseRemediation, resumeRemediation, cancelRemediation];
