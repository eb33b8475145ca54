/**
 * Signals and updates are a trust boundary too: anyone holding a Temporal client can send them. Malformed payloads
 * sent straight through the Temporal client to running workflows are refused (updates) or ignored (signals)
 * without failing a workflow task, and the workflows keep working: the session answers its next message with its
 * tool run, and the remediation still obeys a well-formed pause.
 */
import crypto from 'node:crypto';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { createEnrollmentKey } from '../prisma/seed-demo';
import { startTestSystem, toolCall, toolStepOf, waitUntil, type TestSystem } from '../test/harness';
import {
  approvalDecisionSignal,
  copilotPausedSignal,
  remediationControlSignal,
  remediationProgressQuery,
  remediationResultsSignal,
  resetBreakerSignal,
  sendMessageUpdate,
  stateQuery,
} from './definitions';
import type { remediation } from './remediation';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem();
});
afterAll(async () => {
  await sys?.stop();
});

const uuid = () => crypto.randomUUID();
/** Payloads no handler should act on: wrong shapes and types, unknown and prototype keys, huge and broken strings. */
const junk = (valid: Record<string, unknown>): unknown[] => [
  undefined,
  null,
  'garbage',
  42,
  [valid],
  {},
  { ...valid, extra: true },
  JSON.parse(`{"__proto__": ${JSON.stringify(valid)}}`),
  JSON.parse(`{"constructor": {"prototype": {"polluted": true}}, ${JSON.stringify(valid).slice(1)}`),
  ...Object.keys(valid).flatMap((key) => [
    { ...valid, [key]: undefined },
    { ...valid, [key]: null },
    { ...valid, [key]: 'x'.repeat(100_000) },
    { ...valid, [key]: '\ud800\u0000' },
    { ...valid, [key]: { _placeholder: true, num: 0 } },
  ]),
];
const failedTasks = async (handle: WorkflowHandle) =>
  ((await handle.fetchHistory()).events ?? []).filter((e) => e.workflowTaskFailedEventAttributes).map((e) => e.workflowTaskFailedEventAttributes?.failure?.message);

it('ignores malformed signals and refuses malformed updates to a session, which then answers as before', async () => {
  const tech = sys.keyOf('technician');
  const sessionId = await sys.startSession(tech);
  const { workflowId, userId } = await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } });
  const handle = sys.temporal.client.workflow.getHandle(workflowId);

  const decision = { approvalId: uuid(), decision: 'approved', approverId: uuid(), channel: 'api', digest: 'a'.repeat(64) };
  for (const payload of junk(decision)) await handle.signal(approvalDecisionSignal, payload as never);
  for (const payload of junk({ adminId: uuid() })) await handle.signal(resetBreakerSignal, payload as never);
  // Each of these would pause the session's tool calls, were it taken.
  for (const payload of [...junk({ paused: true, by: uuid() }), { paused: true }, { paused: 'true', by: uuid() }]) {
    await handle.signal(copilotPausedSignal, payload as never);
  }
  await handle.signal('noSuchSignal', { paused: true });

  for (const payload of [...junk({ text: 'list the devices', userId }), { text: '   ', userId }, { text: 'x'.repeat(8001), userId }]) {
    await expect(handle.executeUpdate(sendMessageUpdate, { args: [payload as never] })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
  }

  // Text the database cannot store never becomes a turn (it would stall the turn's first activity), whether it
  // comes through the api or straight to the workflow (the junk above): the technician sees why.
  for (const text of ['list the devices\u0000', 'list the devices \ud83d']) {
    const refused = await sys.request('POST', `/v1/sessions/${sessionId}/messages`, { key: tech, body: { text } });
    expect(refused).toEqual({ status: 400, body: { error: { code: 'BAD_REQUEST', message: expect.stringMatching(/^body\.text: .*must not contain NUL characters or unpaired surrogates$/) } } });
  }

  const state = await handle.query(stateQuery);
  expect(state).toMatchObject({ paused: false, turns: [], breaker: { streak: 0, tripped: false } });
  expect(await failedTasks(handle)).toEqual([]);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();

  const turnId = await sys.send(sessionId, tech, toolCall('list_devices', {}));
  const session = await sys.waitForTurn(sessionId, tech, turnId);
  expect(session.turns.find((t: { turnId: string }) => t.turnId === turnId)).toMatchObject({ status: 'answered' });
  expect(toolStepOf(session, turnId)).toMatchObject({ tool: 'list_devices', status: 'succeeded' });
  expect(await failedTasks(handle)).toEqual([]);
});

it('ignores malformed control and result signals to a running remediation, which still obeys a well-formed pause', async () => {
  // One device that is not connected: its command waits, so the remediation stays running while it is steered.
  const { id: orgId, siteIds } = sys.seed.orgs.acme;
  const key = await createEnrollmentKey(sys.prisma, { orgId, siteId: siteIds[0]! });
  const enrolled = await sys.request('POST', '/v1/agents/enroll', { body: { key, hostname: 'sig-offline', os: 'Linux', executor: 'linux' } });
  expect(enrolled.status).toBe(201);
  const devices = [enrolled.body.deviceId as string];
  const prefix = `${uuid()}:toolu_signals`;
  const handle = await sys.temporal.client.workflow.start<typeof remediation>('remediation', {
    taskQueue: sys.taskQueue,
    workflowId: `remediation-signals-${uuid()}`,
    args: [{ orgId, devices, kind: 'system_info', params: {}, batchSize: 1, maxFailures: 0, commandPrefix: prefix }],
  });
  try {
    const progress = () => handle.query(remediationProgressQuery);
    await waitUntil(async () => (await progress()).running === 1, 'the remediation to start its device');

    for (const payload of [...junk({ action: 'cancel', by: uuid() }), { action: 'cancel' }, { action: 'explode', by: uuid() }, { action: 'CANCEL', by: uuid() }]) {
      await handle.signal(remediationControlSignal, payload as never);
    }
    expect(await progress()).toMatchObject({ state: 'running', running: 1, cancelled: 0 });
    expect(await failedTasks(handle)).toEqual([]);

    // Results: malformed ones, and well-formed ones for commands this remediation never started, change nothing.
    const commandId = `${prefix}:${devices[0]}`;
    for (const payload of [
      ...junk({ results: [{ commandId, status: 'succeeded' }] }),
      { results: [] },
      { results: [{ commandId, status: 'done' }] },
      { results: [{ commandId: `${prefix}:${uuid()}`, status: 'succeeded' }] },
      { results: Array.from({ length: 501 }, () => ({ commandId, status: 'failed' })) },
    ]) {
      await handle.signal(remediationResultsSignal, payload as never);
    }
    expect(await progress()).toMatchObject({ state: 'running', running: 1, succeeded: 0, failed: 0 });
    expect(await failedTasks(handle)).toEqual([]);

    await handle.signal(remediationControlSignal, { action: 'pause', by: uuid() });
    await waitUntil(async () => (await progress()).state === 'paused', 'the remediation to pause');
    expect(await failedTasks(handle)).toEqual([]);
  } finally {
    await handle.terminate('test over');
  }
});
