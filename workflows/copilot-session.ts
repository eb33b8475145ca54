/**
 * `copilotSession`: one conversation between a technician and the copilot. Messages arrive through the
 * `sendMessage` update; each becomes a turn: record the message, ask the model, run the tools it asks for (each
 * authorized, and approved by a human where the tier says so), feed the results back, until the model answers
 * or the step cap is reached. Signals carry approval decisions, breaker resets and the org's kill switch.
 */
import { ApplicationFailure, allHandlersFinished, condition, continueAsNew, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import {
  ApprovalDecisionSignal,
  CopilotPausedSignal,
  MAX_STEPS_PER_TURN,
  ResetBreakerSignal,
  SendMessageInput,
  type CopilotSessionInput,
  type ToolResultRef,
  type TurnState,
} from '../common/session';
import { db, model } from './activities';
import { approvalDecisionSignal, copilotPausedSignal, resetBreakerSignal, sendMessageUpdate, stateQuery } from './definitions';
import { runTool, type TurnIds } from './run-tool';
import { CopilotSessionState, type CarriedState } from './session-state';

export async function copilotSession(input: CopilotSessionInput & CarriedState): Promise<void> {
  const session = new CopilotSessionState(input.sessionId, input.orgId, input);

  setHandler(sendMessageUpdate, (msg) => ({ turnId: session.enqueue(msg.userId, msg.text).turnId }), {
    // Refused before it enters history; the api shows the reason to the user (`body.text: …`).
    validator: (msg) => {
      const parsed = SendMessageInput.safeParse(msg);
      if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? 'invalid message');
    },
  });
  setHandler(stateQuery, () => session.snapshot());
  // Malformed signals are dropped here; well-formed decisions are still verified by an activity before they count.
  setHandler(approvalDecisionSignal, (raw) => {
    const parsed = ApprovalDecisionSignal.safeParse(raw);
    if (parsed.success) session.decisions.push(parsed.data);
  });
  setHandler(resetBreakerSignal, (raw) => {
    if (ResetBreakerSignal.safeParse(raw).success) session.resetBreaker();
  });
  setHandler(copilotPausedSignal, (raw) => {
    const parsed = CopilotPausedSignal.safeParse(raw);
    if (parsed.success) session.paused = parsed.data.paused;
  });

  for (;;) {
    await condition(() => session.hasQueued());
    const { turn, text } = session.startNext();
    try {
      await runTurn({ sessionId: input.sessionId, orgId: input.orgId, turnId: turn.turnId }, session, turn, text);
    } catch (err) {
      session.fail(turn, err instanceof ApplicationFailure ? err.message : 'the turn failed; see the server log');
    }
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      // Checked again after the wait, in the same activation as continueAsNew, so no message can slip between.
      if (!session.hasQueued()) await continueAsNew<typeof copilotSession>({ ...input, ...session.carryOver() });
    }
  }
}

// Added after histories were recorded: sessions replaying an older history skip the guards for the turns already
// in it, and every new turn runs them.
const GUARDS_PATCH = 'budget-and-rate-limits';
const SCREEN_PATCH = 'screen-user-message';

async function runTurn(ids: TurnIds, session: CopilotSessionState, turn: TurnState, text: string): Promise<void> {
  await db.recordUserMessage({ ...ids, userId: turn.userId, text });
  if (patched(SCREEN_PATCH)) {
    const screened = await db.screenUserMessage({ ...ids, userId: turn.userId, text });
    if (!screened.ok) return session.refuse(turn, screened.reason);
  }
  if (patched(GUARDS_PATCH)) {
    const limits = await db.checkRateLimits({ orgId: ids.orgId, userId: turn.userId, sessionId: ids.sessionId });
    if (!limits.ok) return session.refuse(turn, limits.reason);
  }
  let toolResults: ToolResultRef[] = [];
  for (let step = 0; step < MAX_STEPS_PER_TURN; step++) {
    let reservationId: string | undefined;
    if (patched(GUARDS_PATCH)) {
      const budget = await db.reserveBudget({ ...ids, step, toolResults });
      if (!budget.ok) return session.refuse(turn, budget.reason);
      reservationId = budget.reservationId;
    }
    let reply;
    try {
      reply = await model.callModel({ ...ids, step, toolResults, reservationId });
    } catch (err) {
      if (reservationId) await db.releaseBudget({ orgId: ids.orgId, reservationId });
      throw err;
    }
    session.recordModelStep(turn, step, reply);
    if (reply.toolUses.length === 0) {
      session.finish(turn, reply.text);
      return;
    }
    toolResults = [];
    for (const toolUse of reply.toolUses) toolResults.push(await runTool(ids, session, turn, toolUse));
  }
  // Tool results of the last step were never shown to the model; the answer says so plainly.
  session.finish(turn, `I stopped after ${MAX_STEPS_PER_TURN} steps without a final answer. Ask me to continue if needed.`);
}
