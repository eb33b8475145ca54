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
import type { Approval, Prisma } from '@prisma/client';
import type { PoolClient } from 'pg';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { audit, type AuditEntry } from '../../audit/log';
import type { ApprovalChannel, ApprovalDecisionSignal } from '../../common/session';
import { approvalExpiredAt } from '../../common/policy-document';
import { Tier } from '../../common/tools';
import { approvalDecisionSignal } from '../../workflows/definitions';
import { sweptApprovals, type ApiDeps } from '../deps';
import { approvalAuthority, targetIdsSql } from '../../lib/approval-authority';
import { tenantPoolTransaction, type TenantScope } from '../../lib/tenant-db';
import { fromPool } from '../http/errors';
import { passkeyRequiredBy } from '../../lib/passkey-assertion';
import { Uuid } from '../../common/ids';
import { z } from 'zod';
import { type Principal, Role, scopeOf, sitesWhere, tenantScope } from '../http/access';
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

/**
 * Delivers a recorded decision to its workflow; false when Temporal could not be reached (the sweep retries). Then
 * the delivery is noted (`signaledAt`), in one statement through `pg`: fenced to `scope` when the decision's caller
 * passes its own (the sweep is system work, as before).
 */
export async function deliverDecision(deps: ApiDeps, approval: Approval, scope?: TenantScope): Promise<boolean> {
  try {
    await deps.temporal.workflow.getHandle(approval.workflowId).signal(approvalDecisionSignal, toSignal(approval));
    const signaledAt = new Date().toISOString();
    const note = (db: Pick<PoolClient, 'query'>) => db.query({ name: 'decision.signaled', text: `UPDATE "Approval" SET "signaledAt" = $2::timestamptz AT TIME ZONE 'UTC' WHERE "id" = $1::uuid`, values: [approval.id, signaledAt] });
    const { rowCount } = scope ? await tenantPoolTransaction(deps.pool, scope, note) : await note(deps.pool);
    if (rowCount !== 1) throw new Error('the approval is gone');
    return true;
  } catch (err) {
    deps.logger.warn({ approvalId: approval.id, err: (err as Error).message }, 'decision recorded but not yet delivered to the workflow');
    return false;
  }
}

/** An approval row as Prisma reads it, in plain SQL (`DateTime` is `timestamp(3)` in UTC: read `AT TIME ZONE 'UTC'`). */
const APPROVAL_COLUMNS = `a."id"::text AS "id", a."orgId"::text AS "orgId", a."sessionId"::text AS "sessionId", a."workflowId", a."invocationId", a."tier", a."digest",
  a."toolName", a."input", a."targets", a."summary", a."confirmationPhrase", a."requestedBy"::text AS "requestedBy", a."status",
  a."expiresAt" AT TIME ZONE 'UTC' AS "expiresAt", a."decidedBy"::text AS "decidedBy", a."decidedAt" AT TIME ZONE 'UTC' AS "decidedAt", a."channel", a."reason",
  a."signaledAt" AT TIME ZONE 'UTC' AS "signaledAt", a."notifiedAt" AT TIME ZONE 'UTC' AS "notifiedAt", a."remindedAt" AT TIME ZONE 'UTC' AS "remindedAt",
  a."recordedAt" AT TIME ZONE 'UTC' AS "recordedAt", a."slackChannel", a."slackTs", a."slackUpdatedAt" AT TIME ZONE 'UTC' AS "slackUpdatedAt",
  a."passkeyAssertion", a."policyVersion", a."standingRuleId"::text AS "standingRuleId", a."createdAt" AT TIME ZONE 'UTC' AS "createdAt"`;

/**
 * The approval (as findApproval finds it: by id, in the principal's orgs) with what deciding it reads besides: the
 * site of each target device in its org and the org's passkey rule for T3. One statement, in one transaction fenced
 * to the principal's orgs (`tenantPoolTransaction`), where it was a Prisma transaction of four round trips. The
 * targets' devices are found by the rule the workflow's verification reads them by (lib/approval-authority.ts
 * `targetIdsSql`: the UUID ids of the stored `[{ id, name }]`, each by its key).
 */
async function readForDecision(deps: ApiDeps, principal: Principal, id: string): Promise<{ approval: Approval; siteOf: Map<string, string>; passkeysForT3: boolean | null }> {
  if (!Uuid.safeParse(id).success) throw AppError.notFound('approval');
  const orgIds = tenantScope(principal).orgId.in;
  const { rows } = await tenantPoolTransaction(deps.pool, scopeOf(principal), (db) =>
    db.query({
      name: 'decision.read',
      text: `SELECT ${APPROVAL_COLUMNS},
                    (SELECT o."passkeysForT3" FROM "Organization" o WHERE o."id" = a."orgId") AS "passkeysForT3",
                    (SELECT coalesce(json_agg(json_build_object('id', d."id", 'siteId', d."siteId")), '[]'::json)
                     FROM "Device" d
                     WHERE d."orgId" = a."orgId"
                       AND d."id" = ANY(ARRAY(${targetIdsSql('a')}))) AS "targetSites"
             FROM "Approval" a WHERE a."id" = $1::uuid AND a."orgId" = ANY($2::uuid[])`,
      values: [id, orgIds],
    }),
  ).catch((err: unknown) => {
    throw fromPool(err);
  });
  if (!rows[0]) throw AppError.notFound('approval');
  const { passkeysForT3, targetSites, ...approval } = DecisionRead.parse(rows[0]);
  return { approval, siteOf: new Map(targetSites.map((d) => [d.id, d.siteId])), passkeysForT3 };
}

const date = z.date();
const DecisionRead = z.object({
  id: z.string(),
  orgId: z.string(),
  sessionId: z.string(),
  workflowId: z.string(),
  invocationId: z.string(),
  tier: z.number().int(),
  digest: z.string(),
  toolName: z.string(),
  input: z.custom<Prisma.JsonValue>((v) => v !== undefined),
  targets: z.custom<Prisma.JsonValue>((v) => v !== undefined),
  summary: z.string(),
  confirmationPhrase: z.string().nullable(),
  requestedBy: z.string(),
  status: z.string(),
  expiresAt: date,
  decidedBy: z.string().nullable(),
  decidedAt: date.nullable(),
  channel: z.string().nullable(),
  reason: z.string().nullable(),
  signaledAt: date.nullable(),
  notifiedAt: date.nullable(),
  remindedAt: date.nullable(),
  recordedAt: date.nullable(),
  slackChannel: z.string().nullable(),
  slackTs: z.string().nullable(),
  slackUpdatedAt: date.nullable(),
  passkeyAssertion: z.custom<Prisma.JsonValue>((v) => v !== undefined),
  policyVersion: z.number().int().nullable(),
  standingRuleId: z.string().nullable(),
  createdAt: date,
  passkeysForT3: z.boolean().nullable(),
  targetSites: z.array(z.object({ id: z.string(), siteId: z.string() })),
}) satisfies z.ZodType<Approval & { passkeysForT3: boolean | null; targetSites: { id: string; siteId: string }[] }>;

/**
 * The claim of a pending, unexpired approval and its audit event, in one statement: the event is written only with
 * the claim (from the claimed row), and the statement runs in the caller's fenced transaction, so the decision and
 * its event are committed together or not at all. `claimed` is 0 when another decision was recorded first (or the
 * approval expired). Its event is the one `audit()` writes; the chain's trigger links it.
 */
async function claimWithEvent(
  db: Pick<PoolClient, 'query'>,
  c: { approvalId: string; status: string; decidedBy: string; decidedAt: Date; channel: string; reason: string | null; passkeyAssertion: unknown; event: AuditEntry },
): Promise<{ claimed: number; audited: number }> {
  const { rows } = await db.query<{ claimed: number; audited: number }>({
    name: 'decision.claim',
    text: `WITH claimed AS (
             UPDATE "Approval"
             SET "status" = $2, "decidedBy" = $3::uuid, "decidedAt" = $4::timestamptz AT TIME ZONE 'UTC', "channel" = $5, "reason" = $6,
                 "passkeyAssertion" = coalesce($7::jsonb, "passkeyAssertion")
             WHERE "id" = $1::uuid AND "status" = 'pending' AND "expiresAt" > $4::timestamptz AT TIME ZONE 'UTC'
             RETURNING 1),
           audited AS (
             INSERT INTO "AuditEvent" ("orgId", "actorType", "actorId", "action", "target", "sessionId", "data", "createdAt")
             SELECT $8::uuid, $9, $10, $11, $12, $13::uuid, $14::jsonb, now() AT TIME ZONE 'UTC' FROM claimed
             RETURNING 1)
           SELECT (SELECT count(*)::int FROM claimed) AS "claimed", (SELECT count(*)::int FROM audited) AS "audited"`,
    values: [
      c.approvalId,
      c.status,
      c.decidedBy,
      c.decidedAt.toISOString(),
      c.channel,
      c.reason,
      c.passkeyAssertion == null ? null : JSON.stringify(c.passkeyAssertion),
      c.event.orgId ?? null,
      c.event.actorType,
      c.event.actorId ?? null,
      c.event.action,
      c.event.target ?? null,
      c.event.sessionId ?? null,
      JSON.stringify(c.event.data ?? {}),
    ],
  });
  return rows[0]!;
}

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
  const decisionEvent = (standing: Awaited<ReturnType<typeof createStanding>> | null): AuditEntry => ({
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
  const conflict = () => new AppError(AppErrorCode.Conflict, 'another decision was recorded first');
  // A standing approval is a new policy version, written through Prisma (createStanding) in the claim's transaction.
  const claimWithStanding = async (tx: Parameters<Parameters<ApiDeps['prisma']['$transaction']>[0]>[0], days: number) => {
    const claimed = await tx.approval.updateMany({
      where: { id: approval.id, status: 'pending', expiresAt: { gt: now } },
      data: { status: req.decision, decidedBy: principal.userId, decidedAt: now, channel: req.channel, reason: req.reason ?? null, ...(assertion ? { passkeyAssertion: assertion } : {}) },
    });
    if (claimed.count !== 1) throw conflict();
    // The standing approval is made with the decision, and its audit event with both, in one transaction: all or none.
    const org = await tx.organization.findUniqueOrThrow({ where: { id: approval.orgId }, select: { id: true, slug: true } });
    const standing = await createStanding(deps, tx, approval, principal.userId, days, org);
    await audit(tx, decisionEvent(standing));
    return standing;
  };
  const standingDays = req.standing?.days;
  const standing =
    standingDays !== undefined
      ? await deps.prisma.$transaction((tx) => claimWithStanding(tx, standingDays))
      : // Otherwise the claim and its event are one statement, in one transaction fenced to the principal's orgs.
        await tenantPoolTransaction(deps.pool, scopeOf(principal), async (db) => {
          const { claimed, audited } = await claimWithEvent(db, {
            approvalId: approval.id,
            status: req.decision,
            decidedBy: principal.userId,
            decidedAt: now,
            channel: req.channel,
            reason: req.reason ?? null,
            passkeyAssertion: assertion,
            event: decisionEvent(null),
          });
          if (claimed !== 1) throw conflict();
          if (audited !== 1) throw new Error(`the decision on approval ${approval.id} was claimed without its audit event`);
          return null;
        }).catch((err: unknown) => {
          throw err instanceof AppError ? err : fromPool(err);
        });
  deps.metrics.approvalDecisions.observe({ channel: req.channel, decision: req.decision }, (now.getTime() - approval.createdAt.getTime()) / 1000);
  // The row as the claim above wrote it (the claim succeeded only with these values): no second read.
  const decided: Approval = { ...approval, status: req.decision, decidedBy: principal.userId, decidedAt: now, channel: req.channel, reason: req.reason ?? null, standingRuleId: standing?.rule.id ?? null };
  if (req.deliverInBackground) {
    void deliverDecision(deps, decided, scopeOf(principal));
    return { approval: decided, delivered: false };
  }
  const delivered = await deliverDecision(deps, decided, scopeOf(principal));
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
