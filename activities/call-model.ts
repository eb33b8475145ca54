import Anthropic from '@anthropic-ai/sdk';
import type { Prisma } from '@prisma/client';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { FailureType } from '../common/failures';
import { admittedReservationId, stepMessageId, stepReservationId, Uuid } from '../common/ids';
import type { ModelStep, ToolResultRef } from '../common/session';
import { anthropicToolDefinitions } from '../common/tools';
import { fromModelToolName, modelToolName, qualifiedName } from '../lib/mcp-upstream';
import { currentPolicy } from '../lib/policy-store';
import { sessionEventPayload, type SessionEvent } from '../lib/session-events';
import { Channel } from '../lib/pg-events';
import { buildConversation, NOT_RUN } from './conversation';
import { costOf } from '../cage/pricing';
import { FENCE_EXPLANATION } from '../cage/output-fence';
import { close, microsParam } from '../lib/budget';
import type { ActivityDeps } from './deps';
import { assertCallersSession } from './session-identity';
import { audit } from '../audit/log';

export interface CallModelInput {
  sessionId: string;
  orgId: string;
  turnId: string;
  step: number;
  /** Tool results of the previous step, to be written to the transcript before the call. */
  toolResults: ToolResultRef[];
  /** The budget reservation this call settles (absent in histories from before budgets). */
  reservationId?: string;
}

/** The transcript rows a model request is built from. */
export const MODEL_MESSAGE_KINDS = ['user_text', 'assistant', 'tool_results'] as const;

/**
 * The Messages API request for the next step, built from the transcript in PostgreSQL. The org's name and the
 * transcript come in one prepared statement, in plain SQL (Prisma's per-query overhead was most of its time). The
 * upstream tools are read at the same time. Built once per step, by the call: the budget reservation bounds its
 * size in SQL without building it (requestSizing below, lib/budget.ts reserveModelCall).
 */
export async function buildRequest(deps: ActivityDeps, input: { sessionId: string; orgId: string }): Promise<Anthropic.MessageCreateParamsNonStreaming> {
  const [{ rows }, upstreamTools] = await Promise.all([
    deps.pool.query<TranscriptRow>({
      name: 'call-model.transcript',
      // Only these kinds: a message a guard refused (`user_refused`), or any kind added later, is never sent.
      text: `SELECT o."name", ${TRANSCRIPT_SQL} AS "messages" FROM "Organization" o WHERE o."id" = $1::uuid`,
      values: [input.orgId, input.sessionId, [...MODEL_MESSAGE_KINDS]],
    }),
    upstreamToolDefinitions(deps, input.orgId),
  ]);
  return requestOf(deps, rows[0], upstreamTools);
}

/** The model's rows of a session's transcript, in order ($2: the session, $3: the kinds sent). */
const TRANSCRIPT_SQL = `(SELECT coalesce(json_agg(json_build_object('role', m."role", 'kind', m."kind", 'content', m."content") ORDER BY m."seq"), '[]'::json)
                  FROM "Message" m WHERE m."sessionId" = $2::uuid AND m."kind" = ANY($3::text[]))`;

type TranscriptRow = { name: string | null; messages: { role: string; kind: string; content: unknown }[] };

function requestOf(deps: ActivityDeps, org: TranscriptRow | undefined, upstreamTools: Anthropic.Tool[]): Anthropic.MessageCreateParamsNonStreaming {
  if (!org || org.name === null) throw new Error('organization not found');
  return {
    model: deps.model.name,
    max_tokens: deps.model.maxTokens,
    system: systemPrompt(org.name),
    tools: [...(anthropicToolDefinitions() as Anthropic.Tool[]), ...upstreamTools],
    messages: buildConversation(org.messages.map((r) => ({ role: r.role, content: storedBlocks(r.kind, r.content) }))),
  };
}

type StoredReply = { blocks: Anthropic.ContentBlock[]; stopReason: string; usage: Anthropic.Usage; model?: string };

/**
 * What a model call reads before it may call, in one statement: the session (checked by the caller to be the calling
 * workflow's before anything is sent or written), the step's reply if an earlier attempt stored it, and what the
 * request is built from (the org's name, the transcript). Three round trips through Prisma before; the checks are the
 * same, made on one snapshot.
 */
async function readModelCall(deps: ActivityDeps, input: CallModelInput, assistantId: string) {
  const uuidOrNull = (id: string) => (Uuid.safeParse(id).success ? id : null);
  const { rows } = await deps.pool.query<TranscriptRow & { session: { orgId: string; workflowId: string } | null; stored: StoredReply | null }>({
    name: 'call-model.read',
    text: `SELECT (SELECT json_build_object('orgId', s."orgId", 'workflowId', s."workflowId") FROM "CopilotSession" s WHERE s."id" = $2::uuid) AS "session",
                  (SELECT r."content" FROM "Message" r WHERE r."id" = $4 AND r."sessionId" = $2::uuid) AS "stored",
                  (SELECT o."name" FROM "Organization" o WHERE o."id" = $1::uuid) AS "name",
                  ${TRANSCRIPT_SQL} AS "messages"`,
    values: [uuidOrNull(input.orgId), uuidOrNull(input.sessionId), [...MODEL_MESSAGE_KINDS], assistantId],
  });
  const row = rows[0]!;
  return { session: row.session, stored: row.stored, transcript: { name: row.name, messages: row.messages } };
}

/**
 * The enabled tools of the org's upstream MCP servers, as the model sees them: `mcp__<server>__<tool>`, the pinned
 * description (scanned when it was pinned) with its origin and tier, the pinned input schema. A call comes back under
 * that name and runs as `upstream.<server>.<tool>` through the same cage (toModelStep maps it).
 */
async function upstreamToolDefinitions(deps: ActivityDeps, orgId: string): Promise<Anthropic.Tool[]> {
  const tools = await deps.prisma.mcpUpstreamTool.findMany({ where: { orgId, status: 'enabled' }, include: { upstream: { select: { name: true } } }, orderBy: [{ upstream: { name: 'asc' } }, { name: 'asc' }] });
  // The tier under the policy in force (its override, else the registered tier): words for the model; authorization decides.
  const overrides = tools.length ? await currentPolicy(deps.prisma, orgId).then((p) => p.document.overrides, () => []) : [];
  return tools.flatMap((t) => {
    const name = modelToolName(t.upstream.name, t.name);
    if (!name) return [];
    const tier = overrides.find((o) => o.tool === qualifiedName(t.upstream.name, t.name))?.tier ?? t.tier;
    return [{ name, description: upstreamToolDescription(t.description, t.upstream.name, tier), input_schema: upstreamInputSchema(t.inputSchema) }];
  });
}

/** An upstream tool's pinned description as the model reads it: with its origin and tier. */
function upstreamToolDescription(description: string, server: string, tier: number | string): string {
  return `${description}\n\n(A tool of the organization's upstream MCP server "${server}", behind Gatehouse: tier T${tier}; T3 and T4 calls wait for a human approver.)`;
}

/** The pinned input schema with `type: "object"` (the MCP SDK pins objects only; anything else is sent as no keys). */
function upstreamInputSchema(schema: unknown): Anthropic.Tool.InputSchema {
  const keys = schema !== null && typeof schema === 'object' && !Array.isArray(schema) ? (schema as Record<string, unknown>) : {};
  return { ...keys, type: 'object' as const };
}

/**
 * What the reservation needs to bound the size of the request `buildRequest` makes without building it
 * (migration 20261209100000_reserve_model_call adds the rest in SQL, from the stored rows): the bytes of the parts
 * that are the same for every session (the system prompt around the org's name, the catalog's tools, the JSON
 * around them), and the text around each upstream tool, each transcript row and each tool_use (which the request
 * may answer with a "not run" result, in a user message of its own). Measured on the very functions the request is
 * built with, once per process; each is at least what JSON.stringify adds, so the sum bounds promptTokenBound.
 */
export interface RequestSizing {
  fixedBytes: number;
  perMessage: number;
  perToolUse: number;
  perUpstreamTool: number;
}

let sizing: RequestSizing | undefined;

export function requestSizing(): RequestSizing {
  const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v), 'utf8');
  sizing ??= {
    // The org's name is added in SQL as its JSON string (quotes included).
    fixedBytes: bytes({ system: systemPrompt(''), tools: anthropicToolDefinitions(), messages: [] }),
    // A row: {"role":"assistant","content":[]} and a comma; its blocks are added in SQL as their jsonb text.
    perMessage: bytes({ role: 'assistant', content: [] }) + 1,
    // An unanswered tool_use: the result block with a comma (its id added in SQL) and a user message around it.
    perToolUse: bytes({ type: 'tool_result', tool_use_id: '', content: NOT_RUN, is_error: true }) + 1 + bytes({ role: 'user', content: [] }) + 1,
    // An upstream tool, with a comma: the server's name (twice), the tool's name, its description and its schema are
    // added in SQL as JSON text (quotes and all), the tier given ten digits.
    perUpstreamTool: bytes({ name: 'mcp____', description: upstreamToolDescription('', '', '0123456789'), input_schema: { type: 'object' } }) + 1,
  };
  return sizing;
}

/** Settles the call's reservation at its real cost (once, whatever the retries) and the hourly spend with it. */
async function settle(deps: ActivityDeps, input: CallModelInput, model: string, usage: Anthropic.Usage): Promise<void> {
  if (!input.reservationId) return;
  const actual = costOf(model, usage);
  await close(deps.prisma, input.reservationId, actual);
  await deps.limiter.adjust(`org:${input.orgId}:spend`, input.reservationId, actual).catch(() => undefined);
}

/**
 * The reply recorded, in one statement: the assistant's row written (once), the call's reservation settled at its
 * real cost (gatehouse_close_reservation, as close() does it), and the console told (`model:replied`; the turn's
 * end is told by the workflow once its state says so, `sessionEvents` in common/sinks.ts); NOTIFYs are sent at
 * commit, so with the row there. Four to nine round trips one after the other before. The hourly spend in
 * Redis is set to the real cost at the same time (best effort, as before: the reservation in PostgreSQL is the
 * budget's record; the entry is replaced, never added twice).
 */
async function recordReply(deps: ActivityDeps, input: CallModelInput, assistantId: string, response: Anthropic.Message, step: ModelStep): Promise<void> {
  const actual = input.reservationId ? costOf(response.model || deps.model.name, response.usage) : null;
  const content = { blocks: response.content, stopReason: response.stop_reason, usage: response.usage, model: response.model };
  const events: SessionEvent[] = [
    { sessionId: input.sessionId, turnId: input.turnId, type: 'model:replied', text: step.toolUses.length > 0 ? `${step.text} → ${step.toolUses.map((t) => t.name).join(', ')}` : step.text },
  ];
  await Promise.all([
    deps.pool.query({
      name: 'call-model.record-reply',
      text: `WITH m AS (INSERT INTO "Message" ("id", "sessionId", "orgId", "turnId", "role", "kind", "content", "createdAt")
                       VALUES ($1, $2::uuid, $3::uuid, $4, 'assistant', 'assistant', $5::jsonb, now() AT TIME ZONE 'UTC')
                       ON CONFLICT ("id") DO NOTHING RETURNING 1),
                  c AS (SELECT gatehouse_close_reservation($6, $7::bigint) AS "closed" WHERE $6::text IS NOT NULL),
                  n AS (SELECT pg_notify($8, e.payload) FROM unnest($9::text[]) WITH ORDINALITY AS e(payload, i))
             SELECT (SELECT count(*) FROM m) AS "written", (SELECT count(*) FROM c) AS "settled", (SELECT count(*) FROM n) AS "told"`,
      values: [assistantId, input.sessionId, input.orgId, input.turnId, JSON.stringify(content), input.reservationId ?? null, microsParam(actual), Channel.SessionEvents, events.map(sessionEventPayload)],
    }),
    input.reservationId && actual !== null ? deps.limiter.adjust(`org:${input.orgId}:spend`, input.reservationId, actual).catch(() => undefined) : undefined,
  ]);
}

function systemPrompt(orgName: string): string {
  return [
    `You are Gatehouse, an IT operations copilot working for a technician of a managed service provider.`,
    `You act only on the devices of the organization "${orgName}", through the tools you are given.`,
    `Find device ids with list_devices before using a tool that needs one.`,
    FENCE_EXPLANATION,
    `Answer briefly and precisely, naming the devices you looked at.`,
  ].join(' ');
}

function toModelStep(content: Anthropic.ContentBlock[], stopReason: string | null): ModelStep {
  const text = content
    .filter((b): b is Anthropic.TextBlock => b.type === 'text')
    .map((b) => b.text)
    .join('\n');
  const toolUses = content
    .filter((b): b is Anthropic.ToolUseBlock => b.type === 'tool_use')
    // An upstream MCP tool runs under its catalog name (upstream.<server>.<tool>); every other name as the model gave it.
    .map((b) => ({ id: b.id, name: fromModelToolName(b.name), input: b.input }));
  return { text, stopReason: stopReason ?? 'end_turn', toolUses };
}

/** Writes the tool_result message that answers the previous step's tool_use blocks. */
export async function writeToolResults(deps: ActivityDeps, input: CallModelInput): Promise<void> {
  if (input.toolResults.length === 0) return;
  const id = stepMessageId(input.sessionId, input.turnId, input.step - 1, 'tool_results');
  const ids = input.toolResults.flatMap((r) => ('invocationId' in r ? [r.invocationId] : []));
  const invocations = await deps.prisma.toolInvocation.findMany({ where: { id: { in: ids }, sessionId: input.sessionId } });
  const byId = new Map(invocations.map((i) => [i.id, i]));
  const content = input.toolResults.map((r) => {
    if ('deniedReason' in r) return { type: 'tool_result' as const, tool_use_id: r.toolUseId, content: r.deniedReason, is_error: true };
    const inv = byId.get(r.invocationId);
    const ok = inv?.status === 'succeeded';
    return {
      type: 'tool_result' as const,
      tool_use_id: r.toolUseId,
      content: inv?.output ?? inv?.summary ?? 'no result was recorded',
      is_error: !ok,
    };
  });
  await deps.prisma.message.upsert({
    where: { id },
    create: {
      id,
      sessionId: input.sessionId,
      orgId: input.orgId,
      turnId: input.turnId,
      role: 'user',
      kind: 'tool_results',
      content: content as Prisma.InputJsonValue,
    },
    update: {},
  });
}

/** Classifies SDK errors: a request the API refuses will be refused again, anything else is worth a retry. */
function classify(err: unknown): Error {
  if (err instanceof Anthropic.APIError && err.status !== undefined && [400, 401, 403, 404, 413, 422].includes(err.status)) {
    return ApplicationFailure.nonRetryable(`the model API refused the request (HTTP ${err.status})`, FailureType.ModelRejected);
  }
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * Asks the model for the next step of a turn. The transcript is read from PostgreSQL and the reply stored there;
 * only a short plan returns to the workflow. A retry after the reply was stored returns it without a second call.
 */
/** The reservations a model call may settle: its step's, and for the first step the booking of its message's admission. */
function ownReservationIds(input: CallModelInput): string[] {
  return [stepReservationId(input.sessionId, input.turnId, input.step), ...(input.step === 0 ? [admittedReservationId(input.sessionId, input.turnId)] : [])];
}

export function makeCallModel(deps: ActivityDeps) {
  return async function callModel(input: CallModelInput): Promise<ModelStep> {
    const { prisma } = deps;
    const assistantId = stepMessageId(input.sessionId, input.turnId, input.step, 'assistant');
    // The session, a stored reply and the transcript in one read; the upstream tools beside it (a failure to read
    // them counts only once the session is known: a refusal is a refusal, audited). Nothing is sent or written
    // before the session is known to be the calling workflow's.
    const tools = upstreamToolDefinitions(deps, input.orgId).then(
      (defs) => ({ defs }),
      (err: unknown) => ({ err }),
    );
    const read = await readModelCall(deps, input, assistantId);
    // Only the session's own workflow may have its transcript sent to the model (or written to).
    await assertCallersSession(prisma, input, read.session, 'callModel');
    // The reservation the call settles is named by the workflow's input, which anyone reaching Temporal can write:
    // only this step's own (or, for the first step, the one its message's admission booked) is settled here.
    if (input.reservationId && !ownReservationIds(input).includes(input.reservationId)) {
      await audit(prisma, { orgId: input.orgId, actorType: 'system', action: 'security.reservation_refused', target: input.sessionId, sessionId: input.sessionId, data: { turnId: input.turnId, step: input.step, reservationId: input.reservationId.slice(0, 200) } });
      throw ApplicationFailure.nonRetryable('the model call names a budget reservation that is not its own; nothing was sent', FailureType.InvalidInput);
    }
    // reserveBudget wrote them already; histories from before budgets have no reservation and no such step.
    const legacy = !input.reservationId && input.toolResults.length > 0;
    if (legacy) await writeToolResults(deps, input);

    if (read.stored) {
      // A retry after the reply was stored: no second call, and the reservation settles once.
      const saved = read.stored;
      await settle(deps, input, saved.model ?? deps.model.name, saved.usage);
      return toModelStep(saved.blocks, saved.stopReason);
    }

    // A history from before budgets wrote its tool results just now: the transcript is read again with them.
    const upstreamTools = await tools;
    if ('err' in upstreamTools) throw upstreamTools.err;
    const request = legacy ? await buildRequest(deps, input) : requestOf(deps, read.transcript, upstreamTools.defs);
    const ctx = Context.current();
    const beat = setInterval(() => ctx.heartbeat(), 3000);
    let response: Anthropic.Message;
    try {
      response = await deps.anthropic.messages.create(request, { signal: ctx.cancellationSignal });
    } catch (err) {
      throw classify(err);
    } finally {
      clearInterval(beat);
    }

    const step = toModelStep(response.content, response.stop_reason);
    await recordReply(deps, input, assistantId, response, step);
    return step;
  };
}

/** Assistant rows keep the reply with its usage; the API wants only the content blocks. */
export function storedBlocks(kind: string, content: unknown): unknown {
  if (kind === 'assistant') return (content as { blocks: unknown }).blocks;
  return content;
}
