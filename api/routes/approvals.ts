/** Approvals: the queue of an approver's orgs, one approval, and the decision (through the decision service). */
import { ApprovalAnswer, ApprovalsAnswer } from '../../common/api-answers';
import type { Approval } from '@prisma/client';
import { z } from 'zod';
import { sitesCover, sitesOfDevices, targetIds } from '../../lib/approval-authority';
import type { ApiDeps } from '../deps';
import { AppError } from '../../lib/app-error';
import { audit } from '../../audit/log';
import { hasRole, orgsWhere, type Principal, Role, sitesWhere } from '../http/access';
import { IdParams as ApprovalParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';
import { decideApproval, findApproval } from '../services/decide-approval';

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

export function approvalView(a: Approval, requesters?: Map<string, string>) {
  return {
    id: a.id,
    orgId: a.orgId,
    sessionId: a.sessionId,
    tool: a.toolName,
    tier: a.tier,
    summary: a.summary,
    input: a.input,
    targets: a.targets,
    digest: a.digest,
    confirmationPhrase: a.confirmationPhrase,
    requestedBy: a.requestedBy,
    requestedByEmail: requesters?.get(a.requestedBy) ?? null,
    status: a.status,
    expiresAt: a.expiresAt.toISOString(),
    decidedBy: a.decidedBy,
    decidedAt: a.decidedAt?.toISOString() ?? null,
    channel: a.channel,
    reason: a.reason,
    createdAt: a.createdAt.toISOString(),
  };
}

export const listApprovals = defineRoute({
  method: 'get',
  path: '/v1/approvals',
  summary: "Approvals the caller may decide: of the organizations where they are an approver, on devices of their sites",
  tag: 'approvals',
  auth: 'user',
  query: z.object({ status: z.enum(['pending', 'approved', 'rejected', 'expired', 'cancelled', 'all']).default('pending') }).strict(),
  responses: { 200: 'The approvals', 400: 'Invalid query', 401: 'No valid API key' },
  response: ApprovalsAnswer,
  async handler({ deps, principal, query }) {
    const approvals = await deps.prisma.approval.findMany({
      where: { orgId: { in: orgsWhere(principal, [Role.Approver]) }, ...(query.status === 'all' ? {} : { status: query.status }) },
      orderBy: { createdAt: 'desc' },
      take: 200,
    });
    const visible = await withinApproverSites(deps, principal, approvals);
    const requesters = await requesterEmails(deps, visible);
    return { status: 200, body: { approvals: visible.map((a) => approvalView(a, requesters)) } };
  },
});

export const getApproval = defineRoute({
  method: 'get',
  path: '/v1/approvals/:id',
  summary: 'One approval: what, where, who asked, the exact input and its digest',
  tag: 'approvals',
  auth: 'user',
  params: ApprovalParams,
  responses: { 200: 'The approval', 400: 'Invalid id', 401: 'No valid API key', 404: 'Unknown approval' },
  response: ApprovalAnswer,
  async handler({ deps, principal, params }) {
    const approval = await findApproval(deps, principal, params.id);
    // Someone who is in the org only as an approver of other sites is not told it exists: the unknown id's answer.
    const otherRole = hasRole(principal, approval.orgId, [Role.Technician, Role.Admin, Role.Auditor]);
    if (!otherRole && (await withinApproverSites(deps, principal, [approval])).length === 0) {
      await audit(deps.prisma, { orgId: approval.orgId, actorType: 'user', actorId: principal.userId, action: 'approval.view_refused', target: approval.id, sessionId: approval.sessionId, data: { why: "target devices outside the approver's sites" } });
      throw AppError.notFound('approval');
    }
    return { status: 200, body: approvalView(approval, await requesterEmails(deps, [approval])) };
  },
});

export const decide = defineRoute({
  method: 'post',
  path: '/v1/approvals/:id/decision',
  summary: 'Approve or reject (approvers of the org; T4 needs the confirmation phrase and another approver than the requester)',
  tag: 'approvals',
  auth: 'user',
  params: ApprovalParams,
  body: z
    .object({
      decision: z.enum(['approve', 'reject']),
      reason: z.string().max(500).optional(),
      digest: z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hex digest').optional(),
      confirmation: z.string().max(200).optional(),
    })
    .strict(),
  responses: { 200: 'Decision recorded and delivered', 202: 'Decision recorded; delivery to the workflow pending', 400: 'Invalid body', 401: 'No valid API key', 403: 'Not allowed to decide', 404: 'Unknown approval', 409: 'Already decided, expired or changed' },
  response: ApprovalAnswer,
  async handler({ deps, principal, params, body }) {
    const { approval, delivered } = await decideApproval(deps, principal, {
      approvalId: params.id,
      decision: body.decision === 'approve' ? 'approved' : 'rejected',
      reason: body.reason,
      digest: body.digest,
      confirmation: body.confirmation,
      channel: 'api',
    });
    return { status: delivered ? 200 : 202, body: approvalView(approval) };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const approvalRoutes: AnyRoute[] = [listApprovals, getApproval, decide];
