/**
 * Signals and updates are a trust boundary too: anyone holding a Temporal client can send them. Malformed payloads
 * sent straight through the Temporal client to running workflows are refused (updates) or ignored (signals)
 * without failing a workflow task, and the workflows keep working: the session answers its next message with its
 * tool run, and the remediation still obeys a recorded pause.
 *
 * Well-formed payloads are not believed either: a message, a breaker reset or a remediation's pause, resume or
 * cancel counts only when the api recorded it (a `WorkflowRequest` row, checked by an activity), and a remediation
 * takes its devices' outcomes from their `DeviceCommand` rows, never from a result signal's word. Every forgery
 * changes nothing and leaves an audit event; the api's own paths keep working.
 */
import crypto from 'node:crypto';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { createEnrollmentKey } from '../prisma/seed-demo';
import { startTestSystem, toolCall, toolStepOf, waitUntil, type TestSystem } from '../test/harness';
import {
  approvalDecisionSignal,
  copilotPausedSignal,
  remediationControlRequestUpdate,
  remediationControlSignal,
  remediationProgressQuery,
  commandResultsSignal,
  resetBreakerRequestUpdate,
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
/**
 * A run_remediation call as authorization records an allowed one (the plan it may become, bound to its digest): a
 * remediation queues commands only for such a call. Returns its invocation id, the remediation's command prefix.
 */
async function authorizedRemediation(plan: { devices: string[]; kind: string; params: Record<string, unknown> }): Promise<string> {
  const sessionId = await sys.startSession(sys.keyOf('technician'));
  const id = `${sessionId}:t1-signals-${uuid()}`;
  await sys.prisma.toolInvocation.create({
    data: {
      id,
      sessionId,
      orgId: sys.seed.orgs.acme.id,
      turnId: 't1',
      toolUseId: 'toolu_signals',
      toolName: 'run_remediation',
      input: {},
      tier: 1,
      decision: 'allow',
      status: 'running',
      digest: 'a'.repeat(64),
      execution: { type: 'remediation', ...plan, batchSize: 1, maxFailures: 0 } as never,
    },
  });
  return id;
}

/** The workflow id a session gives the remediation of one of its calls (workflows/run-tool.ts). */
async function remediationWorkflowId(invocationId: string): Promise<string> {
  const inv = await sys.prisma.toolInvocation.findUniqueOrThrow({ where: { id: invocationId }, include: { session: true } });
  return `${inv.session.workflowId}:remediation:${inv.toolUseId}`;
}

const refusals = (workflowId: string) => sys.prisma.auditEvent.findMany({ where: { action: 'workflow.request_refused', target: workflowId }, orderBy: { id: 'asc' } });
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

it('ignores malformed signals to a running remediation, refuses forged steering and results, and obeys a recorded pause', async () => {
  // Devices that are not connected: the first one's command waits, so the remediation stays running while it is
  // steered; the second is still queued when the org's pause ends the first (a remediation with nothing left to run
  // would finish, and an update sent to it then would have no workflow to answer).
  const { id: orgId, siteIds } = sys.seed.orgs.acme;
  const key = await createEnrollmentKey(sys.prisma, { orgId, siteId: siteIds[0]! });
  const enrolled = await sys.request('POST', '/v1/agents/enroll', { body: { key, hostname: 'sig-offline', os: 'Linux', executor: 'linux' } });
  expect(enrolled.status).toBe(201);
  const devices = [enrolled.body.deviceId as string, (await sys.enrollDevice('sig-offline-2')).deviceId];
  const prefix = await authorizedRemediation({ devices, kind: 'system_info', params: {} });
  const handle = await sys.temporal.client.workflow.start<typeof remediation>('remediation', {
    taskQueue: sys.taskQueue,
    // The id its session's workflow gives a remediation: commands are queued for that workflow only.
    workflowId: await remediationWorkflowId(prefix),
    args: [{ orgId, devices, kind: 'system_info', params: {}, batchSize: 1, maxFailures: 1, invocationId: prefix }],
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
      await handle.signal(commandResultsSignal, payload as never);
    }
    expect(await progress()).toMatchObject({ state: 'running', running: 1, succeeded: 0, failed: 0 });
    expect(await failedTasks(handle)).toEqual([]);

    // Well-formed steering that the api never recorded: the old signal, and the update with an unknown request.
    const admin = sys.seed.credentials.find((c) => c.role === 'admin' && c.org === sys.seed.orgs.acme.slug)!;
    const adminId = (await sys.prisma.user.findUniqueOrThrow({ where: { email: admin.email } })).id;
    await handle.signal(remediationControlSignal, { action: 'cancel', by: adminId });
    expect(await handle.executeUpdate(remediationControlRequestUpdate, { args: [{ requestId: uuid() }] })).toEqual({ applied: false, reason: expect.stringMatching(/did not come through Gatehouse/) });
    expect(await progress()).toMatchObject({ state: 'running', running: 1, cancelled: 0 });
    await waitUntil(async () => (await refusals(prefix)).length === 2, 'both forgeries to be audited');
    expect((await refusals(prefix)).map((e) => [e.actorId, (e.data as { kind: string }).kind])).toEqual(
      expect.arrayContaining([
        [adminId, 'remediation_cancel'],
        [null, 'remediation_control'],
      ]),
    );

    // A result signal that claims the device's command ended changes nothing while its row says it has not.
    await handle.signal(commandResultsSignal, { results: [{ commandId, status: 'succeeded' }] });
    const contradictions = () => sys.prisma.auditEvent.count({ where: { action: 'command.result_contradicted', target: prefix } });
    await waitUntil(async () => (await contradictions()) === 1, 'the forged result to be audited');
    expect(await progress()).toMatchObject({ running: 1, succeeded: 0, failed: 0, devices: { [devices[0]!]: 'running' } });
    // The hint is kept and read again every UNCONFIRMED_HINTS_RECHECK (2 s) until the command ends; the auditor sees the
    // forgery once, not once per read.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    expect(await contradictions()).toBe(1);

    // A request recorded as the api records it pauses it, once: the same request sent again is refused.
    const recorded = async (kind: string) =>
      (await sys.prisma.workflowRequest.create({ data: { orgId, sessionId: uuid(), workflowId: handle.workflowId, kind, userId: adminId } })).id;
    const pause = await recorded('remediation_pause');
    expect(await handle.executeUpdate(remediationControlRequestUpdate, { args: [{ requestId: pause }] })).toEqual({ applied: true });
    expect(await progress()).toMatchObject({ state: 'paused' });
    expect(await handle.executeUpdate(remediationControlRequestUpdate, { args: [{ requestId: pause }] })).toEqual({ applied: false, reason: expect.stringMatching(/used already/) });
    // While an admin has paused the org's copilot, no request resumes it.
    expect((await sys.request('POST', `/v1/orgs/${sys.seed.orgs.acme.slug}/copilot/pause`, { key: sys.keyOf('admin') })).status).toBe(200);
    try {
      expect(await handle.executeUpdate(remediationControlRequestUpdate, { args: [{ requestId: await recorded('remediation_resume') }] })).toEqual({
        applied: false,
        reason: 'the remediation was not resumed: an admin has paused the copilot for this organization',
      });
      expect(await progress()).toMatchObject({ state: 'paused' });
    } finally {
      expect((await sys.request('POST', `/v1/orgs/${sys.seed.orgs.acme.slug}/copilot/resume`, { key: sys.keyOf('admin') })).status).toBe(200);
    }

    // The org's pause ended the first device's waiting command (PAUSED, never sent), and the remediation hears it from
    // the row; a signal claiming success afterwards is only a hint to read that row again.
    expect(await sys.prisma.deviceCommand.findUniqueOrThrow({ where: { id: commandId } })).toMatchObject({ status: 'failed', errorCode: 'PAUSED' });
    await waitUntil(async () => (await progress()).failed === 1, 'the remediation to hear the paused command');
    await handle.signal(commandResultsSignal, { results: [{ commandId, status: 'succeeded' }] });
    expect(await progress()).toMatchObject({ state: 'paused', succeeded: 0, failed: 1, devices: { [devices[0]!]: 'failed' } });
    // A recorded cancel ends it; the second device never started.
    expect(await handle.executeUpdate(remediationControlRequestUpdate, { args: [{ requestId: await recorded('remediation_cancel') }] })).toEqual({ applied: true });
    expect(await handle.result()).toMatchObject({ succeeded: 0, failed: 1 });
    expect(await sys.prisma.deviceCommand.count({ where: { id: `${prefix}:${devices[1]}` } })).toBe(0);
    expect(await failedTasks(handle)).toEqual([]);
  } finally {
    await handle.terminate('test over').catch(() => undefined); // finished already, unless the test failed early
  }
});

it('refuses a message sent straight to Temporal in anyone\'s name, audits it, and never shows it to the model', async () => {
  const tech = sys.keyOf('technician');
  const sessionId = await sys.startSession(tech);
  const { workflowId, userId: techId } = await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } });
  const admin = sys.seed.credentials.find((c) => c.role === 'admin' && c.org === sys.seed.orgs.acme.slug)!;
  const adminId = (await sys.prisma.user.findUniqueOrThrow({ where: { email: admin.email } })).id;
  const handle = sys.temporal.client.workflow.getHandle(workflowId);
  const modelCalls = sys.modelStats.messages;
  const turnOf = async (turnId: string) => (await sys.waitForTurn(sessionId, tech, turnId)).turns.find((t: { turnId: string }) => t.turnId === turnId);

  // The old payload, naming the org admin as its author; and a request id the api never issued.
  const claimed = await handle.executeUpdate(sendMessageUpdate, { args: [{ text: toolCall('list_devices', {}), userId: adminId }] });
  expect(await turnOf(claimed.turnId)).toMatchObject({ status: 'refused', userId: '', answer: expect.stringMatching(/^this message was refused: it did not come through Gatehouse/), steps: [] });
  const invented = await handle.executeUpdate(sendMessageUpdate, { args: [{ requestId: uuid() }] });
  expect(await turnOf(invented.turnId)).toMatchObject({ status: 'refused', userId: '', steps: [] });

  // A real request is used once: sent again straight to Temporal, it is refused.
  const real = await sys.send(sessionId, tech, toolCall('list_devices', {}));
  expect(await turnOf(real)).toMatchObject({ status: 'answered', userId: techId });
  const { id: realRequest } = await sys.prisma.workflowRequest.findFirstOrThrow({ where: { workflowId, usedFor: real } });
  const replayed = await handle.executeUpdate(sendMessageUpdate, { args: [{ requestId: realRequest }] });
  expect(await turnOf(replayed.turnId)).toMatchObject({ status: 'refused', answer: expect.stringMatching(/used already/) });

  // A request recorded for another session does not run in this one.
  const other = await sys.startSession(tech);
  const { workflowId: otherWorkflow } = await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: other } });
  const { id: foreign } = await sys.prisma.workflowRequest.create({ data: { orgId: sys.seed.orgs.acme.id, sessionId: other, workflowId: otherWorkflow, kind: 'message', userId: techId, text: 'list the devices' } });
  const moved = await handle.executeUpdate(sendMessageUpdate, { args: [{ requestId: foreign }] });
  expect(await turnOf(moved.turnId)).toMatchObject({ status: 'refused', steps: [] });

  // Only the real message reached the model (one call for the tool, one for the answer), and only its text is stored.
  expect(sys.modelStats.messages - modelCalls).toBe(2);
  expect((await sys.prisma.message.findMany({ where: { sessionId, role: 'user', kind: 'user_text' } })).map((m) => m.turnId)).toEqual([real]);
  expect((await refusals(workflowId)).map((e) => [e.actorId, (e.data as { requestId: string | null }).requestId])).toEqual([
    [adminId, null],
    [null, expect.any(String)],
    [null, realRequest],
    [null, foreign],
  ]);
  expect(await failedTasks(handle)).toEqual([]);
});

it('re-arms a tripped breaker only on a reset an org admin asked the api for, once, and audits every forgery', async () => {
  const tech = sys.keyOf('technician');
  const adminKey = sys.keyOf('admin');
  const approver = sys.keyOf('approver');
  const device = await sys.enrollDevice('breaker-offline');
  const sessionId = await sys.startSession(tech);
  const { workflowId } = await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } });
  const handle = sys.temporal.client.workflow.getHandle(workflowId);
  for (let i = 0; i < 3; i++) {
    const turnId = await sys.send(sessionId, tech, toolCall('manage_service', { device_id: device.deviceId, service: 'Spooler', action: 'stop' }));
    const approval = await sys.waitForApproval(sessionId);
    expect((await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: approver, body: { decision: 'reject' } })).status).toBe(200);
    await sys.waitForTurn(sessionId, tech, turnId);
  }
  const tripped = () => sys.request('GET', `/v1/orgs/${sys.seed.orgs.acme.slug}/status`, { key: adminKey }).then((r) => r.body.trippedBreakers.map((b: { sessionId: string }) => b.sessionId));
  expect((await handle.query(stateQuery)).breaker).toEqual({ streak: 3, tripped: true });
  expect(await tripped()).toContain(sessionId);

  const admin = sys.seed.credentials.find((c) => c.role === 'admin' && c.org === sys.seed.orgs.acme.slug)!;
  const adminId = (await sys.prisma.user.findUniqueOrThrow({ where: { email: admin.email } })).id;
  await handle.signal(resetBreakerSignal, { adminId });
  expect(await handle.executeUpdate(resetBreakerRequestUpdate, { args: [{ requestId: uuid() }] })).toEqual({ applied: false, reason: expect.stringMatching(/did not come through Gatehouse/) });
  // A reset recorded in a technician's name (the api would have refused it) does not count either.
  const { id: byTech } = await sys.prisma.workflowRequest.create({
    data: { orgId: sys.seed.orgs.acme.id, sessionId, workflowId, kind: 'breaker_reset', userId: (await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } })).userId },
  });
  expect(await handle.executeUpdate(resetBreakerRequestUpdate, { args: [{ requestId: byTech }] })).toEqual({ applied: false, reason: 'the breaker was not reset: only an admin of this organization can reset it' });
  await waitUntil(async () => (await refusals(workflowId)).length === 3, 'the forgeries to be audited');
  expect((await refusals(workflowId)).map((e) => (e.data as { kind: string }).kind)).toEqual(['breaker_reset', 'breaker_reset', 'breaker_reset']);
  expect((await handle.query(stateQuery)).breaker).toEqual({ streak: 3, tripped: true });
  expect(await tripped()).toContain(sessionId);

  // The api's path: refused for the technician, done for the admin, and the org's status view follows.
  expect((await sys.request('POST', `/v1/sessions/${sessionId}/breaker/reset`, { key: tech })).status).toBe(403);
  expect(await sys.request('POST', `/v1/sessions/${sessionId}/breaker/reset`, { key: adminKey })).toEqual({ status: 200, body: { sessionId, breaker: 'reset' } });
  expect((await handle.query(stateQuery)).breaker).toEqual({ streak: 0, tripped: false });
  expect(await tripped()).not.toContain(sessionId);
  expect(await sys.prisma.auditEvent.findFirst({ where: { action: 'breaker.reset', sessionId } })).toMatchObject({ actorId: adminId });
  // Its request, replayed straight to Temporal, is refused.
  const { id: used } = await sys.prisma.workflowRequest.findFirstOrThrow({ where: { workflowId, kind: 'breaker_reset', userId: adminId } });
  expect(await handle.executeUpdate(resetBreakerRequestUpdate, { args: [{ requestId: used }] })).toEqual({ applied: false, reason: expect.stringMatching(/used already/) });
  expect(await failedTasks(handle)).toEqual([]);
});

it('takes the kill switch from the organization\'s record: a forged signal neither lifts an admin\'s pause nor pauses a session', async () => {
  const tech = sys.keyOf('technician');
  const adminKey = sys.keyOf('admin');
  const sessionId = await sys.startSession(tech);
  const { workflowId, userId: techId } = await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } });
  const handle = sys.temporal.client.workflow.getHandle(workflowId);
  const paused = async () => (await handle.query(stateQuery)).paused;
  const forgeries = async () => (await refusals(workflowId)).filter((e) => (e.data as { kind: string }).kind === 'copilot_paused').length;

  await handle.signal(copilotPausedSignal, { paused: true, by: techId });
  await waitUntil(async () => (await forgeries()) === 1, 'the forged pause to be audited');
  expect(await paused()).toBe(false);

  // A call waiting for its approver: a session the kill switch tells (an idle one meets the pause in the record).
  const { deviceId } = await sys.enrollDevice('kill-switch-pc');
  const waiting = await sys.send(sessionId, tech, toolCall('manage_service', { device_id: deviceId, service: 'Spooler', action: 'restart' }));
  await sys.waitForApproval(sessionId);
  expect((await sys.request('POST', `/v1/orgs/${sys.seed.orgs.acme.slug}/copilot/pause`, { key: adminKey })).status).toBe(200);
  try {
    await waitUntil(paused, 'the session to hear of the pause');
    expect(toolStepOf(await sys.waitForTurn(sessionId, tech, waiting), waiting)).toMatchObject({ status: 'rejected' });
    await handle.signal(copilotPausedSignal, { paused: false, by: techId });
    await waitUntil(async () => (await forgeries()) === 2, 'the forged resume to be audited');
    expect(await paused()).toBe(true);
  } finally {
    expect((await sys.request('POST', `/v1/orgs/${sys.seed.orgs.acme.slug}/copilot/resume`, { key: adminKey })).status).toBe(200);
  }
  // Idle by now, and told of the resume because it was told of the pause.
  await waitUntil(async () => !(await paused()), 'the session to hear of the resume');
  expect(await forgeries()).toBe(2);
  expect(await failedTasks(handle)).toEqual([]);
});

it('creates no device command for a remediation started straight on Temporal unless an authorized, approved call planned it', async () => {
  // The devices, command and parameters of a remediation are its workflow input: anyone reaching Temporal writes them.
  const { id: orgId } = sys.seed.orgs.acme;
  const [deviceA, deviceB] = [(await sys.enrollDevice('forged-a')).deviceId, (await sys.enrollDevice('forged-b')).deviceId];
  const script = { interpreter: 'bash', script: 'rm -rf /important', timeoutSeconds: 60, parameters: {} };
  const readOnly = await authorizedRemediation({ devices: [deviceA!], kind: 'system_info', params: {} });
  // A T3 call that is still waiting for its approver: its digest is recorded, no decision is.
  const pending = await authorizedRemediation({ devices: [deviceA!], kind: 'restart', params: {} });
  await sys.prisma.toolInvocation.update({ where: { id: pending }, data: { decision: 'approve', tier: 3, status: 'awaiting_approval' } });
  const attempts = [
    { why: 'no tool call has this id', prefix: `${uuid()}:toolu_forged`, devices: [deviceA!], kind: 'run_script', params: script },
    { why: 'another command than the call planned', prefix: readOnly, devices: [deviceA!], kind: 'run_script', params: script },
    { why: 'a device the call did not name', prefix: readOnly, devices: [deviceB!], kind: 'system_info', params: {} },
    { why: 'a call nobody approved', prefix: pending, devices: [deviceA!], kind: 'restart', params: {} },
  ];
  for (const a of attempts) {
    const handle = await sys.temporal.client.workflow.start<typeof remediation>('remediation', {
      taskQueue: sys.taskQueue,
      workflowId: `remediation-forged-${uuid()}`,
      args: [{ orgId, devices: a.devices, kind: a.kind as never, params: a.params, batchSize: 1, maxFailures: 0, invocationId: a.prefix }],
    });
    await expect(handle.result()).rejects.toThrow();
    // No row, so nothing for the gateway to deliver: devices receive only `DeviceCommand` rows.
    expect({ why: a.why, commands: await sys.prisma.deviceCommand.count({ where: { id: { startsWith: a.prefix } } }) }).toEqual({ why: a.why, commands: 0 });
  }
  const audited = await sys.prisma.auditEvent.findMany({ where: { action: 'security.command_unauthorized', orgId } });
  expect(audited.map((e) => (e.data as { reason: string }).reason)).toEqual(
    expect.arrayContaining([
      'no tool call of this organization has this id',
      expect.stringMatching(/^device .* with this command is not part of the authorized call$/),
      'the tool call needs an approval it does not have',
    ]),
  );
});
