/**
 * Copilot sessions: start one, send it a message (a turn), list them, read one's transcript, steps and state, and
 * its audit timeline. The operations are services/sessions.ts's; this file parses and shapes the answers.
 */
import { messageWindows, NO_ORG_LIMITS } from '../../lib/org-rate-limits';
import { z } from 'zod';
import { BreakerResetAnswer, MessageAcceptedAnswer, SessionAnswer, SessionCreatedAnswer, SessionsAnswer, TimelineAnswer, TurnAnswer } from '../../common/api-answers';
import { MAX_MESSAGE_CHARS, TOOL_CALL_MESSAGE_KIND, type SessionState } from '../../common/session';
import { isStorableText, STORABLE_TEXT_MESSAGE } from '../../common/text';
// eslint-disable-next-line import-x/no-restricted-paths -- one of the two breaks api/README.md names
import { storedBlocks } from '../../activities/call-model';
import type { ApiDeps } from '../deps';
import { IdParams as SessionParams, TurnParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';
import * as sessions from '../services/sessions';

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
  async handler(ctx) {
    const { session, org } = await sessions.startSession(ctx, ctx.body.org);
    return {
      status: 201,
      body: { id: session.id, org: { id: org.id, slug: org.slug, name: org.name }, workflowId: session.workflowId, temporalUrl: workflowUrl(ctx.deps, session.workflowId) },
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
  async handler(ctx) {
    return { status: 202, body: await sessions.sendSessionMessage(ctx, ctx.params.id, ctx.body.text) };
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
    // A tools/call an MCP client made (its turn has one tool step and no model step).
    ...(m.kind === TOOL_CALL_MESSAGE_KIND ? { toolCall: true } : {}),
    createdAt: m.createdAt.toISOString(),
  };
}

type WaitingRow = { id: string; status: string; expiresAt: Date; device: { name: string; online: boolean; lastSeenAt: Date | null } };

/** A tool step as the session and turn reads show it. */
function stepEntry(
  t: { id: string; turnId: string; toolName: string; tier: number | null; decision: string | null; status: string; summary: string | null; createdAt: Date; completedAt: Date | null },
  flagged: Set<string | undefined>,
  waiting: Map<string, WaitingRow[]>,
) {
  return {
    id: t.id,
    turnId: t.turnId,
    tool: t.toolName,
    tier: t.tier,
    decision: t.decision,
    status: t.status,
    summary: t.summary,
    // Output the detector flagged: the console marks it as untrusted.
    flagged: flagged.has(t.id),
    createdAt: t.createdAt.toISOString(),
    completedAt: t.completedAt?.toISOString() ?? null,
    waiting: (waiting.get(t.id) ?? []).map((c) => ({
      commandId: c.id,
      device: c.device.name,
      online: c.device.online,
      lastSeenAt: c.device.lastSeenAt?.toISOString() ?? null,
      status: c.status as 'pending' | 'delivered',
      expiresAt: c.expiresAt.toISOString(),
    })),
  };
}

/** What the guards will say next: the org's budget, and this user's message rate (null: store unavailable). */
function guardsEntry(deps: ApiDeps, g: { usage: Awaited<ReturnType<typeof sessions.viewSession>>['usage']; messagesInWindow: number | null; orgLimits: Parameters<typeof messageWindows>[1] | null }) {
  // The org's own message limit where its admins set one (read with the rest of the session).
  const { userMessages } = messageWindows(deps.config.guards.rates, g.orgLimits ?? NO_ORG_LIMITS);
  return { usage: g.usage, rateLimits: { userMessages: { used: g.messagesInWindow, max: userMessages.max, windowSeconds: userMessages.windowMs / 1000 } } };
}

/** What the session's read and a turn's read both show (`LiveAndRecords` in common/api-answers.ts). */
function liveAndRecords(
  deps: ApiDeps,
  session: { breakerTrippedAt: Date | null; org: { copilotPausedAt: Date | null } },
  live: Pick<SessionState, 'breaker' | 'pendingApproval'> | null,
  rows: { messages: Parameters<typeof transcriptEntry>[0][]; steps: Parameters<typeof stepEntry>[0][]; flagged: Set<string | undefined>; waiting: Map<string, WaitingRow[]> },
  guards: Parameters<typeof guardsEntry>[1],
  unavailable: string,
) {
  return {
    // Tripped if either says so: the session row is what authorization enforces; the workflow's state is written a
    // moment before the row is.
    breaker: breakerView(live, session.breakerTrippedAt),
    paused: session.org.copilotPausedAt !== null,
    pendingApproval: live?.pendingApproval ?? null,
    ...guardsEntry(deps, guards),
    ...(live ? {} : { stateError: unavailable }),
    transcript: rows.messages.map(transcriptEntry),
    steps: rows.steps.map((t) => stepEntry(t, rows.flagged, rows.waiting)),
  };
}

function breakerView(state: Pick<SessionState, 'breaker'> | null, trippedAt: Date | null) {
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
  async handler(ctx) {
    const { session, messages, steps, flagged, state, waiting, ...guards } = await sessions.viewSession(ctx, ctx.params.id);
    return {
      status: 200,
      body: {
        id: session.id,
        org: { id: session.org.id, slug: session.org.slug, name: session.org.name },
        userId: session.userId,
        startedVia: session.startedVia === 'mcp' ? ('mcp' as const) : ('api' as const),
        mcpClient: session.mcpClient,
        workflowId: session.workflowId,
        temporalUrl: workflowUrl(ctx.deps, session.workflowId),
        status: state?.status ?? 'unknown',
        turns: state?.turns ?? [],
        ...liveAndRecords(ctx.deps, session, state, { messages, steps, flagged, waiting }, guards, 'live state unavailable (Temporal did not answer); the transcript below is complete'),
      },
    };
  },
});

export const getTurn = defineRoute({
  method: 'get',
  path: '/v1/sessions/:id/turns/:turnId',
  summary: "One turn of a session: its status and answer, its messages and tool steps, and what it waits for (what a client waiting on a turn reads, whatever the session's length)",
  tag: 'sessions',
  auth: 'user',
  params: TurnParams,
  responses: { 200: 'The turn', 400: 'Invalid id', 401: 'No valid API key', 404: 'Unknown session or turn' },
  response: TurnAnswer,
  async handler(ctx) {
    const { session, messages, steps, flagged, live, waiting, ...guards } = await sessions.viewTurn(ctx, ctx.params.id, ctx.params.turnId);
    const turn = live?.turn ?? null;
    return {
      status: 200,
      body: {
        sessionId: session.id,
        turnId: ctx.params.turnId,
        // unknown: the workflow did not answer, or no longer holds the turn (its records below are complete).
        status: turn?.status ?? 'unknown',
        answer: turn?.answer ?? null,
        error: turn?.error ?? null,
        behind: live?.behind ?? null,
        sessionStatus: live?.status ?? 'unknown',
        ...liveAndRecords(ctx.deps, session, live, { messages, steps, flagged, waiting }, guards, 'live state unavailable (Temporal did not answer); the records below are complete'),
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
  async handler(ctx) {
    const { sessionId } = await sessions.resetSessionBreaker(ctx, ctx.params.id);
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
  async handler(ctx) {
    const { org, sessions: found, firstMessages } = await sessions.listSessions(ctx, ctx.query.org, ctx.query.limit);
    const titles = new Map(firstMessages.map((m) => [m.sessionId, transcriptEntry(m).text.slice(0, 120)]));
    return {
      status: 200,
      body: {
        org: { id: org.id, slug: org.slug, name: org.name },
        sessions: found.map((s) => ({
          id: s.id,
          userId: s.userId,
          title: titles.get(s.id) ?? null,
          createdAt: s.createdAt.toISOString(),
          workflowId: s.workflowId,
          temporalUrl: workflowUrl(ctx.deps, s.workflowId),
          startedVia: s.startedVia === 'mcp' ? ('mcp' as const) : ('api' as const),
          mcpClient: s.mcpClient,
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
  async handler(ctx) {
    const { session, timeline, crossCheck, alteredEvents } = await sessions.sessionTimeline(ctx, ctx.params.id);
    return {
      status: 200,
      body: {
        id: session.id,
        workflowId: session.workflowId,
        temporalUrl: workflowUrl(ctx.deps, session.workflowId),
        entries: timeline.map((t) => ({ time: t.time, workflowId: t.workflowId, kind: t.kind, text: t.text, ...(typeof t.details?.policyVersion === 'number' ? { policyVersion: t.details.policyVersion } : {}) })),
        crossCheck,
        alteredEvents,
      },
    };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const sessionRoutes: AnyRoute[] = [createSession, listSessions, sendMessage, getSession, getTurn, sessionTimeline, resetBreaker];
