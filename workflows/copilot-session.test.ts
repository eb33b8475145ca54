/**
 * The `copilotSession` workflow on a real Temporal dev server with scripted activities (no database, model or
 * agents): a T3 call that waits for a human and runs once approved (its command's outcome read from its row, not
 * from the result signal), an approval nobody decides (expired after the
 * short TTL `requestApproval` answers), the kill switch during a wait, and the breaker that trips after three
 * rejections in a row and refuses every later tool call until a verified reset. The full-system tests
 * (`*.int.test.ts`) cover the seams; these cover the workflow's own decisions, in seconds.
 */
import crypto from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../activities';
import { deviceCommandId } from '../common/ids';
import type { SessionState, ToolStepStatus } from '../common/session';
import { eventually, startWorkflowEnv, unscriptedActivities, workerWith, stopWorkflowEnv } from '../test/workflow-env';
import { approvalDecisionSignal, callToolRequestUpdate, commandResultsSignal, copilotPausedSignal, resetBreakerRequestUpdate, sendMessageUpdate, stateQuery } from './definitions';
import type { copilotSession } from './copilot-session';

const ORG = crypto.randomUUID();
const USER = crypto.randomUUID();
const APPROVER = crypto.randomUUID();
const ADMIN = crypto.randomUUID();
const DEVICE = crypto.randomUUID();
const DIGEST = 'ab'.repeat(32);
const RESTART = { device_id: DEVICE, service: 'Spooler', action: 'restart' };

let testEnv: TestWorkflowEnvironment;
beforeAll(async () => {
  testEnv = await startWorkflowEnv();
}, 60_000);
afterAll(async () => {
  await stopWorkflowEnv(testEnv);
});

/**
 * What the activities answer, as the database and the model would: every message asks for one restart of the
 * Spooler (T3, needs approval); the model answers once the tool ran; the approval expires after `approvalTtlMs`.
 */
function scriptedSession(opts: { approvalTtlMs?: number; refuseBatch?: string } = {}) {
  const calls: { name: keyof Activities; input: any }[] = [];
  const called = (name: keyof Activities) => calls.filter((c) => c.name === name).map((c) => c.input);
  const approvals: string[] = [];
  const record = <I>(name: keyof Activities, input: I) => void calls.push({ name, input });
  const rows = new Map<string, string>();
  const finishCommand = (commandId: string) => void rows.set(commandId, 'succeeded');
  const activities: Activities = {
    ...unscriptedActivities,
    verifyMessageRequest: async (input) => (record('verifyMessageRequest', input), { ok: true as const, userId: USER, text: 'restart the spooler' }),
    screenUserMessage: async () => ({ ok: true }),
    checkRateLimits: async () => ({ ok: true }),
    // Runs since Patch.OneStepAdmission verify, screen and check the limits in one step.
    admitUserMessage: async (input) => (record('admitUserMessage', input), { ok: true as const, userId: USER, text: 'restart the spooler' }),
    recordUserMessage: async () => undefined,
    reserveBudget: async () => ({ ok: true, reservationId: crypto.randomUUID(), amountMicros: 1000 }),
    callModel: async (input) => {
      record('callModel', input);
      return input.step === 0
        ? { text: 'Restarting the spooler.', stopReason: 'tool_use', toolUses: [{ id: `toolu_${input.turnId}`, name: 'manage_service', input: RESTART }] }
        : { text: 'Done.', stopReason: 'end_turn', toolUses: [] };
    },
    authorizeToolCall: async (input) => {
      record('authorizeToolCall', input);
      const invocationId = `${input.sessionId}:${input.turnId}:${input.toolUse.id}`;
      const commands = [{ deviceId: DEVICE, kind: 'manage_service' as const, params: { service: 'Spooler', action: 'restart' } }];
      return { decision: 'approve', invocationId, tier: 3, digest: DIGEST, targets: [DEVICE], execution: { type: 'devices', commands } };
    },
    requestApproval: async (input) => {
      record('requestApproval', input);
      const approvalId = crypto.randomUUID();
      approvals.push(approvalId);
      return { approvalId, expiresAt: new Date(Date.now() + (opts.approvalTtlMs ?? 60_000)).toISOString() };
    },
    // The decision the approver recorded is the signal's, except a forged one (an approver the record does not name).
    verifyApprovalDecision: async ({ signal }) => {
      record('verifyApprovalDecision', signal);
      if (signal.approverId !== APPROVER) return { valid: false, reason: 'not the approver who decided' };
      return { valid: true, outcome: { status: signal.decision, approverId: signal.approverId, channel: signal.channel, reason: signal.reason } };
    },
    // The same two checks as one step (Patch.QueueWithApproval): the batch is queued only for a verified approval.
    verifyDecisionAndQueue: async ({ signal, batch }) => {
      const verdict = await activities.verifyApprovalDecision({ signal });
      if (!verdict.valid) return { ...verdict, signal };
      if (verdict.outcome.status !== 'approved') return { ...verdict, signal };
      return { ...verdict, signal, queued: await activities.queueDeviceCommands(batch) };
    },
    expireApproval: async (input) => (record('expireApproval', input), { status: 'expired' }),
    cancelApproval: async (input) => (record('cancelApproval', input), { status: 'cancelled', reason: input.reason }),
    recordBreakerTrip: async (input) => record('recordBreakerTrip', input),
    recordLocalDenial: async (input) => record('recordLocalDenial', input),
    // The command's row, as the api would keep it: pending once queued, until `finishCommand` records its outcome.
    queueDeviceCommands: async (input) => {
      record('queueDeviceCommands', input);
      if (opts.refuseBatch) throw ApplicationFailure.nonRetryable(opts.refuseBatch, 'CommandRefused');
      for (const c of input.commands) rows.set(c.commandId, 'pending');
      return { kind: input.kind, params: input.params, commands: input.commands, settled: [] };
    },
    readCommandOutcomes: async (input) => {
      record('readCommandOutcomes', input);
      return { outcomes: input.claims.flatMap(({ commandId }) => (rows.get(commandId) === 'succeeded' ? [{ commandId, status: 'succeeded' as const }] : [])) };
    },
    recordToolResult: async (input) => ({ invocationId: input.invocationId, status: 'succeeded', summary: 'Spooler restarted' }),
    readCopilotPaused: async (input) => (record('readCopilotPaused', input), { paused: input.claimedPaused }),
    // Only the reset request the api recorded for an org admin counts.
    // An MCP client's tools/call: the record names the author, the tool and its arguments; an unknown id is refused.
    verifyToolCallRequest: async (input) => {
      record('verifyToolCallRequest', input);
      return input.requestId === forgedCall ? { ok: false, reason: 'this tool call was refused: no such request was recorded' } : { ok: true, userId: USER, tool: 'manage_service', input: RESTART };
    },
    verifyBreakerReset: async (input) => (input.requestId === resetByAdmin ? { ok: true, userId: ADMIN } : { ok: false, reason: 'no such request from an org admin' }),
  };
  return { activities, calls, called, approvals, finishCommand };
}
const resetByAdmin = crypto.randomUUID();
const forgedCall = crypto.randomUUID();

async function startSession(client: Client, taskQueue: string): Promise<WorkflowHandle<typeof copilotSession>> {
  const sessionId = crypto.randomUUID();
  return client.workflow.start<typeof copilotSession>('copilotSession', { taskQueue, workflowId: `copilot:${ORG}:${sessionId}`, args: [{ sessionId, orgId: ORG, userId: USER }] });
}

const state = (h: WorkflowHandle) => h.query(stateQuery);
const send = async (h: WorkflowHandle) => (await h.executeUpdate(sendMessageUpdate, { args: [{ requestId: crypto.randomUUID() }] })).turnId;
const turnOf = (s: SessionState, turnId: string) => s.turns.find((t) => t.turnId === turnId);
const toolStep = (s: SessionState, turnId: string) => turnOf(s, turnId)?.steps.find((st) => st.kind === 'tool');
const turnEnded = (turnId: string) => (s: SessionState) => ['answered', 'refused', 'failed'].includes(turnOf(s, turnId)?.status ?? '');
const waitingFor = (h: WorkflowHandle) => eventually(() => state(h), (s) => s.pendingApproval !== null, 'the approval to be requested');
const decide = (h: WorkflowHandle, approvalId: string, decision: 'approved' | 'rejected', approverId = APPROVER) =>
  h.signal(approvalDecisionSignal, { approvalId, decision, approverId, channel: 'console', digest: DIGEST, reason: `${decision} in a test` });

it('runs a T3 call only after the approver decides, ignoring a decision the record does not back', async () => {
  const world = scriptedSession();
  const { worker, taskQueue } = await workerWith(testEnv, world.activities);
  await worker.runUntil(async () => {
    const h = await startSession(testEnv.client, taskQueue);
    const turnId = await send(h);
    const waiting = await waitingFor(h);
    expect(waiting).toMatchObject({ status: 'waiting_approval', pendingApproval: { tool: 'manage_service', tier: 3, approvalId: world.approvals[0] } });
    expect(toolStep(waiting, turnId)).toMatchObject({ status: 'awaiting_approval', tier: 3 });

    // Someone who is not the recorded approver signals an approval: checked, ignored, and the wait goes on.
    await decide(h, world.approvals[0]!, 'approved', crypto.randomUUID());
    await eventually(() => world.called('verifyApprovalDecision').length, (n) => n === 1, 'the forged decision to be checked');
    expect((await state(h)).status).toBe('waiting_approval');
    expect(world.called('queueDeviceCommands')).toEqual([]);

    await decide(h, world.approvals[0]!, 'approved');
    // Queued once, under the id made from its invocation and device (the idempotency key), naming this workflow.
    const invocationId = world.called('authorizeToolCall').map((a) => `${a.sessionId}:${a.turnId}:${a.toolUse.id}`)[0]!;
    const commandId = deviceCommandId(invocationId, DEVICE);
    const [queued] = await eventually(async () => world.called('queueDeviceCommands'), (q) => q.length === 1, 'the command to be queued');
    expect(queued).toEqual({ orgId: ORG, kind: 'manage_service', params: { service: 'Spooler', action: 'restart' }, reportTo: h.workflowId, commands: [{ commandId, deviceId: DEVICE }] });

    // A result signal is a hint: while the row says the command is still pending, the tool is still running.
    await h.signal(commandResultsSignal, { results: [{ commandId, status: 'succeeded' }] });
    await eventually(async () => world.called('readCommandOutcomes'), (r) => r.length === 1, 'the hint to be checked');
    expect(world.called('readCommandOutcomes')[0]).toEqual({ orgId: ORG, reportTo: h.workflowId, invocationId, claims: [{ commandId, status: 'succeeded' }] });
    expect(toolStep(await state(h), turnId)).toMatchObject({ status: 'running' });

    // The row records the outcome; the next read finds it and the turn goes on (a read that settled nothing is read
    // again after UNCONFIRMED_HINTS_RECHECK, the hint kept until then).
    world.finishCommand(commandId);
    await h.signal(commandResultsSignal, { results: [{ commandId, status: 'succeeded' }] });
    const done = await eventually(() => state(h), turnEnded(turnId), 'the turn to end');
    expect(turnOf(done, turnId)).toMatchObject({ status: 'answered', answer: 'Done.' });
    expect(toolStep(done, turnId)).toMatchObject({ status: 'succeeded', summary: 'Spooler restarted', approvalId: world.approvals[0] });
    expect(done).toMatchObject({ status: 'idle', pendingApproval: null, breaker: { streak: 0, tripped: false } });
    expect(world.called('queueDeviceCommands')).toHaveLength(1);
    await h.terminate();
  });
});

it("asks the admission to book the first model call and sends that call under the booking, without a reservation of its own", async () => {
  const world = scriptedSession();
  const reserved: unknown[] = [];
  const booked = { reservationId: 'booked-with-the-admission', amountMicros: 1000 };
  const { worker, taskQueue } = await workerWith(testEnv, {
    ...world.activities,
    admitUserMessage: async (input) => ({ ok: true as const, userId: USER, text: 'hello', ...(input.bookFirstCall ? { booked } : {}) }),
    reserveBudget: async (input) => (reserved.push(input), { ok: true, reservationId: crypto.randomUUID(), amountMicros: 1000 }),
    callModel: async (input) => (world.calls.push({ name: 'callModel', input }), { text: 'Hello.', stopReason: 'end_turn', toolUses: [] }),
  });
  await worker.runUntil(async () => {
    const h = await startSession(testEnv.client, taskQueue);
    const turnId = await send(h);
    const done = await eventually(() => state(h), turnEnded(turnId), 'the turn to end');
    expect(turnOf(done, turnId)).toMatchObject({ status: 'answered', answer: 'Hello.' });
    expect(world.called('callModel')).toEqual([expect.objectContaining({ step: 0, reservationId: booked.reservationId })]);
    expect(reserved).toEqual([]);
    await h.terminate();
  });
});

it('shows nothing as waiting for an approval once the turn fails at the approved batch: the approval is over, the step never ran', async () => {
  const world = scriptedSession({ refuseBatch: 'the batch is not the one approved; nothing was queued' });
  const { worker, taskQueue } = await workerWith(testEnv, world.activities);
  await worker.runUntil(async () => {
    const h = await startSession(testEnv.client, taskQueue);
    const turnId = await send(h);
    await waitingFor(h);
    await decide(h, world.approvals[0]!, 'approved');
    const done = await eventually(() => state(h), turnEnded(turnId), 'the turn to end');
    expect(turnOf(done, turnId)).toMatchObject({ status: 'failed', error: 'the batch is not the one approved; nothing was queued' });
    expect(done).toMatchObject({ status: 'idle', pendingApproval: null });
    expect(toolStep(done, turnId)).toMatchObject({ status: 'failed', summary: 'the batch is not the one approved; nothing was queued' });
    await h.terminate();
  });
});

it("runs an MCP client's recorded tool call as a turn without a model step, through the same approval, and refuses an unrecorded one", async () => {
  const world = scriptedSession();
  const { worker, taskQueue } = await workerWith(testEnv, world.activities);
  await worker.runUntil(async () => {
    const h = await startSession(testEnv.client, taskQueue);
    const callTool = async (requestId: string) => (await h.executeUpdate(callToolRequestUpdate, { args: [{ requestId }] })).turnId;
    // Malformed payloads never enter history.
    await expect(h.executeUpdate(callToolRequestUpdate, { args: [{ requestId: 'x', tool: 'restart_device' } as never] })).rejects.toThrow();

    const refusedTurn = await callTool(forgedCall);
    const refused = await eventually(() => state(h), turnEnded(refusedTurn), 'the unrecorded call to be refused');
    expect(turnOf(refused, refusedTurn)).toMatchObject({ toolCall: true, status: 'refused', steps: [] });
    expect(world.called('authorizeToolCall')).toEqual([]);

    const turnId = await callTool(crypto.randomUUID());
    const waiting = await waitingFor(h);
    expect(toolStep(waiting, turnId)).toMatchObject({ status: 'awaiting_approval', tier: 3, toolUseId: `mcp-${turnId}` });
    // The author is the verified one, and the call is the record's.
    expect(world.called('authorizeToolCall')[0]).toMatchObject({ turnId, userId: USER, toolUse: { name: 'manage_service', input: RESTART } });
    await decide(h, world.approvals[0]!, 'approved');
    const invocationId = `${h.workflowId.split(':')[2]}:${turnId}:mcp-${turnId}`;
    const commandId = deviceCommandId(invocationId, DEVICE);
    await eventually(async () => world.called('queueDeviceCommands'), (q) => q.length === 1, 'the command to be queued');
    world.finishCommand(commandId);
    await h.signal(commandResultsSignal, { results: [{ commandId, status: 'succeeded' }] });
    const done = await eventually(() => state(h), turnEnded(turnId), 'the turn to end');
    expect(turnOf(done, turnId)).toMatchObject({ toolCall: true, status: 'answered', answer: 'Spooler restarted' });
    expect(turnOf(done, turnId)?.steps.map((st) => st.kind)).toEqual(['tool']);
    expect(world.called('callModel')).toEqual([]);
    expect(world.called('queueDeviceCommands')).toHaveLength(1);
    await h.terminate();
  });
});

it('treats an approval nobody decides as rejected once its TTL passes, and runs nothing', async () => {
  const world = scriptedSession({ approvalTtlMs: 1000 });
  const { worker, taskQueue } = await workerWith(testEnv, world.activities);
  await worker.runUntil(async () => {
    const h = await startSession(testEnv.client, taskQueue);
    const started = Date.now();
    const turnId = await send(h);
    const done = await eventually(() => state(h), turnEnded(turnId), 'the approval to expire');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    expect(toolStep(done, turnId)).toMatchObject({ status: 'rejected', summary: 'expired' });
    expect(world.called('expireApproval')).toEqual([{ approvalId: world.approvals[0] }]);
    expect(world.called('queueDeviceCommands')).toEqual([]);
    // An expiry counts toward the breaker like a rejection.
    expect(done.breaker).toEqual({ streak: 1, tripped: false });
    await h.terminate();
  });
});

it('cancels the approval being waited on when an admin pauses the copilot', async () => {
  const world = scriptedSession();
  const { worker, taskQueue } = await workerWith(testEnv, world.activities);
  await worker.runUntil(async () => {
    const h = await startSession(testEnv.client, taskQueue);
    const turnId = await send(h);
    await waitingFor(h);
    await h.signal(copilotPausedSignal, { paused: true, by: ADMIN });
    const done = await eventually(() => state(h), turnEnded(turnId), 'the turn to end');
    expect(done.paused).toBe(true);
    expect(toolStep(done, turnId)).toMatchObject({ status: 'rejected', summary: 'the copilot was paused for this organization' });
    expect(world.called('cancelApproval')).toEqual([{ approvalId: world.approvals[0], reason: 'the copilot was paused for this organization' }]);
    expect(world.called('queueDeviceCommands')).toEqual([]);
    expect(done.breaker.streak).toBe(0); // a pause is nobody's rejection
    await h.terminate();
  });
});

it('trips the breaker after three rejections in a row and refuses every later tool call until a verified reset', async () => {
  const world = scriptedSession();
  const { worker, taskQueue } = await workerWith(testEnv, world.activities);
  await worker.runUntil(async () => {
    const h = await startSession(testEnv.client, taskQueue);
    const statuses: (ToolStepStatus | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      const turnId = await send(h);
      await waitingFor(h);
      await decide(h, world.approvals[i]!, 'rejected');
      statuses.push(toolStep(await eventually(() => state(h), turnEnded(turnId), `turn ${i + 1} to end`), turnId)?.status);
    }
    expect(statuses).toEqual(['rejected', 'rejected', 'rejected']);
    expect((await state(h)).breaker).toEqual({ streak: 3, tripped: true });
    expect(world.called('recordBreakerTrip')).toEqual([expect.objectContaining({ orgId: ORG, streak: 3 })]);

    // Tripped: the next call is denied by the workflow itself, without authorization or an approver being asked.
    const refused = await send(h);
    const after = await eventually(() => state(h), turnEnded(refused), 'the fourth turn to end');
    expect(toolStep(after, refused)).toMatchObject({ status: 'denied', summary: expect.stringMatching(/circuit breaker of this session tripped/) });
    expect(world.called('authorizeToolCall')).toHaveLength(3);
    expect(world.called('requestApproval')).toHaveLength(3);
    expect(world.called('recordLocalDenial')).toEqual([expect.objectContaining({ rule: 'breaker', tool: 'manage_service' })]);

    // A reset the api has no record of changes nothing; an org admin's recorded one re-arms the breaker.
    expect(await h.executeUpdate(resetBreakerRequestUpdate, { args: [{ requestId: crypto.randomUUID() }] })).toEqual({ applied: false, reason: 'no such request from an org admin' });
    expect((await state(h)).breaker.tripped).toBe(true);
    expect(await h.executeUpdate(resetBreakerRequestUpdate, { args: [{ requestId: resetByAdmin }] })).toEqual({ applied: true });
    expect((await state(h)).breaker).toEqual({ streak: 0, tripped: false });
    await send(h);
    await waitingFor(h);
    expect(world.called('authorizeToolCall')).toHaveLength(4);
    await h.terminate();
  });
});
