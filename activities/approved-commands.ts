/**
 * What verifying an approval and queueing the commands it approves read and write when they run as one step
 * (activities/approvals.ts `verifyDecisionAndQueue`), one statement each through `pg`: the approval with what its
 * checks read (activities/decision-record.ts) and the batch's record as the command authority and the session check
 * read it (activities/command-record.ts), in one snapshot; then the decision recorded (the invocation running, the
 * approval delivered and recorded, the console told) with the batch's rows and their announcement, all or none.
 * The checks between the two are the same code as when they were two steps, deciding from the same rows.
 *
 * Prisma stores `DateTime` as `timestamp(3)` in UTC: written as `now() AT TIME ZONE 'UTC'`, read `AT TIME ZONE 'UTC'`.
 */
import type { Pool } from 'pg';
import { Uuid } from '../common/ids';
import { APPROVER_ROLE } from '../lib/approval-authority';
import { Channel, COMMANDS_PER_NOTE } from '../lib/pg-events';
import { sessionEventPayload, type SessionEvent } from '../lib/session-events';
import type { CommandRecordQuery } from './command-authority';
import { commandRecordFrom, commandRecordSql, commandRecordValues, type CommandRecord } from './command-record';
import { decisionFrom, decisionSql, type DecisionContext, type RecordedApproval } from './decision-record';
import type { CheckedBatch } from './queue-device-commands';

const record = commandRecordSql({ invocationId: '$3', orgId: '$4::uuid', deviceIds: '$5::uuid[]' });

/**
 * The approval (null: none with that id) with what its checks read, and the record of the batch `query` names (null
 * when the batch names no single tool call: the command authority then refuses it without a record), in one statement.
 */
export async function readDecisionAndBatch(
  pool: Pool,
  approvalId: string,
  query: CommandRecordQuery | null,
): Promise<{ decision: { approval: RecordedApproval; context: DecisionContext } | null; record: CommandRecord | null }> {
  const { rows } = await pool.query({
    name: 'approved-commands.read',
    // The approval's columns as one JSON object (its own "session" apart from the batch's); NULL when there is none.
    text: `WITH ${record.with}
           SELECT (SELECT to_json(x) FROM (${decisionSql({ approvalId: '$1::uuid', role: '$2' })}) x) AS "decision",
                  ${record.columns}`,
    values: [Uuid.safeParse(approvalId).success ? approvalId : null, APPROVER_ROLE, ...commandRecordValues(query ?? { invocationId: '', orgId: '', deviceIds: [] })],
  });
  const row = rows[0] as { decision: unknown };
  return { decision: decisionFrom(row.decision), record: query ? commandRecordFrom(row, query) : null };
}

/**
 * A verified approval and the commands it lets through, in one statement: the invocation running, the approval
 * delivered and recorded (first times kept), the console told, then each command's row unless it exists (a retry
 * keeps the rows it made before), and every one of them still pending announced to the api nodes. Nothing is written
 * but the invocation's status when the approval is gone, nothing at all when the invocation is (throws then, as
 * `recordVerifiedDecision` does: a retry reads again). Returns how many rows are new, and every command as it now is.
 */
export async function recordApprovedBatch(
  pool: Pool,
  d: { approvalId: string; invocationId: string; event: SessionEvent; checked: CheckedBatch },
): Promise<{ created: number; rows: { id: string; deviceId: string; status: string }[] }> {
  const { batch, queued, answeredNow, state } = d.checked;
  // Each command's state: the batch's (pending, or refused for a pause), a live read of an offline device answered now.
  const commands = [
    ...queued.map((c) => ({ ...c, status: state.status as string, errorCode: state.status === 'failed' ? state.errorCode : null })),
    ...answeredNow.map((c) => ({ ...c, status: 'failed', errorCode: 'DEVICE_OFFLINE' })),
  ];
  const { rows } = await pool.query<{ invocations: number; approvals: number; created: number; rows: { id: string; deviceId: string; status: string }[] }>({
    name: 'approved-commands.record',
    text: `WITH i AS (
             UPDATE "ToolInvocation" SET "status" = 'running' WHERE "id" = $2 RETURNING 1),
           a AS (
             UPDATE "Approval"
             SET "signaledAt" = coalesce("signaledAt", now() AT TIME ZONE 'UTC'), "recordedAt" = coalesce("recordedAt", now() AT TIME ZONE 'UTC')
             WHERE "id" = $1::uuid AND EXISTS (SELECT 1 FROM i) RETURNING 1),
           c AS (
             INSERT INTO "DeviceCommand" ("id", "orgId", "deviceId", "invocationId", "approvalDigest", "kind", "params", "reportTo", "status", "errorCode", "createdAt", "expiresAt", "completedAt", "reportedAt", "traceparent")
             SELECT c."id", $5::uuid, c."deviceId", $6, $7, $8, $9::jsonb, $10, c."status", c."errorCode", now() AT TIME ZONE 'UTC',
                    (CASE WHEN c."status" = 'pending' THEN $11::timestamptz ELSE now() END) AT TIME ZONE 'UTC',
                    CASE WHEN c."status" <> 'pending' THEN now() AT TIME ZONE 'UTC' END,
                    CASE WHEN c."status" <> 'pending' THEN now() AT TIME ZONE 'UTC' END,
                    $12
             FROM unnest($13::text[], $14::uuid[], $15::text[], $16::text[]) AS c("id", "deviceId", "status", "errorCode")
             WHERE EXISTS (SELECT 1 FROM a)
             ON CONFLICT ("id") DO NOTHING
             RETURNING "id", "deviceId"::text AS "deviceId", "status"),
           -- The new rows, and those an earlier attempt made (the statement's snapshot shows only those).
           r AS (
             SELECT "id", "deviceId", "status" FROM c
             UNION ALL
             SELECT d."id", d."deviceId"::text, d."status" FROM "DeviceCommand" d WHERE d."id" = ANY($13::text[]) AND EXISTS (SELECT 1 FROM a)),
           p AS (
             SELECT "id", "deviceId", (row_number() OVER (ORDER BY "id") - 1) / ${COMMANDS_PER_NOTE} AS "note" FROM r WHERE "status" = 'pending')
           SELECT (SELECT count(*)::int FROM i) AS "invocations", (SELECT count(*)::int FROM a) AS "approvals", (SELECT count(*)::int FROM c) AS "created",
                  (SELECT coalesce(json_agg(json_build_object('id', "id", 'deviceId', "deviceId", 'status', "status")), '[]'::json) FROM r) AS "rows",
                  (SELECT pg_notify($3, $4)::text FROM a) AS "told",
                  (SELECT count(n."sent") FROM (SELECT pg_notify($17, json_build_object('commands', json_agg(json_build_object('commandId', "id", 'deviceId', "deviceId")))::text)::text AS "sent"
                                                FROM p GROUP BY "note") n) AS "announced"`,
    values: [
      d.approvalId,
      d.invocationId,
      Channel.SessionEvents,
      sessionEventPayload(d.event),
      batch.orgId,
      batch.invocationId,
      batch.approvalDigest,
      batch.kind,
      JSON.stringify(batch.params),
      batch.reportTo,
      state.status === 'pending' ? state.expiresAt.toISOString() : null,
      batch.traceparent ?? null,
      commands.map((c) => c.commandId),
      commands.map((c) => c.deviceId),
      commands.map((c) => c.status),
      commands.map((c) => c.errorCode),
      Channel.Commands,
    ],
  });
  const row = rows[0];
  if (row?.invocations !== 1 || row.approvals !== 1) throw new Error(`the decision of approval ${d.approvalId} could not be recorded (its invocation or approval is gone)`);
  return { created: row.created, rows: row.rows };
}
