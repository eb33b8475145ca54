/**
 * The auditors' operations: the sessions of an org, and one session's export (the same bundle `npm run audit --
 * export` writes to disk). An auditor narrowed to sites sees only sessions within them; another org's session
 * answers exactly like an unknown one.
 */
import { exportSession } from '../../audit/export';
import type { ApiDeps } from '../deps';
import { findOrgFor, findVisibleSession, Role, visibleSessions } from '../http/access';
import { temporalUnavailable } from '../http/temporal-errors';
import type { Caller } from './caller';

/** The org's sessions, newest first, as far as this auditor may see them. */
export async function auditSessions({ deps, principal }: Caller, orgRef: string, limit: number) {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Auditor]);
  const found = await deps.prisma.copilotSession.findMany({
    where: { orgId: org.id },
    orderBy: { createdAt: 'desc' },
    take: limit,
    select: { id: true, orgId: true, workflowId: true, userId: true, createdAt: true },
  });
  // An auditor narrowed to sites sees only sessions within them (or their own), as on every session read.
  return { org, sessions: await visibleSessions(deps, principal, found, [Role.Auditor]) };
}

export async function auditExport({ deps, principal }: Caller, sessionId: string) {
  const session = await findVisibleSession(deps, principal, sessionId, [Role.Auditor]);
  return exportWorkflow(deps, session.workflowId);
}

/** A session workflow's export bundle, read from Temporal now (a 503 when it does not answer). */
export function exportWorkflow(deps: ApiDeps, workflowId: string) {
  return exportSession({ prisma: deps.prisma, temporal: deps.temporal }, workflowId).catch((err: unknown) => {
    throw temporalUnavailable(err);
  });
}
