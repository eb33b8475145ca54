/**
 * What authorization reads before it decides (activities/authorize-tool-call.ts), in one statement through `pg`: a row
 * already under the call's invocation id, the session with what its breaker counts (activities/session-record.ts),
 * the claimed org's kill switch, and the OAuth grant the turn came through. Through Prisma these were six round trips
 * or more, one after the other; the checks made of them are the same, on one snapshot.
 */
import type { Pool } from 'pg';
import { z } from 'zod';
import { Uuid } from '../common/ids';
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
              LEFT JOIN "OAuthGrant" g ON g."id" = w."oauthGrantId" LEFT JOIN "OAuthClient" c ON c."id" = g."clientId") AS "grant"`,
    values: [q.invocationId, uuidOrNull(q.sessionId), uuidOrNull(q.orgId), q.turnId],
  });
  const row = Row.parse(rows[0]);
  const g = row.grant;
  return {
    existing: row.existing,
    session: row.session,
    paused: row.paused,
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
