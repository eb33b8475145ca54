/**
 * The operations of organization controls, one each: the copilot kill switch, the org's tier policy, approval
 * expiry and rate limits, its budget and usage, its copilot state, and its rule for e-mailed approval links. Each holds its queries
 * and its audit event; the routes in routes/orgs.ts and routes/email-approvals.ts parse, call and shape the answer.
 * Another org's id answers exactly like an unknown one.
 */
import { isToolName, TOOLS, toolOf } from '../../common/tools';
import { messageWindows, orgRateLimitsOf } from '../../lib/org-rate-limits';
import { TERMINAL_ACTION, TERMINAL_MIN_TIER } from '../../common/terminal-protocol';
import { WorkflowNotFoundError } from '@temporalio/client';
import { copilotPausedSignal } from '../../workflows/definitions';
import { Uuid } from '../../common/ids';
import { policyActions, UPSTREAM_TOOL } from '../../cage/policy';
import type { PolicyDocument } from '../../common/policy-document';
import { currentPolicy } from '../../lib/policy-store';
import { appendVersion, assertMayLower, currentVersionView, upstreamToolsOf } from './policy';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { audit } from '../../audit/log';
import { usageOf } from '../../lib/budget';
import { pauseOrgEndingCommands } from '../../lib/device-commands';
import { sweptApprovals, type ApiDeps } from '../deps';
import { findOrgFor, Role, visibleSessions } from '../http/access';
import type { Caller } from './caller';
import { pauseOrgTerminals, terminalWorkflowsOf } from './terminals';

/**
 * A session the kill switch tells, and when the list naming it was read: the database's clock in UTC, as the
 * timestamp columns hold it, kept as text so it goes back to the database unchanged whatever either side's zone.
 */
type ToTell = { id: string; workflowId: string; at: string };
const LISTED_AT = `(now() AT TIME ZONE 'UTC')::text AS "at"`;

/**
 * Tells the org's sessions the kill switch moved, and answers how many heard: on a pause, the sessions a pause can
 * reach in the middle of something (a turn running, an approval waiting), each marked told first; on a resume, the
 * sessions told of a pause and not yet of its end. Idle sessions are not woken: their next tool call is authorized
 * against the record, and only a session told of a pause holds one of its own (the workflow's `paused`).
 * A turn cannot slip between the pause and this list: its start marks it running under a share lock on the org's row
 * (activities/request-record.ts), so it either committed before the pause (and is listed) or read the pause itself.
 * A session that misses a pause still denies through its activities; one that misses a resume keeps its mark, and
 * the sweep tells it (`tellMissedResumes`).
 */
async function broadcastPause(deps: ApiDeps, orgId: string, paused: boolean, by: string): Promise<number> {
  const { rows: sessions } = await deps.pool.query<ToTell>(
    paused
      ? {
          name: 'kill-switch.sessions-to-pause',
          text: `UPDATE "CopilotSession" s SET "pauseToldAt" = now() AT TIME ZONE 'UTC'
                 WHERE s."orgId" = $1::uuid
                   AND (s."activeTurnId" IS NOT NULL
                        OR s."id" IN (SELECT a."sessionId" FROM "Approval" a WHERE a."orgId" = $1::uuid AND a."status" = 'pending'))
                 RETURNING s."id", s."workflowId", ${LISTED_AT}`,
          values: [orgId],
        }
      : {
          name: 'kill-switch.sessions-to-resume',
          text: `SELECT s."id", s."workflowId", ${LISTED_AT} FROM "CopilotSession" s
                 WHERE s."orgId" = $1::uuid AND s."pauseToldAt" IS NOT NULL`,
          values: [orgId],
        },
  );
  // Terminal requests hear the same hint: a pending one's approval is withdrawn, an approved one's window ends.
  const terminals = paused ? await terminalWorkflowsOf(deps, orgId) : [];
  const signal = pausedSignal(deps, paused, by);
  const [heard, terminalsTold] = await Promise.all([paused ? told(sessions, signal).then((t) => t.heard) : toldOfResume(deps, sessions, by), Promise.allSettled(terminals.map(signal))]);
  return heard.length + terminalsTold.filter((r) => r.status === 'fulfilled').length;
}

/** Sends a workflow the kill switch's hint (it reads the record). */
const pausedSignal = (deps: ApiDeps, paused: boolean, by: string) => (workflowId: string) =>
  deps.temporal.workflow.getHandle(workflowId).signal(copilotPausedSignal, { paused, by });

/**
 * The sessions whose signal went through (`heard`), and those whose workflow is gone (terminated, or never started
 * under this Temporal): nothing there holds a pause, so neither is told again.
 */
async function told(sessions: ToTell[], signal: (workflowId: string) => Promise<void>): Promise<{ heard: ToTell[]; gone: ToTell[] }> {
  const results = await Promise.allSettled(sessions.map((s) => signal(s.workflowId)));
  return {
    heard: sessions.filter((_s, i) => results[i]!.status === 'fulfilled'),
    gone: sessions.filter((_s, i) => { const r = results[i]!; return r.status === 'rejected' && r.reason instanceof WorkflowNotFoundError; }),
  };
}

/** Tells sessions of a resume; those that heard lose their mark, unless a pause marked them again since the list was read. */
async function toldOfResume(deps: ApiDeps, sessions: ToTell[], by: string): Promise<ToTell[]> {
  const { heard, gone } = await told(sessions, pausedSignal(deps, false, by));
  const done = [...heard, ...gone];
  if (done.length > 0) {
    await deps.pool.query({
      name: 'kill-switch.resume-told',
      text: 'UPDATE "CopilotSession" SET "pauseToldAt" = NULL WHERE "id" = ANY($1::uuid[]) AND "pauseToldAt" <= $2::timestamp',
      values: [done.map((s) => s.id), done[0]!.at],
    });
  }
  return heard;
}

/**
 * The resumes sessions missed (Temporal could not be reached when an admin resumed): every session told of a pause
 * whose org runs again is told, at each sweep until it hears, in the resuming admin's name (an outbox, as decisions
 * have). A resume of the last 5 s is left to its own request, which is still telling its sessions (the sweep would
 * tell them a second time). The signal is a hint either way: the session reads the record, so a pause committed
 * meanwhile stands.
 */
export async function tellMissedResumes(deps: ApiDeps): Promise<void> {
  const { rows } = await deps.pool.query<ToTell & { by: string | null }>({
    name: 'kill-switch.missed-resumes',
    // Each resume is audited in its admin's name; an org resumed without one (none recorded) waits for the next.
    text: `SELECT s."id", s."workflowId", ${LISTED_AT}, resumed."actorId" AS "by"
           FROM "CopilotSession" s JOIN "Organization" o ON o."id" = s."orgId"
           CROSS JOIN LATERAL (SELECT e."actorId", e."createdAt" FROM "AuditEvent" e
                               WHERE e."orgId" = o."id" AND e."action" = 'copilot.resumed' ORDER BY e."seq" DESC LIMIT 1) resumed
           WHERE s."pauseToldAt" IS NOT NULL AND o."copilotPausedAt" IS NULL
             AND resumed."createdAt" < now() AT TIME ZONE 'UTC' - interval '5 seconds'
             AND ($1::uuid IS NULL OR o."partnerId" = $1::uuid)
           LIMIT 200`,
    // One partner's sessions where the database is shared (as the approvals' sweeps): another's run elsewhere.
    values: [sweptApprovals(deps).org?.partnerId ?? null],
  });
  const byResumer = new Map<string, ToTell[]>();
  for (const r of rows) {
    if (!Uuid.safeParse(r.by).success) continue;
    const sessions = byResumer.get(r.by!) ?? [];
    sessions.push(r);
    byResumer.set(r.by!, sessions);
  }
  for (const [by, sessions] of byResumer) await toldOfResume(deps, sessions, by);
}

/** The kill switch (admins): pauses or resumes the org's copilot and tells its sessions; answers how many heard. */
export async function setCopilotPaused({ deps, principal }: Caller, orgRef: string, paused: boolean) {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin]);
  // Once the pause is committed no delivery statement sends the org's commands (lib/device-commands.ts); the ones
  // still waiting for their device end with it as PAUSED, so their sessions are told instead of waiting for a TTL.
  let ended = 0;
  if (paused) ended = (await pauseOrgEndingCommands(deps.pool, org.id, principal.userId)).length;
  else await deps.prisma.organization.update({ where: { id: org.id }, data: { copilotPausedAt: null, copilotPausedBy: null } });
  // Live terminals close at once, on every api node; no terminal of the org opens until it is resumed.
  const terminalsEnded = paused ? await pauseOrgTerminals(deps, org.id) : 0;
  deps.metrics.pauses.inc({ action: paused ? 'paused' : 'resumed' });
  await audit(deps.prisma, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: paused ? 'copilot.paused' : 'copilot.resumed', target: org.slug, ...(paused ? { data: { commandsEnded: ended, terminalsEnded } } : {}) });
  const signalled = await broadcastPause(deps, org.id, paused, principal.userId);
  return { org, signalled };
}

export async function getPolicy({ deps, principal }: Caller, orgRef: string) {
  const org = await findOrgFor(deps, principal, orgRef);
  const { row, view } = await currentVersionView(deps, org.id);
  // Upstream MCP tools: each one's registered tier (its default) and the org's override of it, if any.
  const upstream = [...(await upstreamToolsOf(deps.prisma, org.id))].map(([tool, t]) => ({
    tool,
    upstream: t.upstream,
    name: t.name,
    status: t.status,
    registeredTier: t.tier,
    override: row.document.overrides.find((o) => o.tool === tool)?.tier ?? null,
  }));
  return { org, document: row.document, version: view, upstreamTools: upstream };
}

export interface PolicyInput {
  overrides: { tool: string; action: string; tier: number }[];
  approvalTtlSeconds?: { t3: number; t4: number };
  rateLimits?: { userMessagesPerMinute: number | null; orgMessagesPerHour: number | null; toolCallsPerUser: Record<string, number> };
  blastRadiusThreshold?: number;
  breakerStreak?: number;
  taint?: PolicyDocument['taint'];
  budget?: PolicyDocument['budget'];
  reason: string;
}

/** The rate limits in force under a policy document: its own where set, the deployment's and the catalog's otherwise. */
export function rateLimitsView(deps: ApiDeps, doc: PolicyDocument) {
  const own = orgRateLimitsOf(doc);
  const { userMessages, orgMessages } = messageWindows(deps.config.guards.rates, own);
  const toolCallsPerUser = Object.fromEntries(TOOLS.map((t) => [t.name, { max: own.toolCalls[t.name] ?? t.rateLimit.max, windowSeconds: t.rateLimit.windowSeconds }]));
  return {
    userMessagesPerMinute: userMessages.max,
    orgMessagesPerHour: orgMessages.max,
    toolCallsPerUser,
    custom: { userMessagesPerMinute: own.userMessagesPerMinute, orgMessagesPerHour: own.orgMessagesPerHour, toolCallsPerUser: own.toolCalls },
  };
}

/** Checks a proposed policy's overrides and limits name what exists; a clear 400 naming the field otherwise. */
export function checkPolicyInput(input: Pick<PolicyInput, 'overrides' | 'rateLimits'>, field = 'body'): void {
  const seen = new Set<string>();
  for (const [i, o] of input.overrides.entries()) {
    if (o.tool === TERMINAL_ACTION) {
      // Opening a remote terminal is an action of its own (not a tool the model sees): one tier, never below T3.
      if (o.action !== '*') throw new AppError(AppErrorCode.BadRequest, `${field}.overrides.${i}.action: ${TERMINAL_ACTION} has one tier for every terminal: use "*"`);
      if (o.tier < TERMINAL_MIN_TIER) throw new AppError(AppErrorCode.BadRequest, `${field}.overrides.${i}.tier: a terminal always needs an approver (T${TERMINAL_MIN_TIER} or T4)`);
      if (seen.has(TERMINAL_ACTION)) throw new AppError(AppErrorCode.BadRequest, `${field}.overrides.${i}: ${TERMINAL_ACTION} is listed twice`);
      seen.add(TERMINAL_ACTION);
      continue;
    }
    if (UPSTREAM_TOOL.test(o.tool)) {
      // An upstream MCP tool has one tier (its registration's, the default); replacePolicy checks it is registered.
      if (o.action !== '*') throw new AppError(AppErrorCode.BadRequest, `${field}.overrides.${i}.action: ${o.tool} is an upstream MCP tool with one tier for every call: use "*"`);
      if (seen.has(o.tool)) throw new AppError(AppErrorCode.BadRequest, `${field}.overrides.${i}: ${o.tool} is listed twice`);
      seen.add(o.tool);
      continue;
    }
    if (!isToolName(o.tool)) throw new AppError(AppErrorCode.BadRequest, `${field}.overrides.${i}.tool: unknown tool "${o.tool}"`);
    // Every tool says which actions it has (none for a tool with one tier), so no policy shape can reach a 500.
    const actions = policyActions(o.tool);
    if (o.action !== '*' && !actions.includes(o.action)) {
      const known = actions.length ? `its actions are ${actions.map((a) => `"${a}"`).join(', ')} (or "*")` : 'it has one tier for every call: use "*"';
      throw new AppError(AppErrorCode.BadRequest, `${field}.overrides.${i}.action: ${o.tool} has no action "${o.action}"; ${known}`);
    }
    const key = `${o.tool}\u0000${o.action}`;
    if (seen.has(key)) throw new AppError(AppErrorCode.BadRequest, `${field}.overrides.${i}: ${o.tool} "${o.action}" is listed twice`);
    seen.add(key);
  }
  for (const tool of Object.keys(input.rateLimits?.toolCallsPerUser ?? {})) {
    if (!isToolName(tool)) throw new AppError(AppErrorCode.BadRequest, `${field}.rateLimits.toolCallsPerUser: unknown tool "${tool}"`);
  }
}

/**
 * An upstream tool's override names a tool an upstream server of the org registered; one the version in force
 * already holds may stay (its upstream removed, it decides nothing: an unknown upstream tool is denied).
 */
async function checkUpstreamOverrides(deps: ApiDeps, orgId: string, current: PolicyDocument, overrides: PolicyInput['overrides']): Promise<void> {
  const wanted = overrides.map((o, i) => ({ o, i })).filter(({ o }) => UPSTREAM_TOOL.test(o.tool) && !current.overrides.some((c) => c.tool === o.tool));
  if (!wanted.length) return;
  const registered = await upstreamToolsOf(deps.prisma, orgId);
  const missing = wanted.find(({ o }) => !registered.has(o.tool));
  if (missing) throw new AppError(AppErrorCode.BadRequest, `body.overrides.${missing.i}.tool: no upstream MCP server of this organization registered "${missing.o.tool}"`);
}

/**
 * Saves the org's tier overrides, and its approval expiry and rate limits when given, as a new policy version
 * (admins). Lowering a tier below its default needs the partner admin's allowance; it is then audited as such.
 */
export async function replacePolicy({ deps, principal }: Caller, orgRef: string, input: PolicyInput) {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin]);
  checkPolicyInput(input);
  const current = await currentPolicy(deps.prisma, org.id);
  await checkUpstreamOverrides(deps, org.id, current.document, input.overrides);
  const limits = input.rateLimits;
  const document: PolicyDocument = {
    overrides: input.overrides.map((o) => ({ tool: o.tool, action: o.action, tier: o.tier })),
    approvalTtlSeconds: input.approvalTtlSeconds ?? current.document.approvalTtlSeconds,
    rateLimits: limits ?? current.document.rateLimits,
    blastRadiusThreshold: input.blastRadiusThreshold ?? current.document.blastRadiusThreshold,
    breakerStreak: input.breakerStreak ?? current.document.breakerStreak,
    taint: input.taint ?? current.document.taint,
    budget: input.budget === undefined ? current.document.budget : input.budget,
    standing: current.document.standing,
  };
  const lowered = await assertMayLower(deps, principal, org, current.document, document);
  // Which limits now allow more than the defaults: a loosening, named in the event like a lowered tier is.
  const raised = limits ? raisedLimits(deps, limits) : [];
  const { number } = await deps.prisma.$transaction((tx) =>
    appendVersion(tx, {
      orgId: org.id,
      target: org.slug,
      document,
      kind: 'edit',
      reason: input.reason,
      createdBy: principal.userId,
      action: lowered.length ? 'policy.lowered' : raised.length ? 'policy.limits_raised' : 'policy.updated',
      data: { lowered, raised },
    }),
  );
  return { org, version: number };
}

const usd = (micros: bigint) => Number(micros) / 1_000_000;

/** Spent and remaining today and this month (UTC), in USD. */
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

export async function orgUsage({ deps, principal }: Caller, orgRef: string) {
  const org = await findOrgFor(deps, principal, orgRef);
  return { org, usage: await usageView(deps, org.id) };
}

/**
 * Sets the org's daily and monthly budgets and hourly ceiling, in USD (admins), as a new policy version (its
 * `budget`; audited as budget.updated with the diff); answers the usage against them. A budget is a spend ceiling
 * an admin sets either way: raising it is not a lowering of the policy.
 */
export async function setBudget({ deps, principal }: Caller, orgRef: string, input: { dailyUsd: number; monthlyUsd: number; hourlyUsd?: number; reason: string }) {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin]);
  if (input.dailyUsd > input.monthlyUsd) throw new AppError(AppErrorCode.BadRequest, 'body.dailyUsd: cannot be more than monthlyUsd');
  const budget = { dailyUsd: input.dailyUsd, monthlyUsd: input.monthlyUsd, hourlyUsd: input.hourlyUsd ?? Math.min(input.dailyUsd, deps.config.guards.budget.hourlyMicros / 1_000_000) };
  const current = await currentPolicy(deps.prisma, org.id);
  const { number } = await deps.prisma.$transaction((tx) =>
    appendVersion(tx, { orgId: org.id, target: org.slug, document: { ...current.document, budget }, kind: 'edit', reason: input.reason, createdBy: principal.userId, action: 'budget.updated', data: { budget } }),
  );
  return { org, version: number, usage: await usageView(deps, org.id) };
}

/**
 * The org's copilot state: the kill switch (who paused it) and the sessions whose circuit breaker is tripped, of
 * those the principal may see (a session that reached a site outside theirs is not even named).
 */
export async function orgStatus({ deps, principal }: Caller, orgRef: string) {
  const org = await findOrgFor(deps, principal, orgRef);
  // The breaker as the session rows hold it: what authorization enforces, whatever a workflow's state says.
  const rows = await deps.prisma.copilotSession.findMany({
    where: { orgId: org.id, breakerTrippedAt: { not: null } },
    orderBy: { breakerTrippedAt: 'desc' },
    take: 500,
    select: { id: true, orgId: true, userId: true, breakerTrippedAt: true },
  });
  const tripped = await visibleSessions(deps, principal, rows);
  const pausedBy = org.copilotPausedBy ? await deps.prisma.user.findUnique({ where: { id: org.copilotPausedBy }, select: { email: true } }) : null;
  return { org, tripped, pausedByEmail: pausedBy?.email ?? null };
}

/** The org's rule for e-mailed approval links: whether they need the approver's signed-in session for every tier. */
export async function emailApprovalRule({ deps, principal }: Caller, orgRef: string) {
  return findOrgFor(deps, principal, orgRef);
}

/** Sets that rule (admins), audited with what it was before. */
export async function setEmailApprovalRule({ deps, system, principal }: Caller, orgRef: string, signInForEveryTier: boolean) {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin]);
  const saved = await deps.prisma.organization.update({ where: { id: org.id }, data: { emailLinksNeedSignIn: signInForEveryTier } });
  await audit(system, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'org.email_approvals_set', target: org.slug, data: { signInForEveryTier, before: org.emailLinksNeedSignIn } });
  return saved;
}

/** Whether approving T3 calls needs a passkey in the org (T4 always does). */
export async function passkeyRule({ deps, principal }: Caller, orgRef: string) {
  return findOrgFor(deps, principal, orgRef);
}

/** Sets that rule (admins), audited with what it was before. */
export async function setPasskeyRule({ deps, system, principal }: Caller, orgRef: string, requireForT3: boolean) {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin]);
  const saved = await deps.prisma.organization.update({ where: { id: org.id }, data: { passkeysForT3: requireForT3 } });
  await audit(system, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'org.passkey_rule_set', target: org.slug, data: { requireForT3, before: org.passkeysForT3 } });
  return saved;
}

/** The limits of `input` above the deployment's defaults and the catalog's, by name. */
function raisedLimits(deps: ApiDeps, input: NonNullable<PolicyInput['rateLimits']>): string[] {
  const { userMessages, orgMessages } = deps.config.guards.rates;
  const raised: string[] = [];
  if (input.userMessagesPerMinute !== null && input.userMessagesPerMinute > userMessages.max) raised.push('userMessagesPerMinute');
  if (input.orgMessagesPerHour !== null && input.orgMessagesPerHour > orgMessages.max) raised.push('orgMessagesPerHour');
  for (const [tool, max] of Object.entries(input.toolCallsPerUser)) if (isToolName(tool) && max > toolOf(tool).rateLimit.max) raised.push(`toolCallsPerUser.${tool}`);
  return raised;
}
