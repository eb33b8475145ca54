import crypto from 'node:crypto';
/** Copilot sessions: start one, send it a message (a turn), read its transcript, steps and state. */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { z } from 'zod';
import { copilotWorkflowId } from '../../common/ids';
import { MAX_MESSAGE_CHARS, type SessionState } from '../../common/session';
import { isStorableText, STORABLE_TEXT_MESSAGE } from '../../common/text';
import { storedBlocks } from '../../activities/call-model';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { resetBreakerRequestUpdate, sendMessageUpdate, stateQuery } from '../../workflows/definitions';
import { analyse, exportSession } from '../../lib/audit-export';
import type { ApiDeps } from '../deps';
import { findVisibleSession, hasRole, orgsWhere, Role, visibleSessions, type Principal } from '../http/auth';
import { IdParams as SessionParams } from '../http/params';
import { defineRoute } from '../http/route';
import { temporalUnavailable } from './temporal-errors';
import { findOrgFor, usageView } from './orgs';

const ACTING: Role[] = [Role.Technician, Role.Admin];

const workflowUrl = (deps: ApiDeps, workflowId: string) =>
  `${deps.config.temporalUiUrl}/namespaces/${encodeURIComponent(deps.config.temporalNamespace)}/workflows/${encodeURIComponent(workflowId)}`;

/**
 * Finds a session the principal may see: theirs, or one whose every reached site their role covers. Another org's
 * session, or one reaching a site outside theirs, answers exactly like an unknown one.
 */
const findSession = (deps: ApiDeps, principal: Principal, id: string) => findVisibleSession(deps, principal, id);

async function resolveOrg(deps: ApiDeps, principal: Principal, org?: string) {
  const allowed = orgsWhere(principal, ACTING);
  const orgs = await deps.prisma.organization.findMany({ where: { id: { in: allowed } } });
  if (org) {
    const found = orgs.find((o) => o.slug === org || o.id === org);
    if (!found) throw AppError.notFound('organization');
    return found;
  }
  if (orgs.length === 1) return orgs[0]!;
  if (orgs.length === 0) throw new AppError(AppErrorCode.Forbidden, 'you have no technician or admin role in any organization');
  throw new AppError(AppErrorCode.BadRequest, `body.org: required, you work in several organizations (${orgs.map((o) => o.slug).join(', ')})`);
}

export const createSession = defineRoute({
  method: 'post',
  path: '/v1/sessions',
  summary: 'Start a copilot session in an organization',
  tag: 'sessions',
  auth: 'user',
  body: z.object({ org: z.string().min(1).max(100).optional().describe('Organization slug or id') }).strict(),
  responses: { 201: 'Session started', 400: 'Invalid body', 401: 'No valid API key', 404: 'Unknown organization', 409: 'Copilot paused for the organization', 503: 'Temporal unavailable' },
  async handler({ deps, principal, body }) {
    const org = await resolveOrg(deps, principal, body.org);
    if (org.copilotPausedAt) throw new AppError(AppErrorCode.Conflict, 'an admin has paused the copilot for this organization; no new sessions can start');
    // The id is made here so the row is written once, complete (workflowId is unique: no placeholder values).
    const sessionId = crypto.randomUUID();
    const workflowId = copilotWorkflowId(org.id, sessionId);
    const session = await deps.prisma.copilotSession.create({ data: { id: sessionId, orgId: org.id, userId: principal.userId, workflowId } });
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
    return {
      status: 201,
      body: { id: session.id, org: { id: org.id, slug: org.slug, name: org.name }, workflowId, temporalUrl: workflowUrl(deps, workflowId) },
    };
  },
});

export const sendMessage = defineRoute({
  method: 'post',
  path: '/v1/sessions/:id/messages',
  summary: 'Send the copilot a message; the turn runs in the background',
  tag: 'sessions',
  auth: 'user',
  params: SessionParams,
  body: z
    .object({
      // Text the database cannot store is refused here: the request row holding it could not be written.
      text: z.string().trim().min(1, 'must not be empty').max(MAX_MESSAGE_CHARS).refine(isStorableText, `message ${STORABLE_TEXT_MESSAGE}`),
    })
    .strict(),
  responses: { 202: 'Turn accepted', 400: 'Invalid body', 401: 'No valid API key', 404: 'Unknown session', 503: 'Temporal unavailable' },
  async handler({ deps, principal, params, body }) {
    const session = await findSession(deps, principal, params.id);
    if (!hasRole(principal, session.orgId, ACTING) || (session.userId !== principal.userId && !hasRole(principal, session.orgId, [Role.Admin]))) {
      throw new AppError(AppErrorCode.Forbidden, 'only the technician who started this session (or an org admin) can send it messages');
    }
    // The workflow believes no payload: it gets this record's id, and its first activity reads author and text here.
    const request = await deps.prisma.workflowRequest.create({
      data: { orgId: session.orgId, sessionId: session.id, workflowId: session.workflowId, kind: 'message', userId: principal.userId, text: body.text },
    });
    try {
      const handle = deps.temporal.workflow.getHandle(session.workflowId);
      const result = await handle.executeUpdate(sendMessageUpdate, { args: [{ requestId: request.id }] });
      return { status: 202, body: { sessionId: session.id, turnId: result.turnId } };
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        throw new AppError(AppErrorCode.BadRequest, `body.text: ${err.cause?.message ?? 'rejected by the session'}`);
      }
      throw temporalUnavailable(err);
    }
  },
});

function transcriptEntry(m: { id: string; turnId: string; role: string; kind: string; content: unknown; createdAt: Date }) {
  const blocks = (storedBlocks(m.kind, m.content) as { type: string; text?: string; name?: string }[]) ?? [];
  return {
    id: m.id,
    turnId: m.turnId,
    role: m.role,
    text: blocks.filter((b) => b.type === 'text').map((b) => b.text).join('\n'),
    toolCalls: blocks.filter((b) => b.type === 'tool_use').map((b) => b.name),
    // Refused by a guard (the injection screen, a rate limit): shown here, never sent to the model.
    ...(m.kind === 'user_refused' ? { refused: true } : {}),
    createdAt: m.createdAt.toISOString(),
  };
}

function breakerView(state: SessionState | null, trippedAt: Date | null) {
  if (!state) return trippedAt ? { tripped: true } : null;
  return { ...state.breaker, tripped: state.breaker.tripped || trippedAt !== null };
}

export const getSession = defineRoute({
  method: 'get',
  path: '/v1/sessions/:id',
  summary: 'A session: transcript, tool steps and live state',
  tag: 'sessions',
  auth: 'user',
  params: SessionParams,
  responses: { 200: 'The session', 400: 'Invalid id', 401: 'No valid API key', 404: 'Unknown session' },
  async handler({ deps, principal, params }) {
    const session = await findSession(deps, principal, params.id);
    const [messages, tools, flaggedEvents] = await Promise.all([
      deps.prisma.message.findMany({ where: { sessionId: session.id, kind: { not: 'tool_results' } }, orderBy: { seq: 'asc' } }),
      deps.prisma.toolInvocation.findMany({ where: { sessionId: session.id }, orderBy: { createdAt: 'asc' } }),
      deps.prisma.auditEvent.findMany({ where: { sessionId: session.id, orgId: session.orgId, action: 'injection.flagged_output' }, select: { data: true } }),
    ]);
    // Output the detector flagged (as audited when it was read): the console marks it as untrusted.
    const flagged = new Set(flaggedEvents.map((e) => (e.data as { invocationId?: string }).invocationId));
    const [usage, messagesInWindow] = await Promise.all([
      usageView(deps, session.orgId).catch(() => null),
      deps.limiter.count(`user:${principal.userId}:messages`, deps.config.guards.rates.userMessages.windowMs).catch(() => null),
    ]);
    let state: SessionState | null = null;
    let stateError: string | undefined;
    try {
      // A query needs a running worker; without one, answer from the database rather than hang.
      const handle = deps.temporal.workflow.getHandle(session.workflowId);
      state = await deps.temporal.withDeadline(Date.now() + 3000, () => handle.query(stateQuery));
    } catch {
      stateError = 'live state unavailable (Temporal did not answer); the transcript below is complete';
    }
    return {
      status: 200,
      body: {
        id: session.id,
        org: { id: session.org.id, slug: session.org.slug, name: session.org.name },
        userId: session.userId,
        workflowId: session.workflowId,
        temporalUrl: workflowUrl(deps, session.workflowId),
        status: state?.status ?? 'unknown',
        turns: state?.turns ?? [],
        // Tripped if either says so: the session row is what authorization enforces; the workflow's state is
        // written a moment before the row is.
        breaker: breakerView(state, session.breakerTrippedAt),
        paused: session.org.copilotPausedAt !== null,
        pendingApproval: state?.pendingApproval ?? null,
        // What the guards will say next: the org's budget, and this user's message rate (null: store unavailable).
        usage,
        rateLimits: {
          userMessages: { used: messagesInWindow, max: deps.config.guards.rates.userMessages.max, windowSeconds: deps.config.guards.rates.userMessages.windowMs / 1000 },
        },
        ...(stateError ? { stateError } : {}),
        transcript: messages.map(transcriptEntry),
        steps: tools.map((t) => ({
          id: t.id,
          turnId: t.turnId,
          tool: t.toolName,
          tier: t.tier,
          decision: t.decision,
          status: t.status,
          summary: t.summary,
          flagged: flagged.has(t.id),
          createdAt: t.createdAt.toISOString(),
          completedAt: t.completedAt?.toISOString() ?? null,
        })),
      },
    };
  },
});

export const resetBreaker = defineRoute({
  method: 'post',
  path: '/v1/sessions/:id/breaker/reset',
  summary: "Re-arm a session whose circuit breaker tripped (org admins)",
  tag: 'sessions',
  auth: 'user',
  params: SessionParams,
  responses: { 200: 'Breaker reset', 400: 'Invalid id', 401: 'No valid API key', 403: 'Not an org admin', 404: 'Unknown session', 409: 'The session refused the reset', 503: 'Temporal unavailable' },
  async handler({ deps, principal, params }) {
    const session = await findSession(deps, principal, params.id);
    if (!hasRole(principal, session.orgId, [Role.Admin])) throw new AppError(AppErrorCode.Forbidden, 'only an admin of this organization can reset the circuit breaker');
    // The workflow re-arms only after its activity has checked this record (and audits the reset there).
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
    return { status: 200, body: { sessionId: session.id, breaker: 'reset' } };
  },
});

export const listSessions = defineRoute({
  method: 'get',
  path: '/v1/sessions',
  summary: "Your copilot sessions in an organization, newest first, each titled by its first message (an org admin's query lists everyone's)",
  tag: 'sessions',
  auth: 'user',
  query: z
    .object({
      org: z.string().min(1).max(100).describe('Organization slug or id'),
      limit: z.coerce.number().int().min(1).max(200).default(50),
    })
    .strict(),
  responses: { 200: 'The sessions', 400: 'Invalid query', 401: 'No valid API key', 404: 'Unknown organization' },
  async handler({ deps, principal, query }) {
    const org = await findOrgFor(deps, principal, query.org);
    const everyone = hasRole(principal, org.id, [Role.Admin]);
    // An admin narrowed to sites lists only the sessions they may open (their own, and those within their sites).
    const sessions = await visibleSessions(
      deps,
      principal,
      await deps.prisma.copilotSession.findMany({ where: { orgId: org.id, ...(everyone ? {} : { userId: principal.userId }) }, orderBy: { createdAt: 'desc' }, take: query.limit }),
    );
    const firsts = await deps.prisma.message.findMany({
      where: { sessionId: { in: sessions.map((s) => s.id) }, role: 'user', kind: 'user_text' },
      orderBy: { seq: 'asc' },
      distinct: ['sessionId'],
    });
    const titles = new Map(firsts.map((m) => [m.sessionId, transcriptEntry(m).text.slice(0, 120)]));
    return {
      status: 200,
      body: {
        org: { id: org.id, slug: org.slug, name: org.name },
        sessions: sessions.map((s) => ({
          id: s.id,
          userId: s.userId,
          title: titles.get(s.id) ?? null,
          createdAt: s.createdAt.toISOString(),
          workflowId: s.workflowId,
          temporalUrl: workflowUrl(deps, s.workflowId),
        })),
      },
    };
  },
});

export const sessionTimeline = defineRoute({
  method: 'get',
  path: '/v1/sessions/:id/timeline',
  summary: "A session's audit timeline, read from its workflow histories (and its remediations'), with the approvals cross-checked against the audit log",
  tag: 'sessions',
  auth: 'user',
  params: SessionParams,
  responses: { 200: 'The timeline', 400: 'Invalid id', 401: 'No valid API key', 404: 'Unknown session', 503: 'Temporal unavailable' },
  async handler({ deps, principal, params }) {
    const session = await findSession(deps, principal, params.id);
    // The same reading `npm run audit -- replay` prints, from the histories as Temporal holds them now.
    const bundle = await exportSession({ prisma: deps.prisma, temporal: deps.temporal }, session.workflowId).catch((err: unknown) => {
      throw temporalUnavailable(err);
    });
    const { timeline, crossCheck, alteredEvents } = await analyse(bundle, deps.payloadCodec);
    return {
      status: 200,
      body: {
        id: session.id,
        workflowId: session.workflowId,
        temporalUrl: workflowUrl(deps, session.workflowId),
        entries: timeline.map((t) => ({ time: t.time, workflowId: t.workflowId, kind: t.kind, text: t.text })),
        crossCheck,
        alteredEvents,
      },
    };
  },
});
