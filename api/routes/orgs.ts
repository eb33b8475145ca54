/**
 * Organization controls for admins: the copilot kill switch, the org's tier policy and approval expiry.
 * Another org's id answers exactly like an unknown one.
 */
import { CopilotSwitchAnswer, OrgStatusAnswer, PolicyAnswer, PolicySavedAnswer, UsageAnswer } from '../../common/api-answers';
import { z } from 'zod';
import { DEFAULT_POLICY } from '../../common/default-policy';
import { isToolName } from '../../common/tools';
import { copilotPausedSignal } from '../../workflows/definitions';
import { lowersDefault, policyActions } from '../../cage/policy';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { audit } from '../../audit/log';
import { usageOf } from '../../lib/budget';
import { endPausedCommands } from '../../lib/device-commands';
import type { ApiDeps } from '../deps';
import { findOrgFor, Role } from '../http/access';
import { OrgParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';
/** Tells every session of the org at once; a session that misses the signal still denies through its activities. */
async function broadcastPause(deps: ApiDeps, orgId: string, paused: boolean, by: string): Promise<number> {
  const sessions = await deps.prisma.copilotSession.findMany({ where: { orgId }, select: { workflowId: true } });
  const results = await Promise.allSettled(
    sessions.map((s) => deps.temporal.workflow.getHandle(s.workflowId).signal(copilotPausedSignal, { paused, by })),
  );
  return results.filter((r) => r.status === 'fulfilled').length;
}

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
    async handler({ deps, principal, params }) {
      const org = await findOrgFor(deps, principal, params.id, [Role.Admin]);
      await deps.prisma.organization.update({
        where: { id: org.id },
        data: paused ? { copilotPausedAt: new Date(), copilotPausedBy: principal.userId } : { copilotPausedAt: null, copilotPausedBy: null },
      });
      // Once the pause is committed no delivery statement sends the org's commands (lib/device-commands.ts); the ones
      // still waiting for their device end now as PAUSED, so their sessions are told instead of waiting for a TTL.
      const ended = paused ? (await endPausedCommands(deps.pool, org.id)).length : 0;
      await audit(deps.prisma, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: paused ? 'copilot.paused' : 'copilot.resumed', target: org.slug, ...(paused ? { data: { commandsEnded: ended } } : {}) });
      const signalled = await broadcastPause(deps, org.id, paused, principal.userId);
      return { status: 200, body: { org: org.slug, paused, sessionsSignalled: signalled } };
    },
  });
}

export const pauseCopilot = pauseRoute(true);
export const resumeCopilot = pauseRoute(false);

const TierValue = z.number().int().min(1).max(4);

export const getPolicy = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/policy',
  summary: "The default policy and the org's overrides",
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  responses: { 200: 'The policy', 401: 'No valid API key', 404: 'Unknown organization' },
  response: PolicyAnswer,
  async handler({ deps, principal, params }) {
    const org = await findOrgFor(deps, principal, params.id);
    const overrides = await deps.prisma.policyOverride.findMany({ where: { orgId: org.id }, orderBy: [{ tool: 'asc' }, { action: 'asc' }] });
    return {
      status: 200,
      body: {
        defaults: DEFAULT_POLICY,
        overrides: overrides.map((o) => ({ tool: o.tool, action: o.action, tier: o.tier, setBy: o.setBy, updatedAt: o.updatedAt.toISOString() })),
        approvalTtlSeconds: { t3: org.approvalTtlT3Seconds, t4: org.approvalTtlT4Seconds },
      },
    };
  },
});

export const putPolicy = defineRoute({
  method: 'put',
  path: '/v1/orgs/:id/policy',
  summary: "Replace the org's tier overrides and approval expiry (admins; lowering a default tier is audited)",
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  body: z
    .object({
      overrides: z
        .array(z.object({ tool: z.string().max(100), action: z.string().max(40).default('*'), tier: TierValue }).strict())
        .max(100),
      approvalTtlSeconds: z.object({ t3: z.number().int().min(2).max(7 * 86_400), t4: z.number().int().min(2).max(7 * 86_400) }).strict().optional(),
    })
    .strict(),
  responses: { 200: 'Saved', 400: 'Invalid body', 401: 'No valid API key', 404: 'Unknown organization' },
  response: PolicySavedAnswer,
  async handler({ deps, principal, params, body }) {
    const org = await findOrgFor(deps, principal, params.id, [Role.Admin]);
    const seen = new Set<string>();
    for (const [i, o] of body.overrides.entries()) {
      if (!isToolName(o.tool)) throw new AppError(AppErrorCode.BadRequest, `body.overrides.${i}.tool: unknown tool "${o.tool}"`);
      // Every tool says which actions it has (none for a tool with one tier), so no policy shape can reach a 500.
      const actions = policyActions(o.tool);
      if (o.action !== '*' && !actions.includes(o.action)) {
        const known = actions.length ? `its actions are ${actions.map((a) => `"${a}"`).join(', ')} (or "*")` : 'it has one tier for every call: use "*"';
        throw new AppError(AppErrorCode.BadRequest, `body.overrides.${i}.action: ${o.tool} has no action "${o.action}"; ${known}`);
      }
      const key = `${o.tool}\u0000${o.action}`;
      if (seen.has(key)) throw new AppError(AppErrorCode.BadRequest, `body.overrides.${i}: ${o.tool} "${o.action}" is listed twice`);
      seen.add(key);
    }
    await deps.prisma.$transaction(async (tx) => {
      await tx.policyOverride.deleteMany({ where: { orgId: org.id } });
      for (const o of body.overrides) await tx.policyOverride.create({ data: { orgId: org.id, tool: o.tool, action: o.action, tier: o.tier, setBy: principal.userId } });
      if (body.approvalTtlSeconds) {
        await tx.organization.update({ where: { id: org.id }, data: { approvalTtlT3Seconds: body.approvalTtlSeconds.t3, approvalTtlT4Seconds: body.approvalTtlSeconds.t4 } });
      }
      const lowered = body.overrides.filter((o) => lowersDefault(o.tool, o.action, o.tier));
      await audit(tx, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: lowered.length ? 'policy.lowered' : 'policy.updated', target: org.slug, data: { overrides: body.overrides, lowered, approvalTtlSeconds: body.approvalTtlSeconds ?? null } });
    });
    return { status: 200, body: { org: org.slug, overrides: body.overrides } };
  },
});

const usd = (micros: bigint) => Number(micros) / 1_000_000;

export async function usageView(deps: ApiDeps, orgId: string) {
  const u = await usageOf(deps.prisma, orgId, deps.config.guards.budget);
  const period = (p: Awaited<ReturnType<typeof usageOf>>['today']) => ({
    period: p.period.split(':')[1],
    limitUsd: usd(p.limitMicros),
    spentUsd: usd(p.spentMicros),
    reservedUsd: usd(p.reservedMicros),
    remainingUsd: usd(p.remainingMicros),
  });
  return { today: period(u.today), month: period(u.month), hourlyCeilingUsd: usd(u.limits.hourlyMicros), customBudget: u.limits.custom };
}

export const getUsage = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/usage',
  summary: 'Spent and remaining today and this month (UTC), in USD',
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  responses: { 200: 'Usage', 401: 'No valid API key', 404: 'Unknown organization' },
  response: UsageAnswer,
  async handler({ deps, principal, params }) {
    const org = await findOrgFor(deps, principal, params.id);
    return { status: 200, body: { org: org.slug, ...(await usageView(deps, org.id)) } };
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
  body: z.object({ dailyUsd: Usd, monthlyUsd: Usd, hourlyUsd: Usd.optional() }).strict(),
  responses: { 200: 'Saved', 400: 'Invalid body', 401: 'No valid API key', 404: 'Unknown organization' },
  response: UsageAnswer,
  async handler({ deps, principal, params, body }) {
    const org = await findOrgFor(deps, principal, params.id, [Role.Admin]);
    if (body.dailyUsd > body.monthlyUsd) throw new AppError(AppErrorCode.BadRequest, 'body.dailyUsd: cannot be more than monthlyUsd');
    const micros = (n: number) => BigInt(Math.round(n * 1_000_000));
    const data = {
      dailyLimitMicros: micros(body.dailyUsd),
      monthlyLimitMicros: micros(body.monthlyUsd),
      hourlyLimitMicros: micros(body.hourlyUsd ?? Math.min(body.dailyUsd, deps.config.guards.budget.hourlyMicros / 1_000_000)),
      updatedBy: principal.userId,
    };
    await deps.prisma.orgBudget.upsert({ where: { orgId: org.id }, create: { orgId: org.id, ...data }, update: data });
    await audit(deps.prisma, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'budget.updated', target: org.slug, data: body });
    return { status: 200, body: { org: org.slug, ...(await usageView(deps, org.id)) } };
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
  async handler({ deps, principal, params }) {
    const org = await findOrgFor(deps, principal, params.id);
    // The breaker as the session rows hold it: what authorization enforces, whatever a workflow's state says.
    const tripped = await deps.prisma.copilotSession.findMany({
      where: { orgId: org.id, breakerTrippedAt: { not: null } },
      orderBy: { breakerTrippedAt: 'desc' },
      take: 500,
      select: { id: true, breakerTrippedAt: true },
    });
    const pausedBy = org.copilotPausedBy ? await deps.prisma.user.findUnique({ where: { id: org.copilotPausedBy }, select: { email: true } }) : null;
    return {
      status: 200,
      body: {
        org: { id: org.id, slug: org.slug, name: org.name },
        paused: org.copilotPausedAt !== null,
        pausedAt: org.copilotPausedAt?.toISOString() ?? null,
        pausedBy: pausedBy?.email ?? org.copilotPausedBy ?? null,
        trippedBreakers: tripped.map((t) => ({ sessionId: t.id, trippedAt: t.breakerTrippedAt!.toISOString() })),
      },
    };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const orgControlRoutes: AnyRoute[] = [pauseCopilot, resumeCopilot, getPolicy, putPolicy, getUsage, getOrgStatus, putBudget];
