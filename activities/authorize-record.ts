/**
 * What authorization reads before it decides (activities/authorize-tool-call.ts), in one statement through `pg`: a row
 * already under the call's invocation id, the session with what its breaker counts (activities/session-record.ts),
 * the claimed org's kill switch, and the OAuth grant the turn came through. Through Prisma these were six round trips
 * or more, one after the other; the checks made of them are the same, on one snapshot.
 */
import type { Pool } from 'pg';
import type { AuditAction } from '../audit/actions';
import { Channel } from '../lib/pg-events';
import { sessionEventPayload, type SessionEvent } from '../lib/session-events';
import { z } from 'zod';
import { userMessageId, Uuid } from '../common/ids';
import type { TurnGrant } from './oauth-grant';
import { SessionRecordRow, sessionRecordSql, type SessionRecord } from './session-record';

export interface AuthorizationRecord {
  /** The row under the invocation id, if any (whose call it is). */
  existing: { sessionId: string; turnId: string; toolUseId: string } | null;
  /** The claimed session (null: none with that id). */
  session: SessionRecord | null;
  /** The claimed org's kill switch (null: no such org). */
  paused: boolean | null;
  /** The grant of the turn's MCP call, as grantOfTurn reads it (null: none). */
  grant: TurnGrant | null;
  /**
   * Whether the session read tool output flagged as injected that no human has approved a call since, as the audit
   * chain has it (`injection.flagged_output`, then `approval.approved`): the workflow's own `tainted` is part of its
   * state, which anyone who reaches Temporal can restart with a clean one.
   */
  tainted: boolean;
  /** The turn's author as its message row has it (recordUserMessage, verifyToolCallRequest; null: none). */
  turnAuthor: string | null;
}

const Row = z.object({
  existing: z.object({ sessionId: z.string(), turnId: z.string(), toolUseId: z.string() }).nullable(),
  session: SessionRecordRow.nullable(),
  paused: z.boolean().nullable(),
  grant: z
    .object({
      requested: z.string(),
      id: z.string().nullable(),
      clientId: z.string().nullable(),
      clientName: z.string().nullable(),
      orgIds: z.array(z.string()).nullable(),
      scopes: z.array(z.string()).nullable(),
      revokedAt: z.string().nullable(),
    })
    .nullable(),
  tainted: z.boolean(),
  turnAuthor: z.string().nullable(),
});

export async function readAuthorization(pool: Pool, q: { invocationId: string; sessionId: string; orgId: string; turnId: string }): Promise<AuthorizationRecord> {
  const uuidOrNull = (id: string) => (Uuid.safeParse(id).success ? id : null);
  const { rows } = await pool.query({
    name: 'authorize-record.read',
    text: `SELECT
             (SELECT json_build_object('sessionId', t."sessionId", 'turnId', t."turnId", 'toolUseId', t."toolUseId") FROM "ToolInvocation" t WHERE t."id" = $1) AS "existing",
             ${sessionRecordSql('$2::uuid')} AS "session",
             (SELECT o."copilotPausedAt" IS NOT NULL FROM "Organization" o WHERE o."id" = $3::uuid) AS "paused",
             (SELECT CASE WHEN w."oauthGrantId" IS NULL THEN NULL
                          ELSE json_build_object('requested', w."oauthGrantId", 'id', g."id", 'clientId', g."clientId", 'clientName', c."name",
                                                 'orgIds', g."orgIds", 'scopes', g."scopes", 'revokedAt', g."revokedAt") END
              FROM (SELECT r."oauthGrantId" FROM "WorkflowRequest" r WHERE r."sessionId" = $2::uuid AND r."usedFor" = $4 AND r."kind" = 'tool_call' LIMIT 1) w
              LEFT JOIN "OAuthGrant" g ON g."id" = w."oauthGrantId" LEFT JOIN "OAuthClient" c ON c."id" = g."clientId") AS "grant",
             EXISTS (SELECT 1 FROM "AuditEvent" f WHERE f."sessionId" = $2::uuid AND f."action" = 'injection.flagged_output'
                       AND NOT EXISTS (SELECT 1 FROM "AuditEvent" a WHERE a."sessionId" = $2::uuid AND a."action" = 'approval.approved' AND a."id" > f."id")) AS "tainted",
             (SELECT m."userId"::text FROM "Message" m WHERE m."id" = $5 AND m."sessionId" = $2::uuid AND m."role" = 'user') AS "turnAuthor"`,
    values: [q.invocationId, uuidOrNull(q.sessionId), uuidOrNull(q.orgId), q.turnId, userMessageId(q.sessionId, q.turnId)],
  });
  const row = Row.parse(rows[0]);
  const g = row.grant;
  return {
    existing: row.existing,
    session: row.session,
    paused: row.paused,
    tainted: row.tainted,
    turnAuthor: row.turnAuthor,
    // A grant named but gone is treated as revoked: fail closed (as grantOfTurn).
    grant: g && (g.id === null ? { id: g.requested, clientId: '', clientName: 'unknown', orgIds: [], scopes: [], revoked: true } : { id: g.id, clientId: g.clientId ?? '', clientName: g.clientName ?? 'unknown', orgIds: g.orgIds ?? [], scopes: g.scopes ?? [], revoked: g.revokedAt !== null }),
  };
}

/**
 * The org's kill switch and the requester's sites through their bindings with one of `roles` in it (null: the whole
 * org; []: none), read together at the point of the decision where both are checked. Throws when the org is not there.
 */
export async function readRequesterReach(pool: Pool, q: { orgId: string; userId: string; roles: readonly string[] }): Promise<{ paused: boolean; bindings: { siteIds: string[] }[] }> {
  const { rows } = await pool.query({
    name: 'authorize-record.reach',
    text: `SELECT o."copilotPausedAt" IS NOT NULL AS "paused",
                  (SELECT coalesce(json_agg(json_build_object('siteIds', rb."siteIds")), '[]'::json)
                   FROM "RoleBinding" rb WHERE rb."userId" = $2::uuid AND rb."orgId" = o."id" AND rb."role" = ANY($3::text[])) AS "bindings"
           FROM "Organization" o WHERE o."id" = $1::uuid`,
    values: [q.orgId, Uuid.safeParse(q.userId).success ? q.userId : null, [...q.roles]],
  });
  if (!rows[0]) throw new Error('the organization of the session cannot be found');
  return Reach.parse(rows[0]);
}

const Reach = z.object({ paused: z.boolean(), bindings: z.array(z.object({ siteIds: z.array(z.string()) })) });

/** The invocation's row as authorization decided it (JSON columns as JSON text; null where there is none). */
export interface DecisionRow {
  toolName: string;
  input: string;
  tier: number | null;
  decision: string;
  status: string;
  summary: string | null;
  execution: string | null;
  digest: string | null;
  siteIds: string[];
  policyVersion: number | null;
  policyInputs: string | null;
  standingRuleId: string | null;
}

/**
 * The decision recorded, in one statement: the invocation's row written (or, on a retry, rewritten: the row under
 * this id was read to be this call's), its audit event appended to the org's chain (the chain's trigger takes the
 * org's lock as for any event, for this statement's transaction) and the console told, at commit. Each only with
 * the others: the three were an upsert, then the event and the notice side by side (two round trips after the
 * upsert's, the event's through Prisma).
 */
export async function recordDecision(
  pool: Pool,
  q: { invocationId: string; sessionId: string; orgId: string; turnId: string; toolUseId: string; row: DecisionRow; audit: { action: AuditAction; data: Record<string, unknown> }; event: SessionEvent },
): Promise<void> {
  const r = q.row;
  const { rows } = await pool.query<{ written: number; audited: number; told: number }>({
    name: 'authorize-record.decision',
    text: `WITH inv AS (INSERT INTO "ToolInvocation" ("id", "sessionId", "orgId", "turnId", "toolUseId", "toolName", "input", "tier", "decision", "status", "summary",
                                                  "execution", "digest", "siteIds", "policyVersion", "policyInputs", "standingRuleId", "createdAt")
                         VALUES ($1, $2::uuid, $3::uuid, $4, $5, $6, $7::jsonb, $8::int, $9, $10, $11, $12::jsonb, $13, $14::uuid[], $15::int, $16::jsonb, $17::uuid,
                                 now() AT TIME ZONE 'UTC')
                         ON CONFLICT ("id") DO UPDATE SET "toolName" = EXCLUDED."toolName", "input" = EXCLUDED."input", "tier" = EXCLUDED."tier",
                           "decision" = EXCLUDED."decision", "status" = EXCLUDED."status", "summary" = EXCLUDED."summary", "execution" = EXCLUDED."execution",
                           "digest" = EXCLUDED."digest", "siteIds" = EXCLUDED."siteIds", "policyVersion" = EXCLUDED."policyVersion",
                           "policyInputs" = EXCLUDED."policyInputs", "standingRuleId" = EXCLUDED."standingRuleId"
                         RETURNING "id"),
                a AS (INSERT INTO "AuditEvent" ("orgId", "actorType", "actorId", "action", "target", "sessionId", "data", "createdAt")
                      SELECT $3::uuid, 'model', $2, $18, $6, $2::uuid, $19::jsonb, now() AT TIME ZONE 'UTC' FROM inv RETURNING 1),
                n AS (SELECT pg_notify($20, $21) FROM inv)
           SELECT (SELECT count(*) FROM inv)::int AS "written", (SELECT count(*) FROM a)::int AS "audited", (SELECT count(*) FROM n)::int AS "told"`,
    values: [
      q.invocationId, q.sessionId, q.orgId, q.turnId, q.toolUseId, r.toolName, r.input, r.tier, r.decision, r.status, r.summary,
      r.execution, r.digest, r.siteIds, r.policyVersion, r.policyInputs, r.standingRuleId,
      q.audit.action, JSON.stringify(q.audit.data), Channel.SessionEvents, sessionEventPayload(q.event),
    ],
  });
  const done = rows[0];
  if (!done || done.written !== 1 || done.audited !== 1 || done.told !== 1) throw new Error(`the decision on tool invocation ${q.invocationId} was not recorded`);
}
