/**
 * The org's versioned policy (docs/policy.md): its versions with their diffs, rollback, the what-if of a proposed
 * policy over the recorded tool calls, standing approvals, and the partner admin's allowance to lower tiers. GET and
 * PUT of the current policy stay in routes/orgs.ts. Another org's id answers exactly like an unknown one. The
 * operations are services/policy.ts's (and services/what-if.ts's).
 */
import { z } from 'zod';
import {
  PolicyRolledBackAnswer,
  PolicyVersionAnswer,
  PolicyVersionsAnswer,
  StandingApprovalsAnswer,
  StandingRevokedAnswer,
  WhatIfAnswer,
} from '../../common/api-answers';
import { ApprovalTtl, BlastRadiusThreshold, BreakerStreak, BudgetCeilings, PolicyOverrideEntry, PolicyRateLimits, TaintRules } from '../../common/policy-document';
import { OrgParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';
import * as policy from '../services/policy';
import { whatIf } from '../services/what-if';

/** Why a policy changes: required on every change, shown in the version list and the audit log. */
export const Reason = z.string({ error: 'reason is required: say why the policy changes (1 to 500 characters)' }).trim().min(1, 'reason is required: say why the policy changes').max(500);

export const listVersions = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/policy/versions',
  summary: "The org's policy versions, newest first",
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  responses: { 200: 'The versions', 401: 'No valid API key', 404: 'Unknown organization' },
  response: PolicyVersionsAnswer,
  async handler(ctx) {
    return { status: 200, body: { versions: await policy.listVersions(ctx, ctx.params.id) } };
  },
});

export const getVersion = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/policy/versions/:n',
  summary: 'One policy version: its document and what changed since the one before',
  tag: 'orgs',
  auth: 'user',
  params: z.object({ id: OrgParams.shape.id, n: z.coerce.number().int().min(0).max(1_000_000) }).strict(),
  responses: { 200: 'The version', 400: 'Invalid number', 401: 'No valid API key', 404: 'Unknown organization or version' },
  response: PolicyVersionAnswer,
  async handler(ctx) {
    return { status: 200, body: await policy.versionView(ctx, ctx.params.id, ctx.params.n) };
  },
});

export const rollback = defineRoute({
  method: 'post',
  path: '/v1/orgs/:id/policy/rollback',
  summary: "Make an earlier version's document the policy again, as a new version (admins; lowering needs the partner's allowance)",
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  body: z.object({ toVersion: z.number().int().min(0), reason: Reason }).strict(),
  responses: { 200: 'Rolled back', 400: 'Invalid body', 401: 'No valid API key', 403: 'Lowers a tier without the allowance', 404: 'Unknown organization or version' },
  response: PolicyRolledBackAnswer,
  async handler(ctx) {
    const { org, version } = await policy.rollback(ctx, ctx.params.id, ctx.body.toVersion, ctx.body.reason);
    return { status: 200, body: { org: org.slug, version, toVersion: ctx.body.toVersion } };
  },
});

/** A standing approval proposed in a what-if: the exact call (tool, input, device ids) it would let through. */
const ProposedStanding = z.object({ tool: z.string().max(200), params: z.unknown(), devices: z.array(z.string().max(100)).max(500) }).strict();

export const WhatIfPolicy = z
  .object({
    overrides: z.array(PolicyOverrideEntry).max(100),
    approvalTtlSeconds: ApprovalTtl.optional().describe("omitted: the policy in force's; a recorded decision later than the expiry finds the approval expired"),
    rateLimits: PolicyRateLimits.optional().describe("omitted: the policy in force's; the per-tool limits are counted over the recorded calls"),
    blastRadiusThreshold: BlastRadiusThreshold.optional().describe("omitted: the policy in force's"),
    breakerStreak: BreakerStreak.optional().describe('accepted for a whole document; a what-if re-decides calls, which the streak does not change'),
    taint: TaintRules.optional().describe("omitted: the policy in force's"),
    budget: BudgetCeilings.nullable().optional().describe('accepted for a whole document; spend is not re-decided'),
    standing: z.array(ProposedStanding).max(50).optional().describe('standing approvals to try: how many approvals each would have saved'),
  })
  .strict();

export const postWhatIf = defineRoute({
  method: 'post',
  path: '/v1/orgs/:id/policy/what-if',
  summary: "Re-decide the org's recorded tool calls of a window under a proposed policy: the calls whose outcome changes, and the approvals added or removed",
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  body: z.object({ policy: WhatIfPolicy, windowDays: z.number().int().min(1).max(90).default(30) }).strict(),
  responses: { 200: 'The changes', 400: 'Invalid body', 401: 'No valid API key', 404: 'Unknown organization' },
  response: WhatIfAnswer,
  async handler(ctx) {
    return { status: 200, body: await whatIf(ctx, ctx.params.id, ctx.body.policy, ctx.body.windowDays) };
  },
});

export const listStanding = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/policy/standing-approvals',
  summary: "The org's standing approvals in force: what each lets through, who made it, until when, and how often it was used",
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  responses: { 200: 'The standing approvals', 401: 'No valid API key', 404: 'Unknown organization' },
  response: StandingApprovalsAnswer,
  async handler(ctx) {
    return { status: 200, body: { standing: await policy.standingView(ctx, ctx.params.id) } };
  },
});

export const revokeStanding = defineRoute({
  method: 'delete',
  path: '/v1/orgs/:id/policy/standing-approvals/:sid',
  summary: 'Revoke a standing approval at once, as a new policy version (admins and approvers)',
  tag: 'orgs',
  auth: 'user',
  params: z.object({ id: OrgParams.shape.id, sid: z.uuid('sid must be a UUID') }).strict(),
  body: z.object({ reason: Reason }).strict(),
  responses: { 200: 'Revoked', 400: 'Invalid body', 401: 'No valid API key', 404: 'Unknown organization or standing approval' },
  response: StandingRevokedAnswer,
  async handler(ctx) {
    const version = await policy.revokeStanding(ctx, ctx.params.id, ctx.params.sid, ctx.body.reason);
    return { status: 200, body: { revoked: ctx.params.sid, version } };
  },
});

export const putLowering = defineRoute({
  method: 'put',
  path: '/v1/orgs/:id/policy/lowering',
  summary: "Allow or forbid the org's admins to lower a tier below its default (partner admins; audited)",
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  body: z.object({ allowed: z.boolean(), reason: Reason }).strict(),
  responses: { 200: 'Saved', 400: 'Invalid body', 401: 'No valid API key', 403: 'Not a partner admin', 404: 'Unknown organization' },
  response: z.object({ org: z.string(), loweringAllowed: z.boolean() }),
  async handler(ctx) {
    const org = await policy.setLoweringAllowed(ctx, ctx.params.id, ctx.body.allowed, ctx.body.reason);
    return { status: 200, body: { org: org.slug, loweringAllowed: ctx.body.allowed } };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const policyRoutes: AnyRoute[] = [listVersions, getVersion, rollback, postWhatIf, listStanding, revokeStanding, putLowering];
