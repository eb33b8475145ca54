/**
 * What verifying a signalled decision reads and writes (activities/approvals.ts verifyApprovalDecision), one
 * statement each through `pg`, as the per-command statements are (lib/device-commands.ts): the checks are the same
 * as through Prisma, but each of their reads was a round trip of its own (the approval, its session, the decider's
 * role and sites, the targets' sites, the org's passkey rule) and so was each write (the approval's delivery, the
 * invocation's status, the console's notice). Read together they are one snapshot; written together, all or none.
 *
 * Prisma stores `DateTime` as `timestamp(3)` in UTC: written as `now() AT TIME ZONE 'UTC'`, read `AT TIME ZONE 'UTC'`.
 */
import type { Approval, Prisma } from '@prisma/client';
import type { Pool } from 'pg';
import { z } from 'zod';
import { Uuid } from '../common/ids';
import { APPROVER_ROLE, targetIdsSql } from '../lib/approval-authority';
import { Channel } from '../lib/pg-events';
import { sessionEventPayload, type SessionEvent } from '../lib/session-events';

/** What of an approval the checks of a recorded decision look at. */
export type RecordedApproval = Pick<
  Approval,
  'id' | 'orgId' | 'sessionId' | 'invocationId' | 'tier' | 'digest' | 'status' | 'decidedBy' | 'confirmationPhrase' | 'targets' | 'requestedBy' | 'passkeyAssertion' | 'channel' | 'signaledAt' | 'recordedAt'
>;

/** What was read with the approval, for the checks that would otherwise read it themselves. */
export interface DecisionContext {
  /** The approval's session (by its id), or null when there is none. */
  session: { orgId: string; workflowId: string } | null;
  /** The org's `passkeysForT3` (null: the org could not be read, which counts as asking). */
  passkeysForT3: boolean | null;
  /** The decider (null: no decider, or no such user) and their approver bindings in the approval's org. */
  decider: { disabled: boolean; bindings: { siteIds: string[] }[] } | null;
  /** The site of each target device found in the approval's org (a target not found is absent). */
  siteOf: Map<string, string>;
}

const Row = z.object({
  id: z.string(),
  orgId: z.string(),
  sessionId: z.string(),
  invocationId: z.string(),
  tier: z.number().int(),
  digest: z.string(),
  status: z.string(),
  decidedBy: z.string().nullable(),
  confirmationPhrase: z.string().nullable(),
  targets: z.json(),
  requestedBy: z.string(),
  passkeyAssertion: z.json().nullable(),
  channel: z.string().nullable(),
  // Dates as `pg` gives them, or as JSON does (read with other rows: activities/approved-commands.ts).
  signaledAt: z.coerce.date().nullable(),
  recordedAt: z.coerce.date().nullable(),
  session: z.object({ orgId: z.string(), workflowId: z.string() }).nullable(),
  passkeysForT3: z.boolean().nullable(),
  decider: z.object({ disabled: z.boolean(), bindings: z.array(z.object({ siteIds: z.array(z.string()) })) }).nullable(),
  targetSites: z.array(z.object({ id: z.string(), siteId: z.string() })),
});

/**
 * The statement's SELECT of the approval and everything its checks read, with its two parameters named by the caller
 * (a statement that reads it with other rows numbers them its own way): the approval's id (a UUID) and the approver
 * role. The targets are the UUID ids of the stored `[{ id, name }]` (`targetIdsSql`; anything else names no device,
 * and lib/approval-authority.ts's `targetIds` refuses a list it cannot read on its own).
 */
export function decisionSql(p: { approvalId: string; role: string }): string {
  return `SELECT a."id"::text AS "id", a."orgId"::text AS "orgId", a."sessionId"::text AS "sessionId", a."invocationId", a."tier", a."digest", a."status",
                  a."decidedBy"::text AS "decidedBy", a."confirmationPhrase", a."targets", a."requestedBy"::text AS "requestedBy", a."passkeyAssertion", a."channel",
                  a."signaledAt" AT TIME ZONE 'UTC' AS "signaledAt", a."recordedAt" AT TIME ZONE 'UTC' AS "recordedAt",
                  (SELECT json_build_object('orgId', s."orgId", 'workflowId', s."workflowId") FROM "CopilotSession" s WHERE s."id" = a."sessionId") AS "session",
                  (SELECT o."passkeysForT3" FROM "Organization" o WHERE o."id" = a."orgId") AS "passkeysForT3",
                  (SELECT json_build_object('disabled', u."disabledAt" IS NOT NULL,
                                            'bindings', (SELECT coalesce(json_agg(json_build_object('siteIds', rb."siteIds")), '[]'::json)
                                                         FROM "RoleBinding" rb WHERE rb."userId" = u."id" AND rb."orgId" = a."orgId" AND rb."role" = ${p.role}))
                   FROM "User" u WHERE u."id" = a."decidedBy") AS "decider",
                  (SELECT coalesce(json_agg(json_build_object('id', d."id", 'siteId', d."siteId")), '[]'::json)
                   FROM "Device" d
                   WHERE d."orgId" = a."orgId"
                     AND d."id" = ANY(ARRAY(${targetIdsSql('a')}))) AS "targetSites"
           FROM "Approval" a WHERE a."id" = ${p.approvalId}`;
}

/** The approval and what was read with it, from a row of `decisionSql` (null: no such approval). */
export function decisionFrom(row: unknown): { approval: RecordedApproval; context: DecisionContext } | null {
  if (!row) return null;
  const { session, passkeysForT3, decider, targetSites, ...approval } = Row.parse(row);
  return {
    approval: { ...approval, targets: approval.targets as Prisma.JsonValue, passkeyAssertion: approval.passkeyAssertion as Prisma.JsonValue | null },
    context: { session, passkeysForT3, decider, siteOf: new Map(targetSites.map((d) => [d.id, d.siteId])) },
  };
}

const readSql = decisionSql({ approvalId: '$1::uuid', role: '$2' });

/** The approval and everything its checks read, in one statement; null when there is no such approval. */
export async function readDecision(pool: Pool, approvalId: string): Promise<{ approval: RecordedApproval; context: DecisionContext } | null> {
  if (!Uuid.safeParse(approvalId).success) return null;
  const { rows } = await pool.query({ name: 'decision-record.read', text: readSql, values: [approvalId, APPROVER_ROLE] });
  return decisionFrom(rows[0]);
}

/**
 * A verified decision, recorded in one statement: the invocation's new status (approved: running; rejected: its
 * summary and end), the approval delivered and recorded (first times kept), and the console told. Nothing is written
 * when the invocation is not there; throws then (a retry reads again).
 */
export async function recordVerifiedDecision(
  pool: Pool,
  d: { approvalId: string; invocationId: string; status: 'running' | 'rejected'; summary: string | null; event: SessionEvent },
): Promise<void> {
  const { rows } = await pool.query<{ invocations: number; approvals: number }>({
    name: 'decision-record.record',
    text: `WITH i AS (
             UPDATE "ToolInvocation"
             SET "status" = $3,
                 "summary" = CASE WHEN $4::text IS NULL THEN "summary" ELSE $4::text END,
                 "completedAt" = CASE WHEN $4::text IS NULL THEN "completedAt" ELSE now() AT TIME ZONE 'UTC' END
             WHERE "id" = $2 RETURNING 1),
           a AS (
             UPDATE "Approval"
             SET "signaledAt" = coalesce("signaledAt", now() AT TIME ZONE 'UTC'), "recordedAt" = coalesce("recordedAt", now() AT TIME ZONE 'UTC')
             WHERE "id" = $1::uuid AND EXISTS (SELECT 1 FROM i) RETURNING 1)
           SELECT (SELECT count(*)::int FROM i) AS "invocations", (SELECT count(*)::int FROM a) AS "approvals",
                  (SELECT pg_notify($5, $6) FROM a)`,
    values: [d.approvalId, d.invocationId, d.status, d.summary, Channel.SessionEvents, sessionEventPayload(d.event)],
  });
  const row = rows[0];
  if (row?.invocations !== 1 || row.approvals !== 1) throw new Error(`the decision of approval ${d.approvalId} could not be recorded (its invocation or approval is gone)`);
}
