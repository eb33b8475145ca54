/**
 * The busiest statements on `DeviceCommand`, in plain SQL through `pg`: each runs once per device, or once per batch
 * of devices, of every remediation. Through Prisma each would cost its query compiler about a millisecond of CPU,
 * more than the statement itself; here they are prepared once per connection and cost PostgreSQL's time only.
 * Everything else about commands (the sweep, reads) goes through Prisma as usual; what a reconnecting fleet reads is here.
 *
 * Prisma stores `DateTime` as `timestamp(3)` in UTC: timestamps are written as `now() AT TIME ZONE 'UTC'` (or a
 * given instant converted so) and read back `AT TIME ZONE 'UTC'`, which makes them `timestamptz` for `pg`.
 */
import type { Pool } from 'pg';
import type { CommandOutcome } from '../common/session';
import { UNFINISHED_COMMAND } from '../common/session';
import { Channel, COMMANDS_PER_NOTE, type CommandsNote } from './pg-events';

/** What sending a command to its agent needs. */
export interface Deliverable {
  id: string;
  deviceId: string;
  kind: string;
  params: unknown;
  expiresAt: Date;
  /** Signed into the command: the agent refuses a T3/T4 command without the digest of its approval. */
  approvalDigest: string | null;
  /** The trace the command belongs to (lib/tracing.ts), or null. */
  traceparent: string | null;
}

/** What telling the waiting workflow of a command's result needs. */
export interface Reportable {
  id: string;
  deviceId: string;
  status: string;
  reportTo: string;
  reportedAt: Date | null;
  invocationId: string;
}

/** One of the devices a batch names that is offline now: its name and when it was last seen. */
export interface OfflineDevice {
  id: string;
  name: string;
  lastSeenAt: Date | null;
}

/** One command per device, as a tool call (a session's or its remediation's) queues them. */
export interface CommandBatch {
  orgId: string;
  kind: string;
  params: Record<string, unknown>;
  /** The workflow to tell of each result, with the `commandResults` signal. */
  reportTo: string;
  /** Each command id is made in the workflow: the same on every retry, so each command exists (and runs) once. */
  commands: { commandId: string; deviceId: string }[];
}

export interface NewCommands extends CommandBatch {
  /** The tool invocation and approval digest the command authority verified for the batch. */
  invocationId: string;
  approvalDigest: string | null;
  /** Pending until this instant; or, when refused before it was ever sent, already settled with this error code. */
  state: { status: 'pending'; expiresAt: Date } | { status: 'failed'; errorCode: string };
  /** The trace of the activity that queues them, for the gateway and the agent to join; null when tracing is off. */
  traceparent?: string | null;
}

/** Inserts the commands that do not exist yet (a retried batch keeps the rows it made before); how many were new. */
export async function insertCommands(pool: Pool, c: NewCommands): Promise<number> {
  const expiresAt = c.state.status === 'pending' ? c.state.expiresAt.toISOString() : null;
  const { rowCount } = await pool.query({
    name: 'device-commands.insert',
    text: `INSERT INTO "DeviceCommand" ("id", "orgId", "deviceId", "invocationId", "approvalDigest", "kind", "params", "reportTo", "status", "errorCode", "createdAt", "expiresAt", "completedAt", "reportedAt", "traceparent")
           SELECT c."id", $3::uuid, c."deviceId", $10, $11, $4, $5::jsonb, $6, $7, $8, now() AT TIME ZONE 'UTC',
                  COALESCE($9::timestamptz, now()) AT TIME ZONE 'UTC',
                  CASE WHEN $9::timestamptz IS NULL THEN now() AT TIME ZONE 'UTC' END,
                  CASE WHEN $9::timestamptz IS NULL THEN now() AT TIME ZONE 'UTC' END,
                  $12
           FROM unnest($1::text[], $2::uuid[]) AS c("id", "deviceId")
           ON CONFLICT ("id") DO NOTHING`,
    values: [
      c.commands.map((x) => x.commandId),
      c.commands.map((x) => x.deviceId),
      c.orgId,
      c.kind,
      JSON.stringify(c.params),
      c.reportTo,
      c.state.status,
      c.state.status === 'failed' ? c.state.errorCode : null,
      expiresAt,
      c.invocationId,
      c.approvalDigest,
      c.traceparent ?? null,
    ],
  });
  return rowCount ?? 0;
}

/** The status of each of these commands (a retried batch finds what became of the rows it made before). */
export async function statusesOf(pool: Pool, ids: string[]): Promise<{ id: string; deviceId: string; status: string }[]> {
  const { rows } = await pool.query<{ id: string; deviceId: string; status: string }>({
    name: 'device-commands.statuses',
    text: `SELECT "id", "deviceId"::text AS "deviceId", "status" FROM "DeviceCommand" WHERE "id" = ANY($1::text[])`,
    values: [ids],
  });
  return rows;
}

/** Tells every api node which commands wait for which devices, a few dozen per notification (8000 bytes at most). */
export async function announceCommands(pool: Pool, commands: CommandsNote['commands']): Promise<void> {
  const notes: string[] = [];
  for (let i = 0; i < commands.length; i += COMMANDS_PER_NOTE) {
    notes.push(JSON.stringify({ commands: commands.slice(i, i + COMMANDS_PER_NOTE) } satisfies CommandsNote));
  }
  if (!notes.length) return;
  await pool.query({ name: 'device-commands.announce', text: `SELECT pg_notify($1, note) FROM unnest($2::text[]) AS note`, values: [Channel.Commands, notes] });
}

/**
 * The kill switch, inside every delivery statement: nothing is sent for an org whose copilot is paused. Checked in
 * the same statement that takes the command, so a pause committed before it means the command is never sent; a
 * command taken just before the pause commits was sent, and the agent may run it.
 */
const ORG_NOT_PAUSED = `NOT EXISTS (SELECT 1 FROM "Organization" o WHERE o."id" = "DeviceCommand"."orgId" AND o."copilotPausedAt" IS NOT NULL)`;

/** Takes the still-pending, unexpired ones of these commands for delivery: marked delivered, in one statement. */
export async function takeForDelivery(pool: Pool, ids: string[]): Promise<Deliverable[]> {
  const { rows } = await pool.query<Deliverable>({
    name: 'device-commands.take-for-delivery',
    text: `UPDATE "DeviceCommand" SET "status" = 'delivered', "deliveredAt" = now() AT TIME ZONE 'UTC'
           WHERE "id" = ANY($1::text[]) AND "status" = 'pending' AND "expiresAt" > now() AT TIME ZONE 'UTC'
             AND ${ORG_NOT_PAUSED}
           RETURNING "id", "deviceId"::text AS "deviceId", "kind", "params", "approvalDigest", "traceparent", "expiresAt" AT TIME ZONE 'UTC' AS "expiresAt"`,
    values: [ids],
  });
  return rows;
}

/**
 * Pending, unexpired commands of these devices queued more than `olderThanMs` ago: their announcement was lost.
 * Asked every few seconds with every device connected to an api node, thousands of ids: one array parameter.
 */
export async function stalePending(pool: Pool, deviceIds: string[], olderThanMs: number, limit: number): Promise<(Deliverable & { status: string })[]> {
  const { rows } = await pool.query<Deliverable & { status: string }>({
    name: 'device-commands.stale-pending',
    text: `SELECT "id", "deviceId"::text AS "deviceId", "kind", "params", "approvalDigest", "traceparent", "status", "expiresAt" AT TIME ZONE 'UTC' AS "expiresAt"
           FROM "DeviceCommand"
           WHERE "deviceId" = ANY($1::uuid[]) AND "status" = 'pending' AND "expiresAt" > now() AT TIME ZONE 'UTC'
             AND ${ORG_NOT_PAUSED}
             AND "createdAt" < (now() - make_interval(secs => $2::float8 / 1000)) AT TIME ZONE 'UTC'
           ORDER BY "createdAt" LIMIT $3`,
    values: [deviceIds, olderThanMs, limit],
  });
  return rows;
}

/**
 * The unfinished (pending or delivered), unexpired commands of these devices, oldest first: what each gets again when
 * it connects (a delivered one it may never have received). None of a paused org's (the kill switch holds on
 * reconnect too: a resend would run one the agent never received). One statement for a batch of devices
 * (api/gateway/fleet-batches.ts).
 */
export async function queuedFor(pool: Pool, deviceIds: readonly string[]): Promise<(Deliverable & { status: string })[]> {
  const { rows } = await pool.query<Deliverable & { status: string }>({
    name: 'device-commands.queued-for',
    text: `SELECT "id", "deviceId"::text AS "deviceId", "kind", "params", "approvalDigest", "traceparent", "status", "expiresAt" AT TIME ZONE 'UTC' AS "expiresAt"
           FROM "DeviceCommand"
           WHERE "deviceId" = ANY($1::uuid[]) AND "status" = ANY($2::text[]) AND "expiresAt" > now() AT TIME ZONE 'UTC'
             AND ${ORG_NOT_PAUSED}
           ORDER BY "createdAt"`,
    values: [deviceIds, UNFINISHED_COMMAND],
  });
  return rows;
}

/**
 * Ends the paused orgs' commands that were never sent (pending): failed with `PAUSED`, completed now, so the
 * waiting workflow is told (by the sweep) and the step says the kill switch stopped it. Commands
 * already delivered are left as they are: the agent may have run them, and its result is still recorded.
 * Every paused org when `orgId` is omitted (the sweep catches a command queued while the pause was committing).
 */
export async function endPausedCommands(pool: Pool, orgId?: string): Promise<{ id: string; orgId: string }[]> {
  const { rows } = await pool.query<{ id: string; orgId: string }>({
    name: 'device-commands.end-paused',
    text: `UPDATE "DeviceCommand" SET "status" = 'failed', "errorCode" = 'PAUSED', "completedAt" = now() AT TIME ZONE 'UTC'
           WHERE "status" = 'pending' AND ($1::uuid IS NULL OR "orgId" = $1::uuid) AND NOT (${ORG_NOT_PAUSED})
           RETURNING "id", "orgId"::text AS "orgId"`,
    values: [orgId ?? null],
  });
  return rows;
}

/**
 * The kill switch: pauses the org and ends its commands still waiting for their device as `PAUSED`, in one
 * statement. Until it commits nobody sees the pause, and by then its commands are ended: the sweep (which ends a
 * paused org's pending commands too) can never take them first, so what the pause ended is known and audited with
 * it. Commands already delivered are left as they are (see endPausedCommands).
 */
export async function pauseOrgEndingCommands(pool: Pool, orgId: string, by: string): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>({
    name: 'device-commands.pause-org',
    text: `WITH paused AS (
             UPDATE "Organization" SET "copilotPausedAt" = now() AT TIME ZONE 'UTC', "copilotPausedBy" = $2::uuid
             WHERE "id" = $1::uuid RETURNING "id")
           UPDATE "DeviceCommand" SET "status" = 'failed', "errorCode" = 'PAUSED', "completedAt" = now() AT TIME ZONE 'UTC'
           WHERE "orgId" = (SELECT "id" FROM paused) AND "status" = 'pending'
           RETURNING "id"`,
    values: [orgId, by],
  });
  return rows.map((r) => r.id);
}

/** A person's cancel of a command still waiting for its device: ended unsent (CANCELLED) if it was still pending. */
export async function cancelPending(pool: Pool, id: string): Promise<boolean> {
  const { rowCount } = await pool.query({
    name: 'device-commands.cancel-pending',
    text: `UPDATE "DeviceCommand" SET "status" = 'failed', "errorCode" = 'CANCELLED', "completedAt" = now() AT TIME ZONE 'UTC'
           WHERE "id" = $1 AND "status" = 'pending'`,
    values: [id],
  });
  return rowCount === 1;
}

export interface ResultToRecord {
  commandId: string;
  /** Only the device the command was sent to may record its result. */
  deviceId: string;
  status: CommandOutcome;
  /** JSON text of the output, or null. */
  output: string | null;
  errorCode: string | null;
  startedAt: string;
  finishedAt: string;
}

/** Records a result if the command is this device's and unfinished; the row as written, or undefined if not. */
/** A result just recorded: what reporting it needs, and its kind and time from queued to done for the metrics. */
export interface RecordedResult extends Reportable {
  kind: string;
  seconds: number;
}

export async function recordResult(pool: Pool, r: ResultToRecord): Promise<RecordedResult | undefined> {
  const { rows } = await pool.query<RecordedResult>({
    name: 'device-commands.record-result',
    text: `UPDATE "DeviceCommand"
           SET "status" = $3, "result" = $4::jsonb, "errorCode" = $5,
               "startedAt" = $6::timestamptz AT TIME ZONE 'UTC', "finishedAt" = $7::timestamptz AT TIME ZONE 'UTC',
               "completedAt" = now() AT TIME ZONE 'UTC'
           WHERE "id" = $1 AND "deviceId" = $2::uuid AND "status" = ANY($8::text[])
           RETURNING "id", "deviceId"::text AS "deviceId", "status", "reportTo", "reportedAt" AT TIME ZONE 'UTC' AS "reportedAt", "invocationId",
                     "kind", EXTRACT(EPOCH FROM ("completedAt" - "createdAt"))::float8 AS "seconds"`,
    values: [r.commandId, r.deviceId, r.status, r.output, r.errorCode, r.startedAt, r.finishedAt, UNFINISHED_COMMAND],
  });
  return rows[0];
}

/** The waiting workflow has been told of these results. */
export async function markReported(pool: Pool, ids: string[]): Promise<void> {
  await pool.query({
    name: 'device-commands.mark-reported',
    text: `UPDATE "DeviceCommand" SET "reportedAt" = now() AT TIME ZONE 'UTC' WHERE "id" = ANY($1::text[]) AND "reportedAt" IS NULL`,
    values: [ids],
  });
}
