/**
 * `copilotSession`: one conversation between a technician and the copilot. Messages arrive through the
 * `sendMessage` update; each becomes a turn: record the message, ask the model, run the tools it asks for (each
 * authorized first), feed the results back, until the model answers or the step cap is reached.
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  workflowInfo,
  type RetryPolicy,
} from '@temporalio/workflow';
import { NON_RETRYABLE_FAILURES } from '../common/failures';
import {
  MAX_STEPS_PER_TURN,
  SendMessageInput,
  type CopilotSessionInput,
  type Step,
  type TurnState,
} from '../common/session';
import type { Activities } from '../activities';
import { sendMessageUpdate, stateQuery } from './definitions';
import { CopilotSessionState } from './session-state';

const retry: RetryPolicy = { maximumAttempts: 5, initialInterval: '1s', nonRetryableErrorTypes: NON_RETRYABLE_FAILURES };

const { recordUserMessage, authorizeToolCall, runDatabaseTool, recordToolResult } = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry,
});

// The model call heartbeats while it waits, so a worker that dies mid-call is noticed in seconds, not minutes.
const { callModel } = proxyActivities<Activities>({
  startToCloseTimeout: '3m',
  heartbeatTimeout: '15s',
  retry,
});

// Completed asynchronously by the api when the agent's result arrives (or the command's TTL passes), so the
// wait survives worker restarts. The timeout is a backstop above the command's own TTL.
const { dispatchDeviceCommand } = proxyActivities<Activities>({
  startToCloseTimeout: '15m',
  retry: { ...retry, maximumAttempts: 3 },
});

export async function copilotSession(input: CopilotSessionInput): Promise<void> {
  const session = new CopilotSessionState(input.sessionId, input.orgId, {
    turns: input.turns as TurnState[] | undefined,
    turnCounter: input.turnCounter,
  });

  setHandler(sendMessageUpdate, (msg) => ({ turnId: session.enqueue(msg.userId, msg.text).turn.turnId }), {
    validator: (msg) => {
      SendMessageInput.parse(msg);
    },
  });
  setHandler(stateQuery, () => session.snapshot());

  for (;;) {
    await condition(() => session.hasQueued());
    const { turn, text } = session.startNext();
    try {
      await runTurn(input, session, turn, text);
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

async function runTurn(input: CopilotSessionInput, session: CopilotSessionState, turn: TurnState, text: string) {
  const ids = { sessionId: input.sessionId, orgId: input.orgId, turnId: turn.turnId };
  await recordUserMessage({ ...ids, userId: turn.userId, text });

  let toolResults: { toolUseId: string; invocationId: string }[] = [];
  for (let step = 0; step < MAX_STEPS_PER_TURN; step++) {
    const reply = await callModel({ ...ids, step, toolResults });
    session.recordModelStep(turn, step, reply);
    if (reply.toolUses.length === 0) {
      session.finish(turn, reply.text);
      return;
    }
    toolResults = [];
    for (const toolUse of reply.toolUses) {
      const outcome = await runTool(ids, session, turn, toolUse);
      toolResults.push({ toolUseId: toolUse.id, invocationId: outcome.invocationId });
    }
  }
  // Tool results of the last step were never shown to the model; the answer says so plainly.
  session.finish(turn, `I stopped after ${MAX_STEPS_PER_TURN} steps without a final answer. Ask me to continue if needed.`);
}

async function runTool(
  ids: { sessionId: string; orgId: string; turnId: string },
  session: CopilotSessionState,
  turn: TurnState,
  toolUse: { id: string; name: string; input: unknown },
): Promise<Extract<Step, { kind: 'tool' }>> {
  const auth = await authorizeToolCall({ ...ids, userId: turn.userId, toolUse });
  const step = session.recordToolStep(turn, {
    kind: 'tool',
    toolUseId: toolUse.id,
    tool: toolUse.name,
    invocationId: auth.invocationId,
    status: auth.decision === 'deny' ? 'denied' : 'running',
    summary: auth.decision === 'deny' ? auth.reason : undefined,
  });
  if (auth.decision === 'deny') return step;

  let outcome;
  if (auth.execution.type === 'database') {
    outcome = await runDatabaseTool({ invocationId: auth.invocationId });
  } else {
    // The command id is the idempotency key: the same id on every retry and replay.
    const commandId = `${auth.invocationId}:cmd`;
    const dispatched = await dispatchDeviceCommand({ orgId: ids.orgId, commandId, ...auth.execution });
    outcome = await recordToolResult({ invocationId: auth.invocationId, commandId: dispatched.commandId });
  }
  step.status = outcome.status;
  step.summary = outcome.summary;
  return step;
}
