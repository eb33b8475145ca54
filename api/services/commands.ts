/**
 * A person cancels a command of their session that still waits for its device (an offline device's queued change or
 * read): it ends unsent, the session is told at once, and it is audited. A command already sent may be running on
 * the device and is not cancelled; a remediation's commands are steered through the remediation. A command of a
 * session the caller may not see answers exactly like an unknown one.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { audit } from '../../audit/log';
import { cancelPending, markReported } from '../../lib/device-commands';
import { commandResultsSignal } from '../../workflows/definitions';
import type { ApiDeps } from '../deps';
import { hasRole, Role, visibleSession } from '../http/access';
import type { Caller } from './caller';
import { ACTING } from './sessions';

export async function cancelCommand({ deps, principal }: Caller, commandId: string) {
  const unknown = AppError.notFound('command');
  const cmd = await deps.prisma.deviceCommand.findUnique({ where: { id: commandId }, include: { device: { select: { name: true } } } });
  const inv = cmd && (await deps.prisma.toolInvocation.findUnique({ where: { id: cmd.invocationId }, select: { sessionId: true, orgId: true } }));
  if (!cmd || !inv || inv.orgId !== cmd.orgId) throw unknown;
  const session = await visibleSession(deps, principal, inv.sessionId);
  if (!session || session.orgId !== cmd.orgId) throw unknown;
  if (!hasRole(principal, session.orgId, ACTING) || (session.userId !== principal.userId && !hasRole(principal, session.orgId, [Role.Admin]))) {
    throw new AppError(AppErrorCode.Forbidden, 'only the technician who started this session (or an org admin) can cancel its commands');
  }
  if (cmd.reportTo !== session.workflowId) {
    throw new AppError(AppErrorCode.Conflict, `this command is one device of a remediation: cancel the remediation instead (POST /v1/remediations/${cmd.invocationId}/cancel)`);
  }
  // Only while it is still pending: the delivery statement takes pending commands only, so once this commits the
  // command can never be sent, and a command already taken for delivery is not ended here.
  const ended = await cancelPending(deps.pool, cmd.id);
  if (!ended) {
    const now = await deps.prisma.deviceCommand.findUnique({ where: { id: cmd.id }, select: { status: true } });
    const state = now?.status === 'delivered' ? 'already sent to the device and may be running' : `already ${now?.status ?? cmd.status}`;
    throw new AppError(AppErrorCode.Conflict, `the command is ${state}; it cannot be cancelled`);
  }
  await audit(deps.prisma, {
    orgId: cmd.orgId,
    actorType: 'user',
    actorId: principal.userId,
    action: 'command.cancelled',
    target: cmd.device.name,
    sessionId: session.id,
    data: { commandId: cmd.id, kind: cmd.kind, invocationId: cmd.invocationId },
  });
  await tellSession(deps, session.workflowId, cmd.id);
  return { id: cmd.id, device: cmd.device.name, kind: cmd.kind, status: 'failed' as const, errorCode: 'CANCELLED' as const };
}

/** The waiting session hears of it now; if Temporal cannot be reached, the gateway's sweep reports it later. */
async function tellSession(deps: ApiDeps, workflowId: string, commandId: string): Promise<void> {
  try {
    await deps.temporal.workflow.getHandle(workflowId).signal(commandResultsSignal, { results: [{ commandId, status: 'failed' }] });
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) {
      deps.logger.warn({ workflowId, err: (err as Error).message }, 'could not tell the session of the cancelled command yet; the sweep retries');
      return;
    }
  }
  await markReported(deps.pool, [commandId]).catch(() => undefined);
}
