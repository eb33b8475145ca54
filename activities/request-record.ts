/**
 * What verifying a turn's request reads (activities/workflow-requests.ts), in one statement through `pg`: the
 * session, the api's request record, its author's roles in the org, and the request claimed for this turn when it is
 * this session's, of this kind and unused. Through Prisma these were six round trips, one after the other (the
 * session twice, the request, its claim, the author and the author's bindings); the checks made of them are the
 * same, in the same order, on one snapshot.
 *
 * The claim is made only where every condition the checks before it require holds in the database itself (the
 * session in the claimed org and known under the calling workflow's id; the request for that workflow, org and kind,
 * and unused), so a request is never claimed by a caller those checks refuse. A claim lost to another transaction
 * in the same instant reads as "not claimed, not used" here; the caller reads the row again (as `claim` always did).
 *
 * The requests read here start turns (a message, an MCP client's tool call): the claim also marks the session's turn
 * running (`CopilotSession.activeTurnId`, cleared when the workflow says the turn ended). The kill switch tells only
 * such sessions, and sessions with an approval waiting; an idle one meets the pause in the record when it next acts.
 * So that no turn falls between the two, the statement holds a share lock on the org's row until it commits: a pause
 * committed first is read here (`orgPaused`), and a pause committed after waits for the mark, and sees it when it
 * lists the sessions to tell (api/services/orgs.ts).
 */
import type { Pool } from 'pg';
import { z } from 'zod';
import { Uuid } from '../common/ids';

export interface RequestRecord {
  /** The session under the claimed id (null: none). */
  session: { id: string; orgId: string; workflowId: string; userId: string } | null;
  /** The request under the id (null: none, or the id is no uuid), as it was before this statement's claim. */
  request: { id: string; orgId: string; workflowId: string; kind: string; userId: string; text: string | null; toolName: string | null; toolInput: unknown; usedFor: string | null; used: boolean } | null;
  /** Claimed by this statement for `usedFor`. */
  claimed: boolean;
  /** The author's roles in the org (empty when the user is gone or disabled). */
  roles: Set<string>;
  /**
   * The org's kill switch, read under the share lock (true when the org is not found). Reading it is what takes the
   * lock; no caller decides from it (authorization reads the pause itself, at each tool call).
   */
  orgPaused: boolean;
}

const Row = z.object({
  session: z.object({ id: z.string(), orgId: z.string(), workflowId: z.string(), userId: z.string() }).nullable(),
  request: z
    .object({
      id: z.string(),
      orgId: z.string(),
      workflowId: z.string(),
      kind: z.string(),
      userId: z.string(),
      text: z.string().nullable(),
      toolName: z.string().nullable(),
      toolInput: z.unknown(),
      usedFor: z.string().nullable(),
      used: z.boolean(),
    })
    .nullable(),
  claimed: z.boolean(),
  author: z.object({ disabled: z.boolean(), roles: z.array(z.string()) }).nullable(),
  orgPaused: z.boolean().nullable(),
});

export async function readAndClaimRequest(
  pool: Pool,
  q: { sessionId: string; orgId: string; requestId: string; callingWorkflowId: string; kinds: readonly string[]; usedFor: string },
): Promise<RequestRecord> {
  const uuidOrNull = (id: string) => (Uuid.safeParse(id).success ? id : null);
  const { rows } = await pool.query({
    name: 'request-record.read-and-claim',
    text: `WITH s AS (SELECT "id", "orgId", "workflowId", "userId" FROM "CopilotSession" WHERE "id" = $1::uuid),
                r AS (SELECT * FROM "WorkflowRequest" WHERE "id" = $3::uuid),
                c AS (UPDATE "WorkflowRequest" w SET "usedAt" = now() AT TIME ZONE 'UTC', "usedFor" = $6
                      FROM s
                      WHERE w."id" = $3::uuid AND w."usedAt" IS NULL
                        AND s."orgId" = $2::uuid AND s."workflowId" = $4
                        AND w."workflowId" = s."workflowId" AND w."orgId" = $2::uuid AND w."kind" = ANY($5::text[])
                      RETURNING w."id"),
                o AS (SELECT "copilotPausedAt" IS NOT NULL AS "paused" FROM "Organization" WHERE "id" = $2::uuid FOR SHARE),
                t AS (UPDATE "CopilotSession" SET "activeTurnId" = $6 WHERE "id" = $1::uuid AND EXISTS (SELECT 1 FROM c) RETURNING "id")
           SELECT (SELECT json_build_object('id', s."id", 'orgId', s."orgId", 'workflowId', s."workflowId", 'userId', s."userId") FROM s) AS "session",
                  (SELECT json_build_object('id', r."id", 'orgId', r."orgId", 'workflowId', r."workflowId", 'kind', r."kind", 'userId', r."userId", 'text', r."text",
                                            'toolName', r."toolName", 'toolInput', r."toolInput", 'usedFor', r."usedFor", 'used', r."usedAt" IS NOT NULL) FROM r) AS "request",
                  EXISTS (SELECT 1 FROM c) AS "claimed",
                  (SELECT json_build_object('disabled', u."disabledAt" IS NOT NULL,
                                            'roles', (SELECT coalesce(json_agg(b."role"), '[]'::json) FROM "RoleBinding" b WHERE b."userId" = u."id" AND b."orgId" = $2::uuid))
                   FROM "User" u WHERE u."id" = (SELECT r."userId" FROM r)) AS "author",
                  (SELECT o."paused" FROM o) AS "orgPaused"`,
    values: [uuidOrNull(q.sessionId), uuidOrNull(q.orgId), uuidOrNull(q.requestId), q.callingWorkflowId, [...q.kinds], q.usedFor],
  });
  const row = Row.parse(rows[0]);
  return {
    session: row.session,
    request: row.request,
    claimed: row.claimed,
    roles: row.author && !row.author.disabled ? new Set(row.author.roles) : new Set(),
    orgPaused: row.orgPaused ?? true,
  };
}
