/**
 * A copilot session as the session checks read it (activities/session-identity.ts) — its org, workflow id and
 * breaker, with what the breaker's own count reads (the org's policy head, the session's latest approvals since the
 * last verified reset: activities/breaker.ts) — as one SQL fragment, for statements that read it together with the
 * rows of the call they check (activities/command-record.ts, activities/authorize-record.ts).
 */
import { z } from 'zod';
import { STREAK_STATUSES, STREAK_WINDOW, type BreakerRead } from './breaker';

export interface SessionRecord extends BreakerRead {
  id: string;
  orgId: string;
  workflowId: string;
  breakerTrippedAt: Date | null;
}

/** A `timestamp(3)` read `AT TIME ZONE 'UTC'` (a timestamptz, so JSON gives it with its offset), as a Date. */
export const Stamp = z.string().transform((s) => new Date(s));

const statuses = STREAK_STATUSES.map((s) => `'${s}'`).join(', ');

/**
 * A JSON object of the session whose id is the SQL expression `id` (NULL when there is none), read as rejectionStreak
 * and currentPolicy read it. Timestamps are `timestamp(3)` in UTC (Prisma's), read `AT TIME ZONE 'UTC'`.
 */
export function sessionRecordSql(id: string): string {
  return `(SELECT json_build_object(
             'id', s."id", 'orgId', s."orgId", 'workflowId', s."workflowId", 'breakerTrippedAt', s."breakerTrippedAt" AT TIME ZONE 'UTC',
             'policyNumber', (SELECT coalesce(max(p."number"), 0) FROM "PolicyVersion" p WHERE p."orgId" = s."orgId"),
             'recent', (SELECT coalesce(json_agg(json_build_object('status', x."status", 'expiresAt', x."expiresAt" AT TIME ZONE 'UTC') ORDER BY x."createdAt" DESC), '[]'::json)
                        FROM (SELECT ap."status", ap."expiresAt", ap."createdAt" FROM "Approval" ap
                              WHERE ap."sessionId" = s."id" AND ap."status" IN (${statuses})
                                AND ap."createdAt" > coalesce((SELECT e."createdAt" FROM "AuditEvent" e
                                                               WHERE e."sessionId" = s."id" AND e."orgId" = s."orgId" AND e."action" = 'breaker.reset'
                                                               ORDER BY e."id" DESC LIMIT 1), '-infinity'::timestamp)
                              ORDER BY ap."createdAt" DESC LIMIT ${STREAK_WINDOW}) x))
           FROM "CopilotSession" s WHERE s."id" = ${id})`;
}

export const SessionRecordRow = z.object({
  id: z.string(),
  orgId: z.string(),
  workflowId: z.string(),
  breakerTrippedAt: Stamp.nullable(),
  policyNumber: z.number().int(),
  recent: z.array(z.object({ status: z.string(), expiresAt: Stamp })),
});
