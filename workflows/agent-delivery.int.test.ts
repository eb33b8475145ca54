/**
 * Commands and agents that come and go (real agent processes): a command for an offline device waits for it and,
 * past its TTL, never runs, and the session is told the device is offline; a rebooting device drops off and comes
 * back, and its journal shows the reboot command started once.
 */
import { CommandJournal } from '../agent/journal';
import { startTestSystem, waitUntil, type TestSystem } from '../test/harness';

let sys: TestSystem;
const tool = (name: string, input: Record<string, unknown>) => `/tool ${name} ${JSON.stringify(input)}`;
const toolStep = (session: any, turnId: string) => session.turns.find((t: { turnId: string }) => t.turnId === turnId).steps.find((s: { kind: string }) => s.kind === 'tool');

beforeAll(async () => {
  sys = await startTestSystem({ agent: true, simulated: 1, env: { COMMAND_TTL_SECONDS: '5' } });
}, 180_000);

afterAll(async () => {
  await sys?.stop();
});

it('never runs a command whose TTL passed while the device was offline, and says the device is offline', async () => {
  const tech = sys.keyOf('technician');
  const agent = sys.agent!;
  await agent.stop();
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, tool('get_device_info', { device_id: agent.deviceId }));
  const session = await sys.waitForTurn(sessionId, tech, turnId, 60_000);
  expect(toolStep(session, turnId)).toMatchObject({ status: 'failed', summary: expect.stringMatching(/offline/i) });
  const [command] = await sys.prisma.deviceCommand.findMany({ where: { id: { startsWith: sessionId } } });
  expect(command).toMatchObject({ status: 'expired', errorCode: 'DEVICE_OFFLINE' });

  // The agent comes back: the expired command is not delivered and never runs.
  agent.start();
  await waitUntil(async () => (await sys.prisma.device.findUniqueOrThrow({ where: { id: agent.deviceId } })).online, 'the agent to reconnect');
  await new Promise((r) => setTimeout(r, 1500));
  expect(CommandJournal.startsIn(`${agent.credentialsFile}.journal.jsonl`).get(command!.id)).toBeUndefined();
  expect((await sys.prisma.deviceCommand.findUniqueOrThrow({ where: { id: command!.id } })).status).toBe('expired');
});

it('runs a reboot once: the device reports, drops off for the reboot, comes back, and its journal shows one start', async () => {
  const tech = sys.keyOf('technician');
  const [name, deviceId] = [...sys.simulated][0]!;
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, tool('restart_device', { device_id: deviceId }));
  const approval = await sys.waitForApproval(sessionId);
  await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve', confirmation: approval.confirmationPhrase } });
  await waitUntil(async () => (await sys.prisma.device.findUniqueOrThrow({ where: { id: deviceId! } })).online === false, 'the device to drop off while it reboots');
  const session = await sys.waitForTurn(sessionId, tech, turnId, 60_000);
  expect(toolStep(session, turnId)).toMatchObject({ tool: 'restart_device', status: 'succeeded' });
  const [command] = await sys.prisma.deviceCommand.findMany({ where: { id: { startsWith: sessionId } } });
  expect(CommandJournal.startsIn(sys.journalOf(name!)).get(command!.id)).toBe(1);
});
