/**
 * An agent whose network drops in the middle of a long command: the command keeps running on the endpoint, the
 * agent reconnects with its backoff, the result arrives then and completes the turn, and the command ran once.
 */
import { CommandJournal } from '../agent/journal';
import { startTestSystem, waitUntil, toolStepOf, type TestSystem } from '../test/harness';

let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({ simulated: 1, cuttableAgents: true });
}, 180_000);

afterAll(async () => {
  await sys?.stop();
});

it('delivers the result after the agent reconnects, and never runs the command again', async () => {
  const admin = sys.keyOf('admin');
  const tech = sys.keyOf('technician');
  const org = sys.seed.orgs.acme.slug;
  const script = { description: 'A long job', interpreter: 'powershell', body: 'Start-Sleep -Seconds 4\nWrite-Output done', parameters: {} };
  expect((await sys.request('PUT', `/v1/orgs/${org}/scripts/long-job`, { key: admin, body: script })).status).toBe(200);
  const [name, deviceId] = [...sys.simulated][0]!;
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, `/tool run_library_script ${JSON.stringify({ device_ids: [deviceId], script: 'long-job' })}`);
  const approval = await sys.waitForApproval(sessionId);
  await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve' } });

  const command = async () => (await sys.prisma.deviceCommand.findMany({ where: { id: { startsWith: sessionId } } }))[0];
  await waitUntil(async () => (await command())?.status === 'delivered', 'the command to reach the agent');
  await sys.agentsPath!.cut();
  await waitUntil(async () => (await sys.prisma.device.findUniqueOrThrow({ where: { id: deviceId! } })).online === false, 'the api to see the agent gone');
  expect((await command())!.status).toBe('delivered');
  await new Promise((r) => setTimeout(r, 4500)); // the script finishes while the agent is cut off
  await sys.agentsPath!.restore();

  const session = await sys.waitForTurn(sessionId, tech, turnId, 60_000);
  const step = toolStepOf(session, turnId);
  expect(step).toMatchObject({ tool: 'run_library_script', status: 'succeeded' });
  const done = (await command())!;
  expect(done.status).toBe('succeeded');
  expect(CommandJournal.startsIn(sys.journalOf(name!)).get(done.id)).toBe(1);
}, 120_000);
