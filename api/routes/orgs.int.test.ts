/**
 * Organization controls end to end (real api, worker, Temporal, PostgreSQL and a real agent process): the kill
 * switch stops commands already approved and queued for an offline device, and database tools between their
 * authorization and their run; the policy PUT refuses what it cannot apply with a 400 that names it.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { CommandJournal } from '../../agent/journal';
import { startTestSystem, toolCall, toolStepOf, waitUntil, type TestSystem } from '../../test/harness';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({ agent: true });
}, 180_000);

afterAll(async () => {
  await sys?.stop();
});

const pause = (paused: boolean) => sys.request('POST', `/v1/orgs/${sys.seed.orgs.acme.slug}/copilot/${paused ? 'pause' : 'resume'}`, { key: sys.keyOf('admin') });
const online = async (deviceId: string) => (await sys.prisma.device.findUniqueOrThrow({ where: { id: deviceId } })).online;

describe('the kill switch', () => {
  afterEach(async () => {
    expect((await pause(false)).status).toBe(200);
  });

  it('never runs an approved command queued for an offline device once the org is paused, and the step ends PAUSED', async () => {
    const tech = sys.keyOf('technician');
    const agent = sys.agent!;
    await agent.stop();
    await waitUntil(async () => !(await online(agent.deviceId)), 'the agent to be offline');

    const sessionId = await sys.startSession(tech);
    const turnId = await sys.send(sessionId, tech, toolCall('kill_process', { device_id: agent.deviceId, pid: 4_000_000 }));
    const approval = await sys.waitForApproval(sessionId);
    expect((await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve' } })).status).toBe(200);
    const queued = () => sys.prisma.deviceCommand.findFirst({ where: { id: { startsWith: sessionId } } });
    await waitUntil(async () => (await queued())?.status === 'pending', 'the approved command to wait for its device');

    expect((await pause(true)).status).toBe(200);
    agent.start();
    await waitUntil(() => online(agent.deviceId), 'the agent to come back');

    const session = await sys.waitForTurn(sessionId, tech, turnId, 60_000);
    expect(toolStepOf(session, turnId)).toMatchObject({ tool: 'kill_process', status: 'failed', summary: expect.stringContaining('an admin paused the copilot') });
    const command = (await queued())!;
    expect(command).toMatchObject({ status: 'failed', errorCode: 'PAUSED', deliveredAt: null });
    expect(CommandJournal.startsIn(`${agent.credentialsFile}.journal.jsonl`).get(command.id)).toBeUndefined();
    const paused = await sys.prisma.auditEvent.findFirst({ where: { orgId: sys.seed.orgs.acme.id, action: 'copilot.paused' }, orderBy: { id: 'desc' } });
    expect(paused?.data).toEqual({ commandsEnded: 1, terminalsEnded: 0 });
  });

  it('stops a database tool whose org was paused after it was authorized, leaving the data as it was', async () => {
    const tech = sys.keyOf('technician');
    const orgId = sys.seed.orgs.acme.id;
    const sessionId = await sys.startSession(tech);
    const alert = await sys.prisma.alert.create({ data: { orgId, deviceId: sys.agent!.deviceId, severity: 'critical', title: 'EDR offline', message: 'sensor stopped' } });
    const user = await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId }, select: { userId: true, workflowId: true } });
    const invocationId = `${sessionId}:authorized-before-pause`;
    // As authorizeToolCall leaves a T2 call it allowed, moments before the admin pressed pause.
    await sys.prisma.toolInvocation.create({
      data: { id: invocationId, sessionId, orgId, turnId: 't1', toolUseId: 'authorized-before-pause', toolName: 'acknowledge_alert', input: { alert_id: alert.id }, tier: 2, decision: 'allow', status: 'running' },
    });
    expect((await pause(true)).status).toBe(200);

    // Run as the session's own workflow would run it.
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: user.workflowId, runId: 'authorized-before-pause' } });
    const outcome = await env.run(sys.activities.runDatabaseTool, { invocationId, userId: user.userId });
    expect(outcome).toMatchObject({ status: 'failed', summary: 'not run: an admin paused the copilot for this organization' });
    expect((await sys.prisma.alert.findUniqueOrThrow({ where: { id: alert.id } })).status).toBe('open');
    expect(await sys.prisma.auditEvent.findFirst({ where: { orgId, action: 'tool.denied', data: { path: ['invocationId'], equals: invocationId } } })).toMatchObject({ data: expect.objectContaining({ rule: 'paused' }) });
  });
});

describe('the policy PUT', () => {
  const put = (overrides: unknown[]) => sys.request('PUT', `/v1/orgs/${sys.seed.orgs.acme.slug}/policy`, { key: sys.keyOf('admin'), body: { overrides, reason: 'test' } });
  afterAll(async () => {
    expect((await put([])).status).toBe(200);
  });

  it('accepts per-action overrides of run_remediation and saves them', async () => {
    const res = await put([
      { tool: 'run_remediation', action: 'run_library_script', tier: 4 },
      { tool: 'run_remediation', action: 'manage_service:restart', tier: 4 },
      { tool: 'manage_service', action: 'stop', tier: 4 },
    ]);
    expect(res.status).toBe(200);
    const saved = await sys.request('GET', `/v1/orgs/${sys.seed.orgs.acme.slug}/policy`, { key: sys.keyOf('admin') });
    expect(saved.body.overrides.map((o: { tool: string; action: string }) => `${o.tool} ${o.action}`).sort()).toEqual([
      'manage_service stop',
      'run_remediation manage_service:restart',
      'run_remediation run_library_script',
    ]);
  });

  it.each([
    [{ tool: 'run_remediation', action: 'execute_script', tier: 4 }, /^body\.overrides\.0\.action: run_remediation has no action "execute_script"; its actions are "manage_service:start", .*"run_library_script"/],
    [{ tool: 'run_remediation', action: 'length', tier: 4 }, /^body\.overrides\.0\.action: run_remediation has no action "length"/],
    [{ tool: 'manage_service', action: 'toString', tier: 4 }, /^body\.overrides\.0\.action: manage_service has no action "toString"; its actions are "status", "start", "stop", "restart"/],
    [{ tool: 'list_devices', action: 'read', tier: 2 }, /^body\.overrides\.0\.action: list_devices has no action "read"; it has one tier for every call: use "\*"/],
  ])('refuses an override for an action the tool does not have with a 400 naming it (%j)', async (override, message) => {
    const res = await put([override]);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(message);
  });

  it('refuses the same tool and action listed twice with a 400, not a 500', async () => {
    const res = await put([
      { tool: 'run_library_script', tier: 4 },
      { tool: 'run_library_script', action: '*', tier: 3 },
    ]);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toBe('body.overrides.1: run_library_script "*" is listed twice');
  });
});
