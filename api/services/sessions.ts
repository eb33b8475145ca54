/**
 * The writes of a copilot session, one operation each: start one (its row and its workflow), send it a message
 * (a turn), and ask it to re-arm its circuit breaker. Each request is recorded first; the workflow believes no
 * payload and reads the record through an activity. Reads stay in routes/sessions.ts.
 */
import crypto from 'node:crypto';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { copilotWorkflowId } from '../../common/ids';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { resetBreakerRequestUpdate, sendMessageUpdate } from '../../workflows/definitions';
import type { ApiDeps } from '../deps';
import { findVisibleSession, hasRole, orgsWhere, type Principal, Role } from '../http/access';
import { temporalUnavailable } from '../http/temporal-errors';

/** Who may start sessions and send them messages. */
export const ACTING: Role[] = [Role.Technician, Role.Admin];

/** The org a session starts in: the one named, or the only one where the principal acts. */
async function actingOrg(deps: ApiDeps, principal: Principal, org?: string) {
  const orgs = await deps.prisma.organization.findMany({ where: { id: { in: orgsWhere(principal, ACTING) } } });
  if (org) {
    const found = orgs.find((o) => o.slug === org || o.id === org);
    if (!found) throw AppError.notFound('organization');
    return found;
  }
  if (orgs.length === 1) return orgs[0]!;
  if (orgs.length === 0) throw new AppError(AppErrorCode.Forbidden, 'you have no technician or admin role in any organization');
  throw new AppError(AppErrorCode.BadRequest, `body.org: required, you work in several organizations (${orgs.map((o) => o.slug).join(', ')})`);
}

/** Starts a session: its row, then its workflow; a workflow that does not start takes the row with it. */
export async function startSession(deps: ApiDeps, principal: Principal, orgRef?: string) {
  const org = await actingOrg(deps, principal, orgRef);
  if (org.copilotPausedAt) throw new AppError(AppErrorCode.Conflict, 'an admin has paused the copilot for this organization; no new sessions can start');
  // The id is made here so the row is written once, complete (workflowId is unique: no placeholder values).
  const sessionId = crypto.randomUUID();
  const workflowId = copilotWorkflowId(org.id, sessionId);
  const session = await deps.prisma.copilotSession.create({ data: { id: sessionId, orgId: org.id, userId: principal.userId, workflowId } });
  try {
    await deps.temporal.workflow.start('copilotSession', {
      workflowId,
      taskQueue: deps.config.taskQueue,
      args: [{ sessionId: session.id, orgId: org.id, userId: principal.userId }],
    });
  } catch (err) {
    // Nothing half-written: a session whose workflow never started is removed again.
    await deps.prisma.copilotSession.delete({ where: { id: session.id } });
    throw temporalUnavailable(err);
  }
  return { session, org };
}

/** Records the message and hands the session its id (an update); the turn then runs in the background. */
export async function sendSessionMessage(deps: ApiDeps, principal: Principal, sessionId: string, text: string) {
  const session = await findVisibleSession(deps, principal, sessionId);
  if (!hasRole(principal, session.orgId, ACTING) || (session.userId !== principal.userId && !hasRole(principal, session.orgId, [Role.Admin]))) {
    throw new AppError(AppErrorCode.Forbidden, 'only the technician who started this session (or an org admin) can send it messages');
  }
  // The workflow believes no payload: it gets this record's id, and its first activity reads author and text here.
  const request = await deps.prisma.workflowRequest.create({
    data: { orgId: session.orgId, sessionId: session.id, workflowId: session.workflowId, kind: 'message', userId: principal.userId, text },
  });
  try {
    const handle = deps.temporal.workflow.getHandle(session.workflowId);
    const result = await handle.executeUpdate(sendMessageUpdate, { args: [{ requestId: request.id }] });
    return { sessionId: session.id, turnId: result.turnId };
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new AppError(AppErrorCode.BadRequest, `body.text: ${err.cause?.message ?? 'rejected by the session'}`);
    }
    throw temporalUnavailable(err);
  }
}

/** An org admin's request to re-arm a tripped breaker; the workflow applies it after its activity has checked (and audited) it. */
export async function resetSessionBreaker(deps: ApiDeps, principal: Principal, sessionId: string): Promise<{ sessionId: string }> {
  const session = await findVisibleSession(deps, principal, sessionId);
  if (!hasRole(principal, session.orgId, [Role.Admin])) throw new AppError(AppErrorCode.Forbidden, 'only an admin of this organization can reset the circuit breaker');
  const request = await deps.prisma.workflowRequest.create({
    data: { orgId: session.orgId, sessionId: session.id, workflowId: session.workflowId, kind: 'breaker_reset', userId: principal.userId },
  });
  let result;
  try {
    result = await deps.temporal.workflow.getHandle(session.workflowId).executeUpdate(resetBreakerRequestUpdate, { args: [{ requestId: request.id }] });
  } catch (err) {
    throw temporalUnavailable(err);
  }
  if (!result.applied) throw new AppError(AppErrorCode.Conflict, result.reason);
  return { sessionId: session.id };
}
