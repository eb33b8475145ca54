/**
 * The operations of a copilot session, one each. Writes: start one (its row and its workflow), send it a message
 * (a turn), and ask it to re-arm its circuit breaker; each request is recorded first, and the workflow believes no
 * payload and reads the record through an activity. Reads: the sessions one may open in an org, one session (its
 * records and the workflow's live state), and its audit timeline. routes/sessions.ts shapes the answers.
 */
import crypto from 'node:crypto';
import { WorkflowUpdateFailedError, type QueryDefinition } from '@temporalio/client';
import { copilotWorkflowId } from '../../common/ids';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { TOOL_CALL_MESSAGE_KIND } from '../../common/session';
import { resetBreakerRequestUpdate, sendMessageUpdate, stateQuery, turnQuery } from '../../workflows/definitions';
import { analyse } from '../../audit/export';
import type { ApiDeps } from '../deps';
import { findOrgFor, findVisibleSession, hasRole, orgsWhere, type Principal, Role, scopeOf, visibleSessions } from '../http/access';
import { fromPool } from '../http/errors';
import { tenantPoolTransaction } from '../../lib/tenant-db';
import { z } from 'zod';
import { temporalUnavailable } from '../http/temporal-errors';
import { exportWorkflow } from './audit';
import type { Caller } from './caller';
import { usageView } from './orgs';
import { readOrgRateLimits } from '../../lib/org-rate-limits';

/** Who may start sessions and send them messages. */
export const ACTING: Role[] = [Role.Technician, Role.Admin];

/** The org a session starts in: the one named, or the only one where the principal acts. */
async function actingOrg(deps: ApiDeps, principal: Principal, org?: string) {
  const orgs = await deps.prisma.organization.findMany({ where: { id: { in: orgsWhere(principal, ACTING) } } });
  if (org) {
    const found = orgs.find((o) => o.slug === org || o.id === org);
    if (!found) throw AppError.notFound('organization');
    return found;
  }
  if (orgs.length === 1) return orgs[0]!;
  if (orgs.length === 0) throw new AppError(AppErrorCode.Forbidden, 'you have no technician or admin role in any organization');
  throw new AppError(AppErrorCode.BadRequest, `body.org: required, you work in several organizations (${orgs.map((o) => o.slug).join(', ')})`);
}

/**
 * Starts a session: its row, then its workflow; a workflow that does not start takes the row with it. An MCP
 * connection is a session too (`origin`: started at /mcp, by which client as it named itself).
 */
export async function startSession({ deps, principal }: Caller, orgRef?: string, origin: { via: 'api' } | { via: 'mcp'; client: string } = { via: 'api' }) {
  const org = await actingOrg(deps, principal, orgRef);
  if (org.copilotPausedAt) throw new AppError(AppErrorCode.Conflict, 'an admin has paused the copilot for this organization; no new sessions can start');
  // The id is made here so the row is written once, complete (workflowId is unique: no placeholder values).
  const sessionId = crypto.randomUUID();
  const workflowId = copilotWorkflowId(org.id, sessionId);
  const session = await deps.prisma.copilotSession.create({
    data: { id: sessionId, orgId: org.id, userId: principal.userId, workflowId, startedVia: origin.via, mcpClient: origin.via === 'mcp' ? origin.client : null },
  });
  try {
    await deps.temporal.workflow.start('copilotSession', {
      workflowId,
      taskQueue: deps.config.taskQueue,
      args: [{ sessionId: session.id, orgId: org.id, userId: principal.userId }],
    });
  } catch (err) {
    // Nothing half-written: a session whose workflow never started is removed again.
    await deps.prisma.copilotSession.delete({ where: { id: session.id } });
    throw temporalUnavailable(err);
  }
  return { session, org };
}

/** Records the message and hands the session its id (an update); the turn then runs in the background. */
export async function sendSessionMessage({ deps, principal }: Caller, sessionId: string, text: string) {
  const session = await findVisibleSession(deps, principal, sessionId);
  if (!hasRole(principal, session.orgId, ACTING) || (session.userId !== principal.userId && !hasRole(principal, session.orgId, [Role.Admin]))) {
    throw new AppError(AppErrorCode.Forbidden, 'only the technician who started this session (or an org admin) can send it messages');
  }
  // The workflow believes no payload: it gets this record's id, and its first activity reads author and text here.
  const request = await deps.prisma.workflowRequest.create({
    data: { orgId: session.orgId, sessionId: session.id, workflowId: session.workflowId, kind: 'message', userId: principal.userId, text },
  });
  try {
    const handle = deps.temporal.workflow.getHandle(session.workflowId);
    const result = await handle.executeUpdate(sendMessageUpdate, { args: [{ requestId: request.id }] });
    return { sessionId: session.id, turnId: result.turnId };
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new AppError(AppErrorCode.BadRequest, `body.text: ${err.cause?.message ?? 'rejected by the session'}`);
    }
    throw temporalUnavailable(err);
  }
}

/** An org admin's request to re-arm a tripped breaker; the workflow applies it after its activity has checked (and audited) it. */
export async function resetSessionBreaker({ deps, principal }: Caller, sessionId: string): Promise<{ sessionId: string }> {
  const session = await findVisibleSession(deps, principal, sessionId);
  if (!hasRole(principal, session.orgId, [Role.Admin])) throw new AppError(AppErrorCode.Forbidden, 'only an admin of this organization can reset the circuit breaker');
  const request = await deps.prisma.workflowRequest.create({
    data: { orgId: session.orgId, sessionId: session.id, workflowId: session.workflowId, kind: 'breaker_reset', userId: principal.userId },
  });
  let result;
  try {
    result = await deps.temporal.workflow.getHandle(session.workflowId).executeUpdate(resetBreakerRequestUpdate, { args: [{ requestId: request.id }] });
  } catch (err) {
    throw temporalUnavailable(err);
  }
  if (!result.applied) throw new AppError(AppErrorCode.Conflict, result.reason);
  return { sessionId: session.id };
}

/**
 * The caller's sessions in an org, newest first, with each one's first message (its title); an org admin lists
 * everyone's, and an admin narrowed to sites only the sessions they may open (their own, and those within their sites).
 */
export async function listSessions({ deps, principal }: Caller, orgRef: string, limit: number) {
  const org = await findOrgFor(deps, principal, orgRef);
  const everyone = hasRole(principal, org.id, [Role.Admin]);
  const found = await deps.prisma.copilotSession.findMany({ where: { orgId: org.id, ...(everyone ? {} : { userId: principal.userId }) }, orderBy: { createdAt: 'desc' }, take: limit });
  const sessions = await visibleSessions(deps, principal, found);
  const firstMessages = await deps.prisma.message.findMany({
    where: { sessionId: { in: sessions.map((s) => s.id) }, role: 'user', kind: { in: ['user_text', TOOL_CALL_MESSAGE_KIND] } },
    orderBy: { seq: 'asc' },
    distinct: ['sessionId'],
  });
  return { org, sessions, firstMessages };
}

/**
 * What the workflow answers to a query (its live state, or one turn of it), or null: a query needs a running worker,
 * and without one the records answer alone.
 */
async function live<R, A extends unknown[]>(deps: ApiDeps, workflowId: string, query: QueryDefinition<R, A>, ...args: A): Promise<R | null> {
  try {
    return await deps.temporal.withDeadline(Date.now() + 3000, () => deps.temporal.workflow.getHandle(workflowId).query(query, ...args));
  } catch {
    return null;
  }
}

/**
 * One session: its transcript (tool results left out), its tool steps and which of their outputs the detector
 * flagged (as audited when it was read), the workflow's live state, and what the guards will say next (the org's
 * budget, the caller's message rate; null where their store is unavailable).
 */
export async function viewSession({ deps, principal }: Caller, sessionId: string) {
  const session = await findVisibleSession(deps, principal, sessionId);
  const [rows, guards, state] = await Promise.all([sessionRows(deps, principal, session), guardsView(deps, session.orgId, principal.userId), live(deps, session.workflowId, stateQuery)]);
  return { session, ...rows, ...guards, state };
}

/**
 * One turn of a session, for a client waiting on it (the CLI, the console): the turn as the workflow holds it
 * (`turnQuery`: its status and answer, and the earlier turn it waits behind), its messages and tool steps with their
 * commands still waiting, and what the guards will say next. Only the turn's own rows are read and sent: waiting on
 * the 200th turn of a session costs what waiting on the first does. A turn neither the workflow nor the database
 * knows is not found.
 */
export async function viewTurn({ deps, principal }: Caller, sessionId: string, turnId: string) {
  const session = await findVisibleSession(deps, principal, sessionId);
  const [rows, guards, view] = await Promise.all([sessionRows(deps, principal, session, turnId), guardsView(deps, session.orgId, principal.userId), live(deps, session.workflowId, turnQuery, turnId)]);
  if (!view?.turn && rows.messages.length === 0 && rows.steps.length === 0) throw new AppError(AppErrorCode.NotFound, 'turn not found in this session');
  return { session, ...rows, ...guards, live: view };
}

/**
 * A session's rows, or one turn's: the messages (tool results left out), the tool steps, which of their outputs
 * the detector flagged, and the commands of running device steps still waiting (at most 50). One transaction fenced to the
 * caller's orgs on one pooled connection, four statements (`tenantPoolTransaction`): the console reads the session,
 * and the CLI the turn, on every push and poll. Times are read as UTC.
 */
async function sessionRows(deps: ApiDeps, principal: Principal, session: { id: string; orgId: string; workflowId: string }, turnId?: string) {
  const read = await tenantPoolTransaction(deps.pool, scopeOf(principal), async (db) => {
    const query = (name: string, text: string, values: unknown[]) => db.query({ name: `session-read.${name}`, text, values }).then((r) => r.rows);
    // $2: the turn, or null for all of them.
    const ofTurn = [session.id, turnId ?? null];
    const messages = await query(
      'messages',
      `SELECT "id", "turnId", "role", "kind", "content", "createdAt" AT TIME ZONE 'UTC' AS "createdAt"
       FROM "Message" WHERE "sessionId" = $1::uuid AND ($2::text IS NULL OR "turnId" = $2) AND "kind" <> 'tool_results' ORDER BY "seq"`,
      ofTurn,
    );
    const steps = await query(
      'steps',
      `SELECT "id", "turnId", "toolName", "tier", "decision", "status", "summary",
              "createdAt" AT TIME ZONE 'UTC' AS "createdAt", "completedAt" AT TIME ZONE 'UTC' AS "completedAt"
       FROM "ToolInvocation" WHERE "sessionId" = $1::uuid AND ($2::text IS NULL OR "turnId" = $2) ORDER BY "createdAt"`,
      ofTurn,
    );
    const flagged = await query(
      'flagged',
      `SELECT "data"->>'invocationId' AS "invocationId" FROM "AuditEvent"
       WHERE "sessionId" = $1::uuid AND "orgId" = $3::uuid AND "action" = 'injection.flagged_output'
         AND ($2::text IS NULL OR "data"->>'invocationId' IN (SELECT i."id" FROM "ToolInvocation" i WHERE i."sessionId" = $1::uuid AND i."turnId" = $2))`,
      [...ofTurn, session.orgId],
    );
    // Nobody waits in silence: the commands of running steps still waiting for their device (or running on it).
    const waiting = await query(
      'waiting',
      `SELECT c."id", c."invocationId", c."status", c."expiresAt" AT TIME ZONE 'UTC' AS "expiresAt",
              d."name" AS "deviceName", d."online" AS "deviceOnline", d."lastSeenAt" AT TIME ZONE 'UTC' AS "deviceLastSeenAt"
       FROM "DeviceCommand" c JOIN "Device" d ON d."id" = c."deviceId"
       WHERE c."orgId" = $3::uuid AND c."reportTo" = $4 AND c."status" IN ('pending', 'delivered')
         AND c."invocationId" IN (SELECT i."id" FROM "ToolInvocation" i
                                  WHERE i."sessionId" = $1::uuid AND ($2::text IS NULL OR i."turnId" = $2)
                                    AND i."status" = 'running' AND i."execution"->>'type' = 'devices')
       ORDER BY c."createdAt" LIMIT 50`,
      [...ofTurn, session.orgId, session.workflowId],
    );
    return SessionRows.parse({ messages, steps, flagged, waiting });
  }).catch((err: unknown) => {
    throw fromPool(err);
  });
  const waiting = new Map<string, WaitingCommandRow[]>();
  for (const c of read.waiting) waiting.set(c.invocationId, [...(waiting.get(c.invocationId) ?? []), c]);
  return { messages: read.messages, steps: read.steps, flagged: new Set(read.flagged.map((f) => f.invocationId ?? undefined)), waiting };
}

const WaitingCommandRow = z
  .object({ id: z.string(), invocationId: z.string(), status: z.string(), expiresAt: z.date(), deviceName: z.string(), deviceOnline: z.boolean(), deviceLastSeenAt: z.date().nullable() })
  .transform(({ deviceName, deviceOnline, deviceLastSeenAt, ...c }) => ({ ...c, device: { name: deviceName, online: deviceOnline, lastSeenAt: deviceLastSeenAt } }));
type WaitingCommandRow = z.output<typeof WaitingCommandRow>;

const SessionRows = z.object({
  messages: z.array(z.object({ id: z.string(), turnId: z.string(), role: z.string(), kind: z.string(), content: z.custom<unknown>((v) => v !== undefined), createdAt: z.date() })),
  steps: z.array(
    z.object({
      id: z.string(),
      turnId: z.string(),
      toolName: z.string(),
      tier: z.number().int().nullable(),
      decision: z.string().nullable(),
      status: z.string(),
      summary: z.string().nullable(),
      createdAt: z.date(),
      completedAt: z.date().nullable(),
    }),
  ),
  flagged: z.array(z.object({ invocationId: z.string().nullable() })),
  waiting: z.array(WaitingCommandRow),
});

/** What the guards will say next: the org's budget, this user's message rate (null: store unavailable), the org's own limits. */
async function guardsView(deps: ApiDeps, orgId: string, userId: string) {
  const [usage, messagesInWindow, orgLimits] = await Promise.all([
    usageView(deps, orgId).catch(() => null),
    deps.limiter.count(`user:${userId}:messages`, deps.config.guards.rates.userMessages.windowMs).catch(() => null),
    // The org's own message limit where its admins set one (read with the rest, not after it).
    readOrgRateLimits(deps.pool, orgId),
  ]);
  return { usage, messagesInWindow, orgLimits };
}


/**
 * A session's audit timeline: the same reading `npm run audit -- replay` prints, from its workflow histories (and
 * its remediations') as Temporal holds them now, with the approvals cross-checked against the audit log.
 */
export async function sessionTimeline({ deps, principal }: Caller, sessionId: string) {
  const session = await findVisibleSession(deps, principal, sessionId);
  const bundle = await exportWorkflow(deps, session.workflowId);
  return { session, ...(await analyse(bundle, deps.payloadCodec)) };
}
