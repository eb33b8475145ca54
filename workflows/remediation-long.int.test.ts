/**
 * A remediation longer than one run's share (DEVICES_PER_RUN devices) continues as new, carrying its counts and
 * where it is in the approved list: the parent still gets one result over every device, the progress query of the
 * latest run counts them all (and holds that run's devices only), and the api shows every device's status.
 */
import { remediationProgressQuery } from './definitions';
import { DEVICES_PER_RUN } from './remediation';
import { startTestSystem, toolStepOf, type TestSystem } from '../test/harness';
import { approveWithPasskey } from '../test/passkey';

const DEVICES = DEVICES_PER_RUN + 20;
let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({ simulated: DEVICES });
}, 300_000);

afterAll(async () => {
  await sys?.stop();
});

it(`runs ${DEVICES} devices over two runs of the remediation workflow`, async () => {
  const tech = sys.keyOf('technician');
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, `/tool run_remediation ${JSON.stringify({ target: { site: 'HQ' }, action: { type: 'service', service: 'Dnscache', action: 'restart' }, batch_size: 25 })}`);
  const approval = await sys.waitForApproval(sessionId);
  await approveWithPasskey(sys, approval.id, sys.keyOf('approver'), { confirmation: `${DEVICES} devices` });
  const session = await sys.waitForTurn(sessionId, tech, turnId, 240_000);
  const step = toolStepOf(session, turnId);
  expect(step.summary).toMatch(new RegExp(`^${DEVICES} of ${DEVICES} devices succeeded`));

  const { workflowId } = await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } });
  const child = `${workflowId}:remediation:${step.toolUseId}`;
  const runs = [];
  for await (const run of sys.temporal.client.workflow.list({ query: `WorkflowId = '${child}'` })) runs.push(run.status.name);
  expect(runs.sort()).toEqual(['COMPLETED', 'CONTINUED_AS_NEW']);
  const progress = await sys.temporal.client.workflow.getHandle(child).query(remediationProgressQuery);
  expect(progress).toMatchObject({ total: DEVICES, succeeded: DEVICES, state: 'finished' });
  expect(Object.keys(progress.devices)).toHaveLength(DEVICES - DEVICES_PER_RUN);
  expect(await sys.prisma.deviceCommand.count({ where: { id: { startsWith: sessionId } } })).toBe(DEVICES);
  // What a technician reads: every device, each with its status, from the record.
  const { invocationId } = await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } });
  const shown = (await sys.request('GET', `/v1/remediations/${encodeURIComponent(invocationId)}`, { key: tech })).body;
  expect(shown).toMatchObject({ state: 'finished', total: DEVICES, succeeded: DEVICES, percent: 100 });
  expect(shown.devices).toHaveLength(DEVICES);
  expect(new Set(shown.devices.map((d: { status: string }) => d.status))).toEqual(new Set(['succeeded']));
}, 300_000);
