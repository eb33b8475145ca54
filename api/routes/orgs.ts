/**
 * Organization controls for admins: the copilot kill switch, the org's tier policy and approval expiry, budget and
 * usage. Another org's id answers exactly like an unknown one. The operations are services/orgs.ts's.
 */
import { CopilotSwitchAnswer, OrgStatusAnswer, PolicyAnswer, PolicySavedAnswer, UsageAnswer, BudgetSavedAnswer } from '../../common/api-answers';
import { z } from 'zod';
import { ApprovalTtl, BlastRadiusThreshold, BreakerStreak, BudgetCeilings, PolicyOverrideEntry, PolicyRateLimits, TaintRules } from '../../common/policy-document';
import { BREAKER_THRESHOLD } from '../../common/session';
import { DEFAULT_POLICY } from '../../common/default-policy';
import { TERMINAL_ACTION, TERMINAL_DEFAULT_TIER } from '../../common/terminal-protocol';
import { OrgParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';
import * as orgs from '../services/orgs';
import { Reason } from './policy';

function pauseRoute(paused: boolean) {
  return defineRoute({
    method: 'post',
    path: `/v1/orgs/:id/copilot/${paused ? 'pause' : 'resume'}`,
    summary: paused
      ? 'Kill switch: stop every running session of the org from calling tools, and refuse new sessions (admins)'
      : 'Lift the kill switch (admins)',
    tag: 'orgs',
    auth: 'user',
    params: OrgParams,
    responses: { 200: 'Done', 401: 'No valid API key', 404: 'Unknown organization' },
    response: CopilotSwitchAnswer,
    async handler(ctx) {
      const { org, signalled } = await orgs.setCopilotPaused(ctx, ctx.params.id, paused);
      return { status: 200, body: { org: org.slug, paused, sessionsSignalled: signalled } };
    },
  });
}

export const pauseCopilot = pauseRoute(true);
export const resumeCopilot = pauseRoute(false);

export const getPolicy = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/policy',
  summary: "The default policy and the org's overrides",
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  responses: { 200: 'The policy', 401: 'No valid API key', 404: 'Unknown organization' },
  response: PolicyAnswer,
  async handler(ctx) {
    const { org, document, version, upstreamTools } = await orgs.getPolicy(ctx, ctx.params.id);
    return {
      status: 200,
      body: {
        defaults: { ...DEFAULT_POLICY, [TERMINAL_ACTION]: TERMINAL_DEFAULT_TIER },
        // Each override as the version in force holds it: who set it and when is that version's.
        overrides: document.overrides.map((o) => ({ tool: o.tool, action: o.action, tier: o.tier, setBy: version.createdBy ?? 'initial', updatedAt: version.createdAt })),
        approvalTtlSeconds: document.approvalTtlSeconds,
        blastRadiusThreshold: document.blastRadiusThreshold,
        breakerStreak: document.breakerStreak,
        taint: document.taint,
        budget: document.budget,
        version,
        loweringAllowed: org.policyLoweringAllowedAt !== null,
        upstreamTools,
        rateLimits: orgs.rateLimitsView(ctx.deps, document),
      },
    };
  },
});

export const putPolicy = defineRoute({
  method: 'put',
  path: '/v1/orgs/:id/policy',
  summary: "Replace the org's tier overrides, and set its approval expiry and rate limits when given, as a new policy version (admins; lowering a default tier needs the partner admin's allowance and is audited)",
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  body: z
    .object({
      overrides: z.array(PolicyOverrideEntry).max(100),
      approvalTtlSeconds: ApprovalTtl.optional(),
      rateLimits: PolicyRateLimits.optional().describe('omitted: left as they are'),
      blastRadiusThreshold: BlastRadiusThreshold.optional().describe('more than this many devices raises a T2/T3 call a tier (default 10); omitted: left as it is'),
      breakerStreak: BreakerStreak.optional().describe(`rejections in a row that trip a session's breaker (default ${BREAKER_THRESHOLD}; longer needs the lowering allowance); omitted: left as it is`),
      taint: TaintRules.optional().describe('the least tier after flagged content and with an argument from tool output (3 or 4); omitted: left as they are'),
      budget: BudgetCeilings.nullable().optional().describe("the org's spend ceilings in USD (null: the deployment's defaults); omitted: left as they are"),
      reason: Reason,
    })
    .strict(),
  responses: { 200: 'Saved as a new version', 400: 'Invalid body', 401: 'No valid API key', 403: 'Lowers a tier without the partner admin\'s allowance', 404: 'Unknown organization' },
  response: PolicySavedAnswer,
  async handler(ctx) {
    const { org, version } = await orgs.replacePolicy(ctx, ctx.params.id, ctx.body);
    return { status: 200, body: { org: org.slug, overrides: ctx.body.overrides, version } };
  },
});

export const getUsage = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/usage',
  summary: 'Spent and remaining today and this month (UTC), in USD',
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  responses: { 200: 'Usage', 401: 'No valid API key', 404: 'Unknown organization' },
  response: UsageAnswer,
  async handler(ctx) {
    const { org, usage } = await orgs.orgUsage(ctx, ctx.params.id);
    return { status: 200, body: { org: org.slug, ...usage } };
  },
});

const Usd = z.number().positive().max(1_000_000);

export const putBudget = defineRoute({
  method: 'put',
  path: '/v1/orgs/:id/budget',
  summary: "Set the org's daily and monthly budgets and hourly spend ceiling, in USD (admins)",
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  body: z.object({ dailyUsd: Usd, monthlyUsd: Usd, hourlyUsd: Usd.optional(), reason: Reason }).strict(),
  responses: { 200: 'Saved as a new policy version', 400: 'Invalid body', 401: 'No valid API key', 404: 'Unknown organization' },
  response: BudgetSavedAnswer,
  async handler(ctx) {
    const { org, version, usage } = await orgs.setBudget(ctx, ctx.params.id, ctx.body);
    return { status: 200, body: { org: org.slug, version, ...usage } };
  },
});

export const getOrgStatus = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/status',
  summary: "The org's copilot state: the kill switch (who paused it, when) and sessions whose circuit breaker is tripped",
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  responses: { 200: 'The state', 401: 'No valid API key', 404: 'Unknown organization' },
  response: OrgStatusAnswer,
  async handler(ctx) {
    const { org, tripped, pausedByEmail } = await orgs.orgStatus(ctx, ctx.params.id);
    return {
      status: 200,
      body: {
        org: { id: org.id, slug: org.slug, name: org.name },
        paused: org.copilotPausedAt !== null,
        pausedAt: org.copilotPausedAt?.toISOString() ?? null,
        pausedBy: pausedByEmail ?? org.copilotPausedBy ?? null,
        trippedBreakers: tripped.map((t) => ({ sessionId: t.id, trippedAt: t.breakerTrippedAt!.toISOString() })),
      },
    };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const orgControlRoutes: AnyRoute[] = [pauseCopilot, resumeCopilot, getPolicy, putPolicy, getUsage, getOrgStatus, putBudget];
