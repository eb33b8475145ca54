/**
 * Approvals: the queue of an approver's orgs, one approval, and the decision. The reads are services/approvals.ts's,
 * the decision the one decision service's (services/decide-approval.ts).
 */
import { ApprovalAnswer, ApprovalsAnswer } from '../../common/api-answers';
import type { Approval } from '@prisma/client';
import type { PrismaClient } from '../../lib/prisma';
import { z } from 'zod';
import { IdParams as ApprovalParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';
import { listApprovals as approvalsOf, viewApproval } from '../services/approvals';
import { decideApproval } from '../services/decide-approval';
import { AuthenticationResponse } from '../../lib/passkey-assertion';

/** Orgs (of these approvals) whose admins require a passkey for T3 too. */
async function passkeyT3Orgs(system: PrismaClient, approvals: Approval[]): Promise<Set<string>> {
  const ids = [...new Set(approvals.filter((a) => a.tier === 3).map((a) => a.orgId))];
  if (ids.length === 0) return new Set();
  return new Set((await system.organization.findMany({ where: { id: { in: ids }, passkeysForT3: true }, select: { id: true } })).map((o) => o.id));
}

export function approvalView(a: Approval, requesters?: Map<string, string>, passkeyT3?: Set<string>) {
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
    passkeyRequired: a.tier >= 4 || (a.tier === 3 && (passkeyT3?.has(a.orgId) ?? false)),
    passkeySigned: a.passkeyAssertion !== null && a.passkeyAssertion !== undefined,
    policyVersion: a.policyVersion ?? null,
    standingRuleId: a.standingRuleId ?? null,
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
  async handler(ctx) {
    const { approvals, requesters } = await approvalsOf(ctx, ctx.query.status);
    const passkeyT3 = await passkeyT3Orgs(ctx.system, approvals);
    return { status: 200, body: { approvals: approvals.map((a) => approvalView(a, requesters, passkeyT3)) } };
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
  async handler(ctx) {
    const { approval, requesters } = await viewApproval(ctx, ctx.params.id);
    return { status: 200, body: approvalView(approval, requesters, await passkeyT3Orgs(ctx.system, [approval])) };
  },
});

export const decide = defineRoute({
  method: 'post',
  path: '/v1/approvals/:id/decision',
  summary: 'Approve or reject (approvers of the org; T4 needs the confirmation phrase, a passkey assertion and another approver than the requester)',
  tag: 'approvals',
  auth: 'user',
  params: ApprovalParams,
  body: z
    .object({
      decision: z.enum(['approve', 'reject']),
      reason: z.string().max(500).optional(),
      digest: z.string().regex(/^[0-9a-f]{64}$/, 'a SHA-256 hex digest').optional(),
      confirmation: z.string().max(200).optional(),
      passkey: AuthenticationResponse.optional().describe('navigator.credentials.get answer over POST /v1/approvals/:id/passkey-options (approving T4; T3 where the org asks)'),
      standing: z
        .object({ days: z.number().int().min(1).max(30) })
        .strict()
        .optional()
        .describe('approve, and let this exact call (tool, input, devices) through without an approval for that many days (T3 only; a new policy version)'),
    })
    .strict(),
  responses: { 200: 'Decision recorded and delivered', 202: 'Decision recorded; delivery to the workflow pending', 400: 'Invalid body', 401: 'No valid API key', 403: 'Not allowed to decide', 404: 'Unknown approval', 409: 'Already decided, expired or changed' },
  response: ApprovalAnswer,
  async handler(ctx) {
    const { params, body } = ctx;
    const { approval, delivered } = await decideApproval(ctx, {
      approvalId: params.id,
      decision: body.decision === 'approve' ? 'approved' : 'rejected',
      reason: body.reason,
      digest: body.digest,
      confirmation: body.confirmation,
      passkey: body.passkey,
      standing: body.standing,
      channel: 'api',
    });
    return { status: delivered ? 200 : 202, body: approvalView(approval) };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const approvalRoutes: AnyRoute[] = [listApprovals, getApproval, decide];
