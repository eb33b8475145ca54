/**
 * The operations behind /mcp (api/mcp/): an MCP connection is a copilot session, and a `tools/call` is a request
 * recorded like a message. The api writes a `WorkflowRequest` of kind `tool_call` (who, which tool, which arguments)
 * and sends the session's workflow only its id (`callToolRequest`); an activity checks the record, and the call runs
 * through the copilot's one path (`runTool`: breaker, kill switch, authorization, approval, execution, fence). The
 * caller then follows the turn until it ends, and reads the result as the model would have read it.
 */
import type { Prisma } from '@prisma/client';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { Step, TurnState, TurnView } from '../../common/session';
import { findUnstorable } from '../../common/text';
import { isToolName, lowestTierOf, mcpToolDefinitions, Tier, TIER_NAMES, type McpToolDefinition } from '../../common/tools';
import { maxTierOf } from '../../common/oauth-scopes';
import { parseQualifiedName, qualifiedName } from '../../lib/mcp-upstream';
import { enabledUpstreamTools, hasUpstreamTool } from './mcp-upstreams';
import { currentPolicy } from '../../lib/policy-store';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { audit } from '../../audit/log';
import { callToolRequestUpdate, turnQuery } from '../../workflows/definitions';
import type { TurnEnds } from '../turn-ends';
import { findVisibleSession, hasRole } from '../http/access';
import { temporalUnavailable } from '../http/temporal-errors';
import type { Caller } from './caller';
import { ACTING, startSession } from './sessions';

/** The most an MCP client may send as one call's arguments (a tool's input is small; a script is at most 64 KB). */
export const MAX_TOOL_ARGUMENTS_BYTES = 128 * 1024;
const MAX_ARGUMENT_DEPTH = 32;
/**
 * How often a waiting call looks at its turn: soon at first (a T1 read ends in tens of milliseconds; bench/mcp.ts),
 * then backing off to POLL_MS, and less often once it has waited a while; and how often it tells the client it waits.
 */
const FIRST_POLL_MS = 10;
const POLL_MS = 500;
const SLOW_POLL_MS = 2_000;
const SLOW_AFTER_MS = 30_000;
const PROGRESS_EVERY_MS = 5_000;

/** The client as it named itself at initialize: shown beside the session, never believed for anything. */
export function clientLabel(info: unknown): string {
  const { name, version } = (info ?? {}) as { name?: unknown; version?: unknown };
  const text = (v: unknown) => (typeof v === 'string' ? v.replace(/[^\x20-\x7e]/g, '').slice(0, 80) : '');
  return `${text(name) || 'unknown client'}${text(version) ? ` ${text(version)}` : ''}`;
}

/** An MCP connection's session, in the org named or the only one where the caller acts (as POST /v1/sessions). */
export async function startMcpSession(caller: Caller, orgRef: string | undefined, clientInfo: unknown) {
  // An OAuth client is named as it registered (what the user approved), beside what it says at initialize.
  const oauth = caller.principal.oauth;
  const client = oauth ? `${clientLabel(clientInfo)} (OAuth: ${oauth.clientName})`.slice(0, 200) : clientLabel(clientInfo);
  return startSession(caller, orgRef, { via: 'mcp', client });
}

/** The MCP session the caller may use: their own (an org admin's key reaches no one else's MCP connection). */
export async function mcpSessionOf({ deps, principal }: Caller, sessionId: string) {
  const session = await findVisibleSession(deps, principal, sessionId);
  if (session.startedVia !== 'mcp' || session.userId !== principal.userId) throw AppError.notFound('session');
  return session;
}

/** Whether the caller may still call tools in the session's org (the workflow checks again before anything runs). */
export const mayCallTools = ({ principal }: Caller, orgId: string) => hasRole(principal, orgId, ACTING);

/**
 * The catalog an MCP client of this org lists: Gatehouse's tools, then the enabled tools of the org's upstream MCP
 * servers (`upstream.<server>.<tool>`) with their pinned description and input schema and their tier (the org's
 * policy override, else the tier an admin gave them at registration).
 */
/**
 * The tools listed to the caller. An MCP client acting through an OAuth grant is shown only the tools its scopes can
 * reach (an `mcp:read` grant: the tools with a T1 call); a call of any other would be refused anyway. This only
 * narrows what is offered: authorization still decides every call.
 */
export async function catalogFor(caller: Caller, orgId: string): Promise<McpToolDefinition[]> {
  const tools = await catalogOf(caller, orgId);
  const grant = caller.principal.oauth;
  const maxTier = grant ? maxTierOf(grant.scopes) : Tier.T4;
  return tools.filter((t) => t.lowestTier <= maxTier).map((t) => t.definition);
}

/** Every tool of the org, with the lowest tier a call of it can start at. */
async function catalogOf({ deps }: Caller, orgId: string): Promise<{ definition: McpToolDefinition; lowestTier: number }[]> {
  const upstream = await enabledUpstreamTools(deps.prisma, orgId);
  // The tier the policy in force gives each (its override, else the registered tier): words for the agent only,
  // authorization decides; an unreadable policy leaves the registered tier here (and denies the call there).
  const overrides = upstream.length ? await currentPolicy(deps.prisma, orgId).then((p) => p.document.overrides, () => []) : [];
  return [
    ...mcpToolDefinitions().map((definition) => ({ definition, lowestTier: lowestTierOf(definition.name) ?? Tier.T4 })),
    ...upstream.map((t) => {
      const name = qualifiedName(t.upstream.name, t.name);
      const tier = (overrides.find((o) => o.tool === name)?.tier ?? t.tier) as Tier;
      const title = t.title ?? `${t.upstream.name} ${t.name}`;
      const definition = {
        name,
        title,
        description: `${t.description}\n\nFrom the upstream MCP server "${t.upstream.name}", behind Gatehouse. Gatehouse tier: T${tier}, ${TIER_NAMES[tier]}. T3 and T4 calls wait until an approver of the organization approves; flagged output and arguments taken from tool output raise a call to T3.`,
        inputSchema: { ...(t.inputSchema as Record<string, unknown>), type: 'object' as const },
        annotations: { title, readOnlyHint: tier === 1, destructiveHint: tier >= 3, idempotentHint: false, openWorldHint: true },
      };
      return { definition, lowestTier: tier };
    }),
  ];
}

/** What an audit event says of the OAuth client a call came through, if it did. */
const oauthClientOf = (principal: Caller['principal']) => (principal.oauth ? { oauthClientId: principal.oauth.clientId, oauthClient: principal.oauth.clientName, oauthGrantId: principal.oauth.grantId } : {});

export type ToolCallRefusal = { refused: 'unknown_tool' | 'invalid_arguments' | 'forbidden'; message: string };

/**
 * Records the call and hands the session its id; returns the turn that runs it. Refused here (nothing recorded) only
 * what the workflow could not even be asked: a name outside the catalog (audited, as the copilot audits one), and
 * arguments too large or the database could not store.
 */
export async function requestToolCall(caller: Caller, sessionId: string, name: string, args: Record<string, unknown>): Promise<{ turnId: string } | ToolCallRefusal> {
  const { deps, system, principal } = caller;
  const session = await mcpSessionOf(caller, sessionId);
  const upstream = parseQualifiedName(name);
  const known = isToolName(name) || (upstream !== undefined && (await hasUpstreamTool(deps.prisma, session.orgId, upstream.server, upstream.tool)));
  if (!known) {
    await audit(system, {
      orgId: session.orgId,
      actorType: 'user',
      actorId: principal.userId,
      action: 'tool.denied',
      target: name.slice(0, 100),
      sessionId: session.id,
      data: { rule: 'unknown_tool', via: 'mcp', reason: 'not in the catalog', ...oauthClientOf(principal) },
    });
    return { refused: 'unknown_tool', message: `unknown tool "${name.slice(0, 100)}": it is not in the catalog; nothing was run` };
  }
  if (!mayCallTools(caller, session.orgId)) return { refused: 'forbidden', message: 'you have no technician or admin role in this organization any more; nothing was run' };
  const bad = findUnstorable(args, MAX_ARGUMENT_DEPTH);
  if (bad) return { refused: 'invalid_arguments', message: `arguments.${bad.path.join('.')}: ${bad.kind === 'text' ? 'text that cannot be stored' : bad.reason}` };
  if (Buffer.byteLength(JSON.stringify(args)) > MAX_TOOL_ARGUMENTS_BYTES) return { refused: 'invalid_arguments', message: `arguments: larger than ${MAX_TOOL_ARGUMENTS_BYTES} bytes` };

  // The workflow believes no payload: it gets this record's id, and its first activity reads author, tool and arguments here.
  const request = await deps.prisma.workflowRequest.create({
    data: {
      orgId: session.orgId,
      sessionId: session.id,
      workflowId: session.workflowId,
      kind: 'tool_call',
      userId: principal.userId,
      toolName: name,
      toolInput: args as Prisma.InputJsonValue,
      // Authorization holds the call to this grant's orgs and scopes (activities/authorize-tool-call.ts).
      oauthGrantId: principal.oauth?.grantId ?? null,
    },
  });
  try {
    const result = await deps.temporal.workflow.getHandle(session.workflowId).executeUpdate(callToolRequestUpdate, { args: [{ requestId: request.id }] });
    return { turnId: result.turnId };
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) throw new AppError(AppErrorCode.BadRequest, `the session refused the call: ${err.cause?.message ?? 'rejected'}`);
    throw temporalUnavailable(err);
  }
}

const ENDED = new Set(['answered', 'refused', 'failed']);

/** What the client is told while it waits (one line, as a progress notification's message). */
function progressLine(turn: TurnState | undefined, tool: Extract<Step, { kind: 'tool' }> | undefined): string {
  if (!turn || turn.status === 'queued') return 'queued behind earlier calls of this session';
  if (tool?.status === 'awaiting_approval') return `waiting for an approver of the organization to approve this T${tool.tier ?? '?'} call`;
  if (tool) return 'running';
  return 'checking the request';
}

export interface ToolCallResult {
  text: string;
  isError: boolean;
}

/**
 * Follows the turn until it ends (through worker restarts: a query that gets no answer is asked again) and answers
 * what the model would have read: the fenced output, or the reason in words for a denial, rejection or expiry.
 * Reads only the turn (`turnQuery`), at once when this node hears the workflow tell its end (`ends`), else at each
 * poll. `progress` is called when something changes and every few seconds while waiting; `signal` ends the wait
 * (the call itself goes on in its workflow, like any session's).
 */
export async function awaitToolCall(
  { deps }: Caller,
  session: { workflowId: string; id: string },
  turnId: string,
  progress: (message: string) => Promise<void>,
  signal: AbortSignal,
  ends: TurnEnds,
): Promise<ToolCallResult> {
  const handle = deps.temporal.workflow.getHandle(session.workflowId);
  let said = '';
  let saidAt = 0;
  const started = Date.now();
  let delay = FIRST_POLL_MS;
  const end = ends.listen(session.id, turnId);
  // Heard once: a read that does not find the turn ended (it should) waits for the next poll, not in a loop.
  let told: Promise<void> = end.heard.then(() => {
    told = new Promise(() => undefined);
  });
  try {
    for (;;) {
      if (signal.aborted) throw new AppError(AppErrorCode.Conflict, 'the client cancelled the wait; the call goes on in its session');
      const view: TurnView | null = await deps.temporal.withDeadline(Date.now() + 3000, () => handle.query(turnQuery, turnId)).catch(() => null);
      const turn = view?.turn ?? undefined;
      const tool = turn?.steps.find((s): s is Extract<Step, { kind: 'tool' }> => s.kind === 'tool');
      if (turn && ENDED.has(turn.status)) return await resultOf(deps.prisma, session.id, turn, tool);
      const line = view ? progressLine(turn, tool) : 'waiting for the session (its worker is not answering yet)';
      if (line !== said || Date.now() - saidAt >= PROGRESS_EVERY_MS) {
        said = line;
        saidAt = Date.now();
        await progress(line).catch(() => undefined);
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([told, new Promise((resolve) => (timer = setTimeout(resolve, Date.now() - started > SLOW_AFTER_MS ? SLOW_POLL_MS : delay)))]);
      clearTimeout(timer);
      delay = Math.min(POLL_MS, delay * 2);
    }
  } finally {
    end.stop();
  }
}

async function resultOf(prisma: Caller['deps']['prisma'], sessionId: string, turn: TurnState, tool: Extract<Step, { kind: 'tool' }> | undefined): Promise<ToolCallResult> {
  if (turn.status !== 'answered') return { text: turn.error ?? turn.answer ?? 'the call was not run', isError: true };
  if (!tool) return { text: 'the call was not run', isError: true };
  if (tool.status === 'rejected') return { text: `not run: ${tool.summary ?? 'the approval was not given'}`, isError: true };
  const inv = tool.invocationId ? await prisma.toolInvocation.findFirst({ where: { id: tool.invocationId, sessionId } }) : null;
  // As writeToolResults gives it to the model: the fenced output, else the summary; anything but success is an error.
  const text = inv?.output ?? inv?.summary ?? tool.summary ?? 'no result was recorded';
  return { text, isError: (inv?.status ?? tool.status) !== 'succeeded' };
}
