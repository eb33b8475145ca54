/**
 * What the command authority and the session check read before a batch of device commands is made
 * (activities/queue-device-commands.ts), in one statement through `pg`, as the per-command statements are
 * (lib/device-commands.ts): the tool call's record (its org, decision, digest, execution), its approval and the OAuth
 * grant it came through, its session with what the breaker counts (the org's policy head, the approvals since the
 * last reset), and the batch's org (its kill switch) and devices (owned, offline). Through Prisma these were eight
 * round trips or more; the checks made of them are the same, on one snapshot.
 *
 * Prisma stores `DateTime` as `timestamp(3)` in UTC: read `AT TIME ZONE 'UTC'`.
 */
import type { Pool } from 'pg';
import { z } from 'zod';
import { Uuid } from '../common/ids';
import type { OfflineDevice } from '../lib/device-commands';
import { SessionRecordRow, sessionRecordSql, Stamp, type SessionRecord } from './session-record';

/** The tool call's record, as the command authority reads it. */
export interface InvocationRecord {
  orgId: string;
  decision: string;
  digest: string | null;
  execution: unknown;
  sessionId: string;
  turnId: string;
  toolName: string;
  input: unknown;
  toolUseId: string;
}

/** The call's approval (by its invocation id) as approvalOf checks it, and the OAuth grant of its turn (null: none). */
export interface ApprovalRead {
  approval: { status: string; digest: string; channel: string | null; standingRuleId: string | null; orgId: string } | null;
  grant: { revoked: boolean; clientName: string } | null;
}

export interface CommandRecord {
  /** Null: no tool call has this id. */
  invocation: (InvocationRecord & ApprovalRead) | null;
  /** The call's session; null when it has none (or there is no call). */
  session: SessionRecord | null;
  /** The batch's org (null: none with that id): paused, and whether it owns every device; which of them are offline. */
  org: { paused: boolean; ownsAll: boolean; offline: OfflineDevice[] } | null;
}

const Row = z.object({
  invocation: z
    .object({
      orgId: z.string(),
      decision: z.string(),
      digest: z.string().nullable(),
      execution: z.json().nullable(),
      sessionId: z.string(),
      turnId: z.string(),
      toolName: z.string(),
      input: z.json(),
      toolUseId: z.string(),
      approval: z.object({ status: z.string(), digest: z.string(), channel: z.string().nullable(), standingRuleId: z.string().nullable(), orgId: z.string() }).nullable(),
      grant: z.object({ revoked: z.boolean(), clientName: z.string() }).nullable(),
    })
    .nullable(),
  session: SessionRecordRow.nullable(),
  org: z
    .object({
      paused: z.boolean(),
      owned: z.number().int(),
      offline: z.array(z.object({ id: z.string(), name: z.string(), lastSeenAt: Stamp.nullable() })),
    })
    .nullable(),
});

/**
 * The statement's parts, with its three parameters named by the caller (a statement that reads the record with
 * other rows numbers them its own way): the tool call's id, the batch's org (a UUID or NULL) and its devices (uuid[]).
 * `with` is the CTE the columns read the call from; `columns` are "invocation", "session" and "org".
 */
export function commandRecordSql(p: { invocationId: string; orgId: string; deviceIds: string }): { with: string; columns: string } {
  return {
    with: `i AS (SELECT * FROM "ToolInvocation" WHERE "id" = ${p.invocationId})`,
    columns: `(SELECT json_build_object(
                'orgId', i."orgId", 'decision', i."decision", 'digest', i."digest", 'execution', i."execution", 'sessionId', i."sessionId",
                'turnId', i."turnId", 'toolName', i."toolName", 'input', i."input", 'toolUseId', i."toolUseId",
                'approval', (SELECT json_build_object('status', a."status", 'digest', a."digest", 'channel', a."channel", 'standingRuleId', a."standingRuleId", 'orgId', a."orgId")
                             FROM "Approval" a WHERE a."invocationId" = i."id"),
                'grant', (SELECT CASE WHEN w."oauthGrantId" IS NULL THEN NULL
                                      ELSE json_build_object('revoked', g."id" IS NULL OR g."revokedAt" IS NOT NULL, 'clientName', coalesce(c."name", 'unknown')) END
                          FROM (SELECT r."oauthGrantId" FROM "WorkflowRequest" r
                                WHERE r."sessionId" = i."sessionId" AND r."usedFor" = i."turnId" AND r."kind" = 'tool_call' LIMIT 1) w
                          LEFT JOIN "OAuthGrant" g ON g."id" = w."oauthGrantId" LEFT JOIN "OAuthClient" c ON c."id" = g."clientId"))
              FROM i) AS "invocation",
             ${sessionRecordSql('(SELECT "sessionId" FROM i)')} AS "session",
             (SELECT json_build_object(
                'paused', o."copilotPausedAt" IS NOT NULL,
                'owned', (SELECT count(*) FROM "Device" d WHERE d."id" = ANY(${p.deviceIds}) AND d."orgId" = o."id"),
                'offline', (SELECT coalesce(json_agg(json_build_object('id', d."id", 'name', d."name", 'lastSeenAt', d."lastSeenAt" AT TIME ZONE 'UTC')), '[]'::json)
                            FROM "Device" d WHERE d."id" = ANY(${p.deviceIds}) AND d."orgId" = o."id" AND NOT d."online"))
              FROM "Organization" o WHERE o."id" = ${p.orgId}) AS "org"`,
  };
}

const isUuid = (id: string) => Uuid.safeParse(id).success;

/** The parameter values of `commandRecordSql`, in its order: ids that are not UUIDs name nothing. */
export function commandRecordValues(q: { invocationId: string; orgId: string; deviceIds: string[] }): [string, string | null, string[]] {
  return [q.invocationId, isUuid(q.orgId) ? q.orgId : null, [...new Set(q.deviceIds.filter(isUuid))]];
}

/** The record, from the columns of `commandRecordSql` read for `q`. */
export function commandRecordFrom(columns: unknown, q: { deviceIds: string[] }): CommandRecord {
  const row = Row.parse(columns);
  const ids = new Set(q.deviceIds);
  return {
    invocation: row.invocation,
    session: row.session,
    // Every device named must be the org's: a name that is no UUID is none of its devices.
    org: row.org && { paused: row.org.paused, ownsAll: row.org.owned === ids.size && [...ids].every(isUuid), offline: row.org.offline },
  };
}

const recordSql = commandRecordSql({ invocationId: '$1', orgId: '$2::uuid', deviceIds: '$3::uuid[]' });

/**
 * The record of tool call `invocationId` for a batch of `orgId` on `deviceIds`. Ids that are not UUIDs name nothing
 * (no org, no device) rather than failing the statement: the checks then refuse, with their own audit events.
 */
export async function readCommandRecord(pool: Pool, q: { invocationId: string; orgId: string; deviceIds: string[] }): Promise<CommandRecord> {
  const { rows } = await pool.query({
    name: 'command-record.read',
    text: `WITH ${recordSql.with}
           SELECT ${recordSql.columns}`,
    values: commandRecordValues(q),
  });
  return commandRecordFrom(rows[0], q);
}
