/**
 * The reads of approvals, one operation each: the queue an approver may decide, and one approval. An approver
 * narrowed to sites sees only approvals whose every target is on their sites; someone in the org only as an
 * approver of other sites is told nothing (and the refusal is audited). Deciding is services/decide-approval.ts's.
 */
import type { Approval } from '@prisma/client';
import { sitesCover, sitesOfDevices, targetIds } from '../../lib/approval-authority';
import { AppError } from '../../lib/app-error';
import { audit } from '../../audit/log';
import type { ApiDeps } from '../deps';
import { hasRole, orgsWhere, type Principal, Role, sitesWhere } from '../http/access';
import type { Caller } from './caller';
import { findApproval } from './decide-approval';

export type ApprovalStatusFilter = 'pending' | 'approved' | 'rejected' | 'expired' | 'cancelled' | 'all';

/** The approvals this principal may decide as far as sites go: an approver narrowed to sites sees only theirs. */
async function withinApproverSites(deps: ApiDeps, principal: Principal, approvals: Approval[]): Promise<Approval[]> {
  const sitesOf = (a: Approval) => sitesWhere(principal, a.orgId, [Role.Approver]);
  const narrowed = approvals.filter((a) => sitesOf(a) !== null);
  const siteOf = await sitesOfDevices(deps.prisma, [...new Set(narrowed.map((a) => a.orgId))], narrowed.flatMap((a) => targetIds(a.targets) ?? []));
  return approvals.filter((a) => sitesCover(sitesOf(a), a.targets, siteOf));
}

/** Approvers see who asked by e-mail: the turn's author, who may differ from the session's owner. */
async function requesterEmails(deps: ApiDeps, approvals: Approval[]): Promise<Map<string, string>> {
  const users = await deps.prisma.user.findMany({ where: { id: { in: [...new Set(approvals.map((a) => a.requestedBy))] } }, select: { id: true, email: true } });
  return new Map(users.map((u) => [u.id, u.email]));
}

/** The approvals of the orgs where the caller is an approver, on devices of their sites (the latest 200). */
export async function listApprovals({ deps, principal }: Caller, status: ApprovalStatusFilter) {
  const approvals = await deps.prisma.approval.findMany({
    where: { orgId: { in: orgsWhere(principal, [Role.Approver]) }, ...(status === 'all' ? {} : { status }) },
    orderBy: { createdAt: 'desc' },
    take: 200,
  });
  const visible = await withinApproverSites(deps, principal, approvals);
  return { approvals: visible, requesters: await requesterEmails(deps, visible) };
}

export async function viewApproval({ deps, principal }: Caller, id: string) {
  const approval = await findApproval(deps, principal, id);
  // Someone who is in the org only as an approver of other sites is not told it exists: the unknown id's answer.
  const otherRole = hasRole(principal, approval.orgId, [Role.Technician, Role.Admin, Role.Auditor]);
  if (!otherRole && (await withinApproverSites(deps, principal, [approval])).length === 0) {
    await audit(deps.prisma, { orgId: approval.orgId, actorType: 'user', actorId: principal.userId, action: 'approval.view_refused', target: approval.id, sessionId: approval.sessionId, data: { why: "target devices outside the approver's sites" } });
    throw AppError.notFound('approval');
  }
  return { approval, requesters: await requesterEmails(deps, [approval]) };
}
