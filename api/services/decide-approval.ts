/**
 * The one decision service behind every channel (API, console, Slack, email links). Checks, at decision time:
 * the approver's authority (lib/approval-authority.ts: approver role in the approval's org with sites covering every
 * target; for T4, nobody who wrote a turn of the session), that the approval is still pending and unexpired, the
 * digest the approver reviewed, for T4 the typed confirmation phrase, and for approving T4 (T3 where the org asks)
 * a fresh passkey assertion over the approval's digest (services/passkeys.ts), stored with the decision. An approver narrowed to other sites gets
 * the same 404 as for an unknown id. The
 * first valid decision is recorded atomically; a later one gets 409. Then the workflow is signalled; if Temporal
 * cannot be reached the decision stays recorded and the api's sweep delivers it (an outbox).
 */
import type { Approval } from '@prisma/client';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { audit } from '../../audit/log';
import type { ApprovalChannel, ApprovalDecisionSignal } from '../../common/session';
import { approvalExpiredAt } from '../../common/policy-document';
import { Tier } from '../../common/tools';
import { approvalDecisionSignal } from '../../workflows/definitions';
import { sweptApprovals, type ApiDeps } from '../deps';
import { approvalAuthority, targetIds } from '../../lib/approval-authority';
import { passkeyRequiredBy } from '../../lib/passkey-assertion';
import { Uuid } from '../../common/ids';
import { z } from 'zod';
import { type Principal, Role, sitesWhere, tenantScope } from '../http/access';
import type { Caller } from './caller';
import { checkDecisionAssertion } from './passkeys';
import { createStanding } from './policy';

export interface DecisionRequest {
  approvalId: string;
  decision: 'approved' | 'rejected';
  reason?: string;
  /** The digest the approver was shown; omitted means "what is pending now". */
  digest?: string;
  confirmation?: string;
  /** The passkey assertion (navigator.credentials.get's answer) over the approval's challenge; T4, and T3 where the org asks. */
  passkey?: unknown;
  channel: ApprovalChannel;
  /**
   * Approve, and let this exact call (tool, input, devices) through for `days` without a new approval: a standing
   * approval, written as a new policy version with the decision (T3 only).
   */
  standing?: { days: number };
  /** Do not wait for the signal to reach the workflow (Slack wants its answer in 3 s); the outbox delivers it. */
  deliverInBackground?: boolean;
}

export async function findApproval(deps: ApiDeps, principal: Principal, id: string): Promise<Approval> {
  const approval = await deps.prisma.approval.findFirst({ where: { id, ...tenantScope(principal) } });
  if (!approval) throw AppError.notFound('approval');
  return approval;
}

/** How channels name a person to approvers (requester, decider): the email, or the id of a user who is gone. */
export async function emailOf(deps: ApiDeps, userId: string): Promise<string> {
  return (await deps.prisma.user.findUnique({ where: { id: userId }, select: { email: true } }))?.email ?? userId;
}

export function toSignal(a: Approval, confirmation?: string): ApprovalDecisionSignal {
  return {
    approvalId: a.id,
    decision: a.status as 'approved' | 'rejected',
    approverId: a.decidedBy!,
    channel: a.channel as ApprovalChannel,
    digest: a.digest,
    ...(a.reason ? { reason: a.reason } : {}),
    ...(confirmation !== undefined ? { confirmation } : a.tier >= Tier.T4 && a.status === 'approved' ? { confirmation: a.confirmationPhrase ?? '' } : {}),
  };
}

/** Delivers a recorded decision to its workflow; false when Temporal could not be reached (the sweep retries). */
export async function deliverDecision(deps: ApiDeps, approval: Approval): Promise<boolean> {
  try {
    await deps.temporal.workflow.getHandle(approval.workflowId).signal(approvalDecisionSignal, toSignal(approval));
    await deps.prisma.approval.update({ where: { id: approval.id }, data: { signaledAt: new Date() } });
    return true;
  } catch (err) {
    deps.logger.warn({ approvalId: approval.id, err: (err as Error).message }, 'decision recorded but not yet delivered to the workflow');
    return false;
  }
}

/**
 * The approval (as findApproval finds it) with what deciding it reads besides: the site of each target device in its
 * org and the org's passkey rule for T3. One transaction of the caller's client (fenced to the principal's orgs in a
 * route), two statements, where each was a transaction of its own.
 */
async function readForDecision(deps: ApiDeps, principal: Principal, id: string): Promise<{ approval: Approval; siteOf: Map<string, string>; passkeysForT3: boolean | null }> {
  const read = await deps.prisma.$transaction(async (tx) => {
    const approval = await tx.approval.findFirst({ where: { id, ...tenantScope(principal) } });
    if (!approval) return null;
    // Stored as [{ id, name }]; ids that are no UUIDs name no device (and are covered by no site: approvalAuthority).
    const ids = [...new Set(targetIds(approval.targets) ?? [])].filter((t) => Uuid.safeParse(t).success);
    const rows = await tx.$queryRaw<unknown[]>`
      SELECT (SELECT o."passkeysForT3" FROM "Organization" o WHERE o."id" = ${approval.orgId}::uuid) AS "passkeysForT3",
             (SELECT coalesce(json_agg(json_build_object('id', d."id", 'siteId', d."siteId")), '[]'::json)
              FROM "Device" d WHERE d."orgId" = ${approval.orgId}::uuid AND d."id" = ANY(${ids}::uuid[])) AS "targetSites"`;
    return { approval, rows };
  });
  if (!read) throw AppError.notFound('approval');
  const { passkeysForT3, targetSites } = DecisionReads.parse(read.rows[0]);
  return { approval: read.approval, siteOf: new Map(targetSites.map((d) => [d.id, d.siteId])), passkeysForT3 };
}

const DecisionReads = z.object({
  passkeysForT3: z.boolean().nullable(),
  targetSites: z.array(z.object({ id: z.string(), siteId: z.string() })),
});

export async function decideApproval({ deps, principal }: Caller, req: DecisionRequest) {
  const { approval, siteOf, passkeysForT3 } = await readForDecision(deps, principal, req.approvalId);
  const refuse = async (error: AppError, why: string) => {
    await audit(deps.prisma, { orgId: approval.orgId, actorType: 'user', actorId: principal.userId, action: 'approval.decision_refused', target: approval.id, sessionId: approval.sessionId, data: { why, channel: req.channel } });
    return error;
  };
  const authority = await approvalAuthority(deps.prisma, approval, { userId: principal.userId, approverSites: sitesWhere(principal, approval.orgId, [Role.Approver]) }, req.decision, { siteOf });
  if (!authority.ok) {
    // Outside the approver's sites, the approval is not theirs to know about: the answer of an unknown id.
    if (authority.why === 'sites') throw await refuse(AppError.notFound('approval'), 'target devices outside the approver\'s sites');
    throw await refuse(new AppError(AppErrorCode.Forbidden, authority.message), authority.why === 'session_author' ? 'session author approving a T4 call' : authority.why === 'vouched' ? 'approver set up by a session author approving a T4 call' : 'not an approver');
  }
  if (approval.status !== 'pending') throw new AppError(AppErrorCode.Conflict, `this approval is already ${approval.status}`);
  if (approvalExpiredAt(approval.expiresAt, new Date())) throw new AppError(AppErrorCode.Conflict, 'this approval has expired');
  if (req.digest !== undefined && req.digest !== approval.digest) {
    throw await refuse(new AppError(AppErrorCode.Conflict, 'the tool call changed since you reviewed it; review it again'), 'digest mismatch');
  }
  if (req.standing && (req.decision !== 'approved' || approval.tier !== Tier.T3)) {
    const why = req.decision !== 'approved' ? 'only an approval can stand' : approval.tier >= Tier.T4 ? 'a T4 call is approved each time; standing approvals are for T3 calls only' : 'only a T3 call can become a standing approval';
    throw await refuse(new AppError(AppErrorCode.BadRequest, `body.standing: ${why}`), `standing approval refused: ${why}`);
  }
  if (approval.tier >= Tier.T4 && req.decision === 'approved') {
    if (req.confirmation !== approval.confirmationPhrase) {
      throw await refuse(new AppError(AppErrorCode.BadRequest, `body.confirmation: type "${approval.confirmationPhrase}" exactly to approve this T4 call`), 'confirmation phrase mismatch');
    }
  }
  // Approving T4 (and T3 where the org asks) is signed with the approver's passkey over this approval's digest.
  let passkey: Awaited<ReturnType<typeof checkDecisionAssertion>> | null = null;
  if (req.decision === 'approved' && passkeyRequiredBy(approval.tier, passkeysForT3)) {
    passkey = await checkDecisionAssertion(deps, principal, approval, req.passkey);
    if (!passkey.ok) throw await refuse(new AppError(passkey.why === 'passkey assertion for another digest' ? AppErrorCode.Conflict : AppErrorCode.Forbidden, passkey.message), passkey.why);
  }
  const assertion = passkey?.ok ? passkey.assertion : null;
  const now = new Date();
  // The decision's audit event, written in the claim's transaction.
  const auditDecision = (tx: Parameters<typeof audit>[0], standing: Awaited<ReturnType<typeof createStanding>> | null) =>
    audit(tx, {
    orgId: approval.orgId,
    actorType: 'user',
    actorId: principal.userId,
    action: `approval.${req.decision}`,
    target: approval.id,
    sessionId: approval.sessionId,
    // The assertion rides in the hash-chained event too, so an audit export carries what an offline check needs.
    data: {
      channel: req.channel,
      reason: req.reason ?? null,
      tool: approval.toolName,
      tier: approval.tier,
      digest: approval.digest,
      policyVersion: approval.policyVersion,
      ...(assertion ? { passkey: assertion } : {}),
      ...(standing ? { standingApproval: { id: standing.rule.id, expiresAt: standing.rule.expiresAt, version: standing.version } } : {}),
    },
  });
  const claim = async (tx: Parameters<Parameters<ApiDeps['prisma']['$transaction']>[0]>[0]) => {
    const claimed = await tx.approval.updateMany({
      where: { id: approval.id, status: 'pending', expiresAt: { gt: now } },
      data: { status: req.decision, decidedBy: principal.userId, decidedAt: now, channel: req.channel, reason: req.reason ?? null, ...(assertion ? { passkeyAssertion: assertion } : {}) },
    });
    if (claimed.count !== 1) throw new AppError(AppErrorCode.Conflict, 'another decision was recorded first');
    // The standing approval is made with the decision, and its audit event with both, in one transaction: all or none.
    let standing: Awaited<ReturnType<typeof createStanding>> | null = null;
    if (req.standing) {
      const org = await tx.organization.findUniqueOrThrow({ where: { id: approval.orgId }, select: { id: true, slug: true } });
      standing = await createStanding(deps, tx, approval, principal.userId, req.standing.days, org);
    }
    await auditDecision(tx, standing);
    return standing;
  };
  const standing = await deps.prisma.$transaction(claim);
  deps.metrics.approvalDecisions.observe({ channel: req.channel, decision: req.decision }, (now.getTime() - approval.createdAt.getTime()) / 1000);
  // The row as the claim above wrote it (the claim succeeded only with these values): no second read.
  const decided: Approval = { ...approval, status: req.decision, decidedBy: principal.userId, decidedAt: now, channel: req.channel, reason: req.reason ?? null, standingRuleId: standing?.rule.id ?? null };
  if (req.deliverInBackground) {
    void deliverDecision(deps, decided);
    return { approval: decided, delivered: false };
  }
  const delivered = await deliverDecision(deps, decided);
  return { approval: decided, delivered };
}

/**
 * Decisions recorded but not delivered (Temporal was down): sent again by the api's sweep. Only decisions a few
 * seconds old: a fresh one is still being delivered by the request that made it, and sending it from here too
 * would put the same signal twice in the history.
 */
export async function deliverPendingDecisions(deps: ApiDeps): Promise<void> {
  const undelivered = await deps.prisma.approval.findMany({
    where: { status: { in: ['approved', 'rejected'] }, signaledAt: null, decidedAt: { not: null, lt: new Date(Date.now() - 5000) }, ...sweptApprovals(deps) },
    take: 100,
  });
  for (const a of undelivered) await deliverDecision(deps, a);
}
