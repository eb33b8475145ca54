/**
 * Copilot sessions: start one, send it a message (a turn), read its transcript, steps and state. The writes are
 * services/sessions.ts's.
 */
import { z } from 'zod';
import { BreakerResetAnswer, MessageAcceptedAnswer, SessionAnswer, SessionCreatedAnswer, SessionsAnswer, TimelineAnswer } from '../../common/api-answers';
import { MAX_MESSAGE_CHARS, type SessionState } from '../../common/session';
import { isStorableText, STORABLE_TEXT_MESSAGE } from '../../common/text';
// eslint-disable-next-line import-x/no-restricted-paths -- one of the two breaks api/README.md names
import { storedBlocks } from '../../activities/call-model';
import { stateQuery } from '../../workflows/definitions';
import { analyse, exportSession } from '../../audit/export';
import type { ApiDeps } from '../deps';
import { findOrgFor, findVisibleSession, hasRole, Role, visibleSessions } from '../http/access';
import { IdParams as SessionParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';
import { resetSessionBreaker, sendSessionMessage, startSession } from '../services/sessions';
import { temporalUnavailable } from '../http/temporal-errors';
import { usageView } from './orgs';

const workflowUrl = (deps: ApiDeps, workflowId: string) =>
  `${deps.config.temporalUiUrl}/namespaces/${encodeURIComponent(deps.config.temporalNamespace)}/workflows/${encodeURIComponent(workflowId)}`;

export const createSession = defineRoute({
  method: 'post',
  path: '/v1/sessions',
  summary: 'Start a copilot session in an organization',
  tag: 'sessions',
  auth: 'user',
  body: z.object({ org: z.string().min(1).max(100).optional().describe('Organization slug or id') }).strict(),
  responses: { 201: 'Session started', 400: 'Invalid body', 401: 'No valid API key', 404: 'Unknown organization', 409: 'Copilot paused for the organization', 503: 'Temporal unavailable' },
  response: SessionCreatedAnswer,
  async handler({ deps, principal, body }) {
    const { session, org } = await startSession(deps, principal, body.org);
    return {
      status: 201,
      body: { id: session.id, org: { id: org.id, slug: org.slug, name: org.name }, workflowId: session.workflowId, temporalUrl: workflowUrl(deps, session.workflowId) },
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
  response: MessageAcceptedAnswer,
  async handler({ deps, principal, params, body }) {
    return { status: 202, body: await sendSessionMessage(deps, principal, params.id, body.text) };
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
  response: SessionAnswer,
  async handler({ deps, principal, params }) {
    const session = await findVisibleSession(deps, principal, params.id);
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
  response: BreakerResetAnswer,
  async handler({ deps, principal, params }) {
    const { sessionId } = await resetSessionBreaker(deps, principal, params.id);
    return { status: 200, body: { sessionId, breaker: 'reset' } };
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
  response: SessionsAnswer,
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
  response: TimelineAnswer,
  async handler({ deps, principal, params }) {
    const session = await findVisibleSession(deps, principal, params.id);
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

/** The routes of this file, registered by api/server.ts. */
export const sessionRoutes: AnyRoute[] = [createSession, listSessions, sendMessage, getSession, sessionTimeline, resetBreaker];
