/**
 * The operations of the org's versioned policy (docs/policy.md): versions and their diffs, rollback, standing
 * approvals (made from a decision, listed, revoked) and the partner admin's allowance to lower tiers. Every change
 * is a new version, written with its audit event in one transaction (lib/policy-store.ts). Saving a policy is
 * services/orgs.ts replacePolicy; the what-if is services/what-if.ts.
 */
import { randomUUID } from 'node:crypto';
import type { Approval } from '@prisma/client';
import type { Prisma } from '@prisma/client';
import { DEFAULT_DOCUMENT, diffDocuments, normalizeDocument, type PolicyDocument, type PolicyVersionKind, type StandingRule } from '../../common/policy-document';
import { Tier } from '../../common/tools';
import { BLAST_RADIUS_THRESHOLD } from '../../common/default-policy';
import { BREAKER_THRESHOLD } from '../../common/session';
import { lowersDefault } from '../../cage/policy';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { currentPolicy, liveStanding, policyVersion } from '../../lib/policy-store';
import { audit } from '../../audit/log';
import { qualifiedName } from '../../lib/mcp-upstream';
import { findOrgFor, Role } from '../http/access';
import type { ApiDeps } from '../deps';
import type { Caller } from './caller';

type Org = Awaited<ReturnType<typeof findOrgFor>>;

export interface NewVersion {
  orgId: string;
  /** The org's slug, for the audit event's target. */
  target: string;
  document: PolicyDocument;
  kind: PolicyVersionKind;
  reason: string;
  createdBy: string | null;
  /** What the audit event adds (lowered tiers, raised limits, the standing approval). */
  data?: Record<string, unknown>;
  /** The audit action; policy.version_created by default. */
  action?: 'policy.updated' | 'budget.updated' | 'policy.lowered' | 'policy.limits_raised' | 'policy.rolled_back' | 'policy.standing_created' | 'policy.standing_revoked';
}

/**
 * Appends a version after the current one, inside the caller's transaction, with its audit event (the diff in the
 * org's hash chain). Two writers at once: the second's number is taken and its transaction fails (409 upstream).
 */
export async function appendVersion(tx: Prisma.TransactionClient, v: NewVersion): Promise<{ number: number; previous: number }> {
  const head = await currentPolicy(tx, v.orgId);
  const document = normalizeDocument(v.document);
  const number = head.number + 1;
  await tx.policyVersion.create({ data: { orgId: v.orgId, number, document: document as unknown as Prisma.InputJsonValue, kind: v.kind, reason: v.reason, createdBy: v.createdBy } });
  const diff = diffDocuments(head.document, document);
  await audit(tx, {
    orgId: v.orgId,
    actorType: v.createdBy ? 'user' : 'system',
    actorId: v.createdBy,
    action: v.action ?? 'policy.updated',
    target: v.target,
    data: { version: number, previous: head.number, kind: v.kind, reason: v.reason, diff, ...(v.data ?? {}) },
  });
  return { number, previous: head.number };
}


/** Emails of the given users (a user who is gone keeps its id). */
async function emails(deps: ApiDeps, ids: (string | null)[]): Promise<Map<string, string>> {
  const wanted = [...new Set(ids.filter((i): i is string => i !== null))];
  const users = wanted.length ? await deps.prisma.user.findMany({ where: { id: { in: wanted } }, select: { id: true, email: true } }) : [];
  return new Map(users.map((u) => [u.id, u.email]));
}

export async function listVersions({ deps, principal }: Caller, orgRef: string) {
  const org = await findOrgFor(deps, principal, orgRef);
  const rows = await deps.prisma.policyVersion.findMany({ where: { orgId: org.id }, orderBy: { number: 'desc' }, select: { number: true, createdAt: true, createdBy: true, reason: true, kind: true } });
  const who = await emails(deps, rows.map((r) => r.createdBy));
  return rows.map((r) => ({ number: r.number, createdAt: r.createdAt.toISOString(), createdBy: r.createdBy ? (who.get(r.createdBy) ?? r.createdBy) : null, reason: r.reason, kind: r.kind as 'edit' }));
}

/** The version in force, as GET /v1/orgs/:id/policy shows it. */
export async function currentVersionView(deps: ApiDeps, orgId: string) {
  const v = await currentPolicy(deps.prisma, orgId);
  const who = await emails(deps, [v.createdBy]);
  return { row: v, view: { number: v.number, createdAt: v.createdAt.toISOString(), createdBy: v.createdBy ? (who.get(v.createdBy) ?? v.createdBy) : null, reason: v.reason } };
}

export async function versionView({ deps, principal }: Caller, orgRef: string, n: number) {
  // A document holds its standing approvals' calls (their inputs): for those who decide or audit them.
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin, Role.Approver, Role.Auditor]);
  const v = await policyVersion(deps.prisma, org.id, n);
  if (!v || n === 0) throw AppError.notFound('policy version');
  const before = n > 1 ? await policyVersion(deps.prisma, org.id, n - 1) : null;
  const who = await emails(deps, [v.createdBy]);
  return {
    number: v.number,
    createdAt: v.createdAt.toISOString(),
    createdBy: v.createdBy ? (who.get(v.createdBy) ?? v.createdBy) : null,
    reason: v.reason,
    kind: v.kind as 'edit',
    document: v.document,
    diff: diffDocuments(before?.document ?? DEFAULT_DOCUMENT, v.document),
  };
}

/** The overrides of `doc` that lower a tool below its default (an upstream tool's: its registered tier). */
export const loweredIn = (doc: PolicyDocument, upstream: ReadonlyMap<string, number> = new Map()) => doc.overrides.filter((o) => lowersDefault(o.tool, o.action, o.tier, upstream));

/** The org's registered upstream MCP tools by catalog name (`upstream.<server>.<tool>`), with their registered tier. */
export async function upstreamToolsOf(db: Pick<ApiDeps['prisma'], 'mcpUpstreamTool'>, orgId: string) {
  const rows = await db.mcpUpstreamTool.findMany({ where: { orgId }, select: { name: true, tier: true, status: true, upstream: { select: { name: true } } }, orderBy: [{ upstream: { name: 'asc' } }, { name: 'asc' }] });
  return new Map(rows.map((t) => [qualifiedName(t.upstream.name, t.name), { upstream: t.upstream.name, name: t.name, tier: t.tier, status: t.status }]));
}

/** Registered tiers by catalog name: the defaults lowering is measured against for upstream tools. */
export const registeredTiers = (tools: Awaited<ReturnType<typeof upstreamToolsOf>>) => new Map([...tools].map(([k, t]) => [k, t.tier]));

/**
 * Org admins may only raise tiers: a document that lowers one below its default (and did not already, at the same
 * tier, in the version in force) needs the partner admin's allowance on the org. Refused with an audit event.
 */
export async function assertMayLower(deps: ApiDeps, principal: Caller['principal'], org: Org, current: PolicyDocument, next: PolicyDocument): Promise<ReturnType<typeof loweredIn>> {
  const upstream = registeredTiers(await upstreamToolsOf(deps.prisma, org.id));
  const lowered = loweredIn(next, upstream);
  const already = new Set(loweredIn(current, upstream).map((o) => `${o.tool}:${o.action}:${o.tier}`));
  const newlyLowered = lowered.filter((o) => !already.has(`${o.tool}:${o.action}:${o.tier}`));
  // A blast-radius threshold above the default lets larger calls through a tier lower: a lowering too.
  const threshold = next.blastRadiusThreshold > BLAST_RADIUS_THRESHOLD && next.blastRadiusThreshold !== current.blastRadiusThreshold;
  if (threshold) lowered.push({ tool: 'blastRadiusThreshold', action: '*', tier: next.blastRadiusThreshold });
  // So is a longer breaker streak: more rejections in a row before a session is stopped.
  const streak = next.breakerStreak > BREAKER_THRESHOLD && next.breakerStreak !== current.breakerStreak;
  if (streak) lowered.push({ tool: 'breakerStreak', action: '*', tier: next.breakerStreak });
  if ((newlyLowered.length || threshold || streak) && org.policyLoweringAllowedAt === null) {
    await audit(deps.prisma, {
      orgId: org.id,
      actorType: 'user',
      actorId: principal.userId,
      action: 'policy.lowering_refused',
      target: org.slug,
      data: { lowered: newlyLowered, ...(threshold ? { blastRadiusThreshold: next.blastRadiusThreshold } : {}), ...(streak ? { breakerStreak: next.breakerStreak } : {}) },
    });
    const names = [
      ...newlyLowered.map((o) => `${o.tool}${o.action === '*' ? '' : `:${o.action}`} to T${o.tier}`),
      ...(threshold ? [`the blast-radius threshold to ${next.blastRadiusThreshold} devices (default ${BLAST_RADIUS_THRESHOLD})`] : []),
      ...(streak ? [`the breaker streak to ${next.breakerStreak} rejections (default ${BREAKER_THRESHOLD})`] : []),
    ].join(', ');
    throw new AppError(AppErrorCode.Forbidden, `lowering ${names} below the default needs a partner admin's allowance for this organization (PUT /v1/orgs/:id/policy/lowering); an org admin may only raise tiers`);
  }
  return lowered;
}

export async function rollback({ deps, principal }: Caller, orgRef: string, toVersion: number, reason: string) {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin]);
  const target = await policyVersion(deps.prisma, org.id, toVersion);
  if (!target) throw AppError.notFound('policy version');
  const current = await currentPolicy(deps.prisma, org.id);
  // Standing approvals are not rolled back in or out: they are made and revoked by their own decisions.
  const document: PolicyDocument = { ...target.document, standing: current.document.standing };
  const lowered = await assertMayLower(deps, principal, org, current.document, document);
  const { number } = await deps.prisma.$transaction((tx) =>
    appendVersion(tx, { orgId: org.id, target: org.slug, document, kind: 'rollback', reason, createdBy: principal.userId, action: 'policy.rolled_back', data: { toVersion, lowered } }),
  );
  return { org, version: number };
}

export async function standingView({ deps, principal }: Caller, orgRef: string) {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin, Role.Approver, Role.Auditor]);
  const current = await currentPolicy(deps.prisma, org.id);
  const rules = liveStanding(current.document, new Date());
  if (!rules.length) return [];
  const [devices, who, uses] = await Promise.all([
    deps.prisma.device.findMany({ where: { orgId: org.id, id: { in: [...new Set(rules.flatMap((r) => r.devices))] } }, select: { id: true, name: true } }),
    emails(deps, rules.map((r) => r.author)),
    deps.prisma.toolInvocation.groupBy({ by: ['standingRuleId'], where: { orgId: org.id, standingRuleId: { in: rules.map((r) => r.id) } }, _count: { _all: true } }),
  ]);
  const names = new Map(devices.map((d) => [d.id, d.name]));
  const used = new Map(uses.map((u) => [u.standingRuleId, u._count._all]));
  const madeIn = await standingVersions(deps, org.id, rules);
  return rules.map((r) => ({
    id: r.id,
    tool: r.tool,
    action: r.action,
    params: r.params,
    devices: r.devices.map((id) => ({ id, name: names.get(id) ?? null })),
    author: who.get(r.author) ?? r.author,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    version: madeIn.get(r.id) ?? current.number,
    uses: used.get(r.id) ?? 0,
  }));
}

/** The version that added each rule: the audit events of its creation name it. */
async function standingVersions(deps: ApiDeps, orgId: string, rules: StandingRule[]): Promise<Map<string, number>> {
  const events = await deps.prisma.auditEvent.findMany({ where: { orgId, action: 'policy.standing_created', target: { in: rules.map((r) => r.id) } }, select: { target: true, data: true } });
  return new Map(events.map((e) => [e.target ?? '', Number((e.data as { version?: number }).version ?? 0)]));
}

/** Revokes a standing approval at once (admins and approvers of the org): a new version without it. */
export async function revokeStanding({ deps, principal }: Caller, orgRef: string, ruleId: string, reason: string): Promise<number> {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin, Role.Approver]);
  const current = await currentPolicy(deps.prisma, org.id);
  const rule = current.document.standing.find((r) => r.id === ruleId);
  if (!rule) throw AppError.notFound('standing approval');
  const document: PolicyDocument = { ...current.document, standing: current.document.standing.filter((r) => r.id !== ruleId) };
  const { number } = await deps.prisma.$transaction(async (tx) => {
    const v = await appendVersion(tx, { orgId: org.id, target: ruleId, document, kind: 'standing-revoke', reason, createdBy: principal.userId, action: 'policy.standing_revoked', data: { rule } });
    return v;
  });
  return number;
}

/**
 * A standing approval from an approving decision (services/decide-approval.ts): the exact call the approver saw
 * (its tool, parsed input and devices, as one digest), T3 only, for `days`. Written with the decision's own
 * transaction, so there is no approval without its rule nor a rule without its approval.
 */
export async function createStanding(
  deps: ApiDeps,
  tx: Parameters<Parameters<ApiDeps['prisma']['$transaction']>[0]>[0],
  approval: Approval,
  by: string,
  days: number,
  org: { id: string; slug: string },
): Promise<{ rule: StandingRule; version: number }> {
  if (approval.tier >= Tier.T4) throw new AppError(AppErrorCode.BadRequest, 'body.standing: a T4 call is approved each time; standing approvals are for T3 calls only');
  if (approval.tier !== Tier.T3) throw new AppError(AppErrorCode.BadRequest, 'body.standing: only a T3 call can become a standing approval');
  const inv = await tx.toolInvocation.findUnique({ where: { id: approval.invocationId }, select: { policyInputs: true } });
  const inputs = (inv?.policyInputs ?? {}) as { action?: string | null; devices?: string[] };
  const devices = Array.isArray(approval.targets) ? (approval.targets as { id: string }[]).map((d) => d.id).sort() : [];
  const now = new Date();
  const rule: StandingRule = {
    id: randomUUID(),
    tool: approval.toolName,
    action: inputs.action ?? null,
    params: approval.input,
    devices,
    digest: approval.digest,
    author: by,
    approvalId: approval.id,
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + days * 86_400_000).toISOString(),
  };
  const current = await currentPolicy(tx, org.id);
  // Expired rules leave the document when the next one is made: the list stays the rules that can still match.
  const document: PolicyDocument = { ...current.document, standing: [...liveStanding(current.document, now), rule] };
  const reason = `standing approval from approval ${approval.id}: ${approval.summary}`.slice(0, 500);
  const { number } = await appendVersion(tx, { orgId: org.id, target: rule.id, document, kind: 'standing-approval', reason, createdBy: by, action: 'policy.standing_created', data: { rule, days } });
  await tx.approval.update({ where: { id: approval.id }, data: { standingRuleId: rule.id } });
  void deps;
  return { rule, version: number };
}

/**
 * A partner admin allows (or forbids again) the org's admins to lower tiers below the defaults; audited. Like every
 * route under an org, it answers 404 to anyone without a role there, partner admins included (docs/tenancy.md).
 */
export async function setLoweringAllowed({ deps, system, principal }: Caller, orgRef: string, allowed: boolean, reason: string) {
  const org = await findOrgFor(deps, principal, orgRef);
  if (!principal.partnerAdmin) throw new AppError(AppErrorCode.Forbidden, "only a partner admin can allow an organization's admins to lower tiers below the defaults");
  const saved = await system.organization.update({ where: { id: org.id }, data: allowed ? { policyLoweringAllowedBy: principal.userId, policyLoweringAllowedAt: new Date() } : { policyLoweringAllowedBy: null, policyLoweringAllowedAt: null } });
  await audit(system, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'policy.lowering_allowed', target: org.slug, data: { allowed, reason, before: org.policyLoweringAllowedAt !== null } });
  return saved;
}
