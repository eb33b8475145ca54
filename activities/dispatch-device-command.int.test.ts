/**
 * The frozen `dispatchDeviceCommand` activity, run as a session that was waiting in it when the worker was upgraded
 * to one command path retries it: the command is queued like every other (its row naming the tool invocation and
 * the waiting workflow) and the activity returns once the agent's result is in the row. Nothing completes it by
 * task token any more.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { deviceCommandId, toolInvocationId } from '../common/ids';
import { startTestSystem, waitUntil, type TestSystem } from '../test/harness';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ agent: true });
});
afterAll(async () => {
  await sys?.stop();
});

it("queues a waiting session's command on the one path and returns its outcome from the row", async () => {
  const orgId = sys.seed.orgs.acme.id;
  const deviceId = sys.agent!.deviceId;
  await waitUntil(async () => (await sys.prisma.device.findUniqueOrThrow({ where: { id: deviceId } })).online, 'the agent to be online');
  const sessionId = await sys.startSession(sys.keyOf('technician'));
  const { workflowId } = await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } });
  // The call the session's authorizeToolCall allowed before the upgrade (a T1 read of the device).
  const invocationId = toolInvocationId(sessionId, 'before-the-upgrade');
  const execution = { type: 'devices', commands: [{ deviceId, kind: 'system_info', params: {} }] };
  await sys.prisma.toolInvocation.create({
    data: { id: invocationId, sessionId, orgId, turnId: 't1', toolUseId: 'before-the-upgrade', toolName: 'get_device_info', input: { device_id: deviceId }, tier: 1, decision: 'allow', status: 'running', digest: 'd'.repeat(64), execution, siteIds: [] },
  });

  const commandId = deviceCommandId(invocationId, deviceId);
  const env = new MockActivityEnvironment({ workflowExecution: { workflowId, runId: 'before-the-upgrade' } });
  const outcome = await env.run(sys.activities.dispatchDeviceCommand, { orgId, commandId, deviceId, kind: 'system_info' as const, params: {} });

  expect(outcome).toEqual({ commandId, status: 'succeeded' });
  expect(await sys.prisma.deviceCommand.findUniqueOrThrow({ where: { id: commandId } })).toMatchObject({ invocationId, reportTo: workflowId, status: 'succeeded', result: expect.anything() });
});
