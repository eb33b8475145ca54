/**
 * `copilotSession`: one conversation between a technician and the copilot. Messages arrive through the
 * `sendMessage` update; each becomes a turn: verify and screen the message, record it, ask the model, run the tools
 * it asks for (each authorized, and approved by a human where the tier says so), feed the results back, until the
 * model answers or the step cap is reached. Signals carry approval decisions and the org's kill switch; breaker
 * resets arrive as an update.
 *
 * Anyone who reaches the Temporal frontend can send these, so no payload is believed: a message or a breaker reset
 * carries only the id of the request the api recorded, and an activity checks that record (author, session,
 * rights, first use) before the workflow acts on it; approval decisions are checked the same way.
 */
import { ApplicationFailure, allHandlersFinished, condition, continueAsNew, proxySinks, setHandler, workflowInfo } from '@temporalio/workflow';
import type { GatehouseSinks } from '../common/sinks';
import {
  ApprovalDecisionSignal,
  CopilotPausedSignal,
  MAX_STEPS_PER_TURN,
  ResetBreakerSignal,
  SendMessageInput,
  WorkflowRequestRef,
  type CopilotSessionInput,
  type ToolResultRef,
  type TurnState,
} from '../common/session';
import { db, model, steps } from './activities';
import { approvalDecisionSignal, callToolRequestUpdate, commandResultsSignal, copilotPausedSignal, resetBreakerRequestUpdate, resetBreakerSignal, sendMessageUpdate, stateQuery, turnQuery } from './definitions';
import { admitMessage } from './admit-message';
import { admitLegacyMessage } from './frozen/admit-legacy-message';
import { Patch, SESSION_PATCHES } from './patches';
import { askPatchesAtStart, isPatched } from './run-patches';
import { runTool, type TurnIds } from './run-tool';
import { runToolCallTurn } from './tool-call-turn';
import { CopilotSessionState, type CarriedState } from './session-state';

// Told after the activation and never on replay: no count twice, no event twice, nothing in the history.
const { metrics, sessionEvents } = proxySinks<GatehouseSinks>();


export async function copilotSession(input: CopilotSessionInput & CarriedState): Promise<void> {
  // First, before anything can wait: the run's markers all go into its first workflow task.
  askPatchesAtStart(SESSION_PATCHES);
  const session = new CopilotSessionState(input.sessionId, input.orgId, input);

  setHandler(sendMessageUpdate, (msg) => ({ turnId: session.enqueue(msg).turnId }), {
    // Malformed input is refused before it enters history; a well-formed one is verified when its turn starts.
    validator: (msg) => {
      const parsed = SendMessageInput.safeParse(msg);
      if (!parsed.success) throw new Error(parsed.error.issues[0]?.message ?? 'invalid message');
    },
  });
  // A tool call an MCP client made: a turn of one tool step, its author and call read from the api's record.
  setHandler(callToolRequestUpdate, (ref) => ({ turnId: session.enqueueToolCall(ref).turnId }), {
    validator: (ref) => void WorkflowRequestRef.parse(ref),
  });
  setHandler(stateQuery, () => session.snapshot());
  setHandler(turnQuery, (turnId) => session.turnView(turnId));
  // Some of the running tool call's device commands ended: a hint, checked against their rows (./device-commands.ts).
  setHandler(commandResultsSignal, session.commandHints.add);
  // Malformed signals are dropped here; well-formed decisions are still verified by an activity before they count.
  setHandler(approvalDecisionSignal, (raw) => {
    const parsed = ApprovalDecisionSignal.safeParse(raw);
    if (parsed.success) session.decisions.push(parsed.data);
  });
  // The breaker is re-armed only by a reset an org admin asked the api for, checked against its record.
  setHandler(
    resetBreakerRequestUpdate,
    async (ref) => {
      const verdict = await db.verifyBreakerReset({ sessionId: input.sessionId, orgId: input.orgId, workflowId: workflowInfo().workflowId, requestId: ref.requestId });
      if (verdict.ok) session.resetBreaker();
      return verdict.ok ? { applied: true } : { applied: false, reason: verdict.reason };
    },
    { validator: (ref) => void WorkflowRequestRef.parse(ref) },
  );
  setHandler(resetBreakerSignal, async (raw) => {
    const parsed = ResetBreakerSignal.safeParse(raw);
    if (!parsed.success) return;
    if (!isPatched(Patch.RefuseUnverifiedReset)) return session.resetBreaker();
    // Refused either way; a failure to audit it must not fail the session (a signal handler's failure would).
    await db
      .refuseUnverifiedRequest({ orgId: input.orgId, sessionId: input.sessionId, workflowId: workflowInfo().workflowId, kind: 'breaker_reset', claimedUserId: parsed.data.adminId })
      .catch(() => undefined);
  });
  setHandler(copilotPausedSignal, async (raw) => {
    const parsed = CopilotPausedSignal.safeParse(raw);
    if (!parsed.success) return;
    // Histories from before took the kill switch's state from the signal; now it is only a hint to read the record.
    if (!isPatched(Patch.PauseFromRecord)) return void (session.paused = parsed.data.paused);
    const claim = { orgId: input.orgId, sessionId: input.sessionId, workflowId: workflowInfo().workflowId, claimedPaused: parsed.data.paused, claimedUserId: parsed.data.by };
    // If the record cannot be read, only the safe direction is taken: a pause is obeyed, a resume is not.
    const record = await db.readCopilotPaused(claim).catch(() => null);
    session.paused = record ? record.paused : session.paused || parsed.data.paused;
  });

  for (;;) {
    await condition(() => session.hasQueued());
    const next = session.startNext();
    const { turn } = next;
    const ids = { sessionId: input.sessionId, orgId: input.orgId, turnId: turn.turnId };
    try {
      if ('toolCall' in next) await runToolCallTurn(ids, session, turn, next.toolCall);
      else await runTurn(ids, session, turn, next.message);
    } catch (err) {
      session.fail(turn, err instanceof ApplicationFailure ? err.message : 'the turn failed; see the server log');
    }
    if (turn.status === 'answered' || turn.status === 'refused' || turn.status === 'failed') {
      metrics.turnEnded(turn.status);
      // After the activation that ended it: whoever reads the turn on hearing this finds it ended.
      sessionEvents.turnEnded({ sessionId: input.sessionId, turnId: turn.turnId, status: turn.status });
    }
    if (workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      // Checked again after the wait, in the same activation as continueAsNew, so no message can slip between.
      if (!session.hasQueued()) await continueAsNew<typeof copilotSession>({ ...input, ...session.carryOver() });
    }
  }
}

async function runTurn(ids: TurnIds, session: CopilotSessionState, turn: TurnState, message: SendMessageInput): Promise<void> {
  // The first call's reservation when the admission booked it (Patch.BookWithAdmission); else each call reserves.
  let booked: string | undefined;
  if (isPatched(Patch.VerifiedTurns)) {
    const admitted = await admitMessage(ids, session, turn, message);
    if (!admitted) return;
    booked = admitted.booked?.reservationId;
  } else if (!(await admitLegacyMessage(ids, session, turn, message))) {
    return;
  }
  let toolResults: ToolResultRef[] = [];
  for (let step = 0; step < MAX_STEPS_PER_TURN; step++) {
    let reservationId: string | undefined;
    if (step === 0 && booked) reservationId = booked;
    else if (isPatched(Patch.Guards)) {
      const budget = await steps().reserveBudget({ ...ids, step, toolResults });
      if (!budget.ok) return session.refuse(turn, budget.reason);
      reservationId = budget.reservationId;
    }
    let reply;
    try {
      reply = await model.callModel({ ...ids, step, toolResults, reservationId });
    } catch (err) {
      if (reservationId) await steps().releaseBudget({ orgId: ids.orgId, reservationId });
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
