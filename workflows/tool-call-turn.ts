/**
 * A turn that is one tool call an MCP client made (`callToolRequest`): no model step. The author, the tool and its
 * arguments come from the api's record, checked by an activity (session, rights, first use); then the call runs
 * through `runTool` exactly as a model's tool_use does: breaker and kill switch, authorization, an approval by
 * another human for T3/T4, execution, and the result sanitized, fenced and screened for the session. The call counts
 * against the same per-user and per-org rate limits as a typed message: an agent is one more way in, not a way
 * around them.
 */
import type { TurnState, WorkflowRequestRef } from '../common/session';
import { steps } from './activities';
import { runTool, type TurnIds } from './run-tool';
import type { CopilotSessionState } from './session-state';

/** The tool_use id of an MCP turn's call: one call per turn, so the turn names it (and its remediation's workflow id). */
export const mcpToolUseId = (turnId: string) => `mcp-${turnId}`;

export async function runToolCallTurn(ids: TurnIds, session: CopilotSessionState, turn: TurnState, request: WorkflowRequestRef): Promise<void> {
  const db = steps();
  const verified = await db.verifyToolCallRequest({ ...ids, requestId: request.requestId });
  if (!verified.ok) return session.refuse(turn, verified.reason);
  turn.userId = verified.userId;
  const limits = await db.checkRateLimits({ orgId: ids.orgId, userId: verified.userId, sessionId: ids.sessionId });
  if (!limits.ok) return session.refuse(turn, limits.reason);
  const toolUseId = mcpToolUseId(turn.turnId);
  await runTool(ids, session, turn, { id: toolUseId, name: verified.tool, input: verified.input });
  // The MCP client reads the call's outcome from its step (and the invocation's row); the answer repeats its summary.
  const step = turn.steps.find((s) => s.kind === 'tool' && s.toolUseId === toolUseId);
  session.finish(turn, step?.kind === 'tool' ? (step.summary ?? step.status) : 'the call was not run');
}
