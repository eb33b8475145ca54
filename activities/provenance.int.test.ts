/**
 * Provenance taint, end to end: a name the model read in a device's event log (nothing there looks like an
 * instruction, so the detector flags nothing) cannot become an unattended call. A real Temporal session, the
 * gateway and a simulated endpoint in this process whose event log carries the name.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connectAgent, type AgentConnection } from '../agent/connection';
import { enroll } from '../agent/enroll';
import { createSimulatedExecutor, SimulatedMachine } from '../agent/executors/simulated';
import { createLogger } from '../lib/logger';
import { createEnrollmentKey } from '../prisma/seed-demo';
import { startTestSystem, toolCall, toolStepOf, waitUntil, type TestSystem } from '../test/harness';

let sys: TestSystem;
let tech: string;
let agent: AgentConnection | undefined;
let dir: string;

beforeAll(async () => {
  sys = await startTestSystem();
  tech = sys.keyOf('technician');
  dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-provenance-'));
});
afterAll(async () => {
  agent?.stop();
  await sys?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function endpointWithLogMessage(message: string): Promise<string> {
  const acme = sys.seed.orgs.acme;
  const key = await createEnrollmentKey(sys.prisma, { orgId: acme.id, siteId: acme.siteIds[0]! });
  const credentials = await enroll({ server: sys.url, key, name: `${acme.slug.toUpperCase()}-FS-02`, executor: 'simulated' });
  const machine = new SimulatedMachine(credentials.name);
  machine.record('error', 'Service Control Manager', 7034, message);
  agent = connectAgent({ credentials, journalFile: path.join(dir, 'journal.jsonl'), logger: createLogger({ LOG_LEVEL: 'silent' }, 'agent'), executor: createSimulatedExecutor(machine) });
  await waitUntil(async () => (await sys.prisma.device.findUniqueOrThrow({ where: { id: credentials.deviceId } })).online, 'the endpoint to connect');
  return credentials.deviceId;
}

it('a service name read from an event log raises a T1 call to T3, and the approval says which argument came from which output', async () => {
  const deviceId = await endpointWithLogMessage('The UpdHelperSvc service terminated unexpectedly. It has done this 3 time(s).');
  const sessionId = await sys.startSession(tech);

  const read = await sys.send(sessionId, tech, toolCall('get_event_logs', { device_id: deviceId, log: 'System' }));
  const afterRead = await sys.waitForTurn(sessionId, tech, read);
  expect(toolStepOf(afterRead, read)).toMatchObject({ tool: 'get_event_logs', status: 'succeeded', tier: 1 });
  expect(toolStepOf(afterRead, read).flagged).toBeFalsy();

  // A name the technician typed before any output held it runs as its tier says (T1: a status read).
  const typed = await sys.send(sessionId, tech, toolCall('manage_service', { device_id: deviceId, service: 'W32Time', action: 'status' }));
  expect(toolStepOf(await sys.waitForTurn(sessionId, tech, typed), typed)).toMatchObject({ tool: 'manage_service', tier: 1 });

  // The name from the log: an approver decides, and sees where it came from.
  await sys.send(sessionId, tech, toolCall('manage_service', { device_id: deviceId, service: 'UpdHelperSvc', action: 'status' }));
  const approval = await sys.waitForApproval(sessionId);
  expect(approval.tier).toBe(3);
  const row = await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } });
  expect(row.summary).toContain('service "UpdHelperSvc" came from the output of get_event_logs');
  const audited = await sys.prisma.auditEvent.findFirstOrThrow({ where: { sessionId, action: 'tool.needs_approval' }, orderBy: { createdAt: 'desc' } });
  expect(JSON.stringify(audited.data)).toContain('from device output, a human approves first: service \\"UpdHelperSvc\\" came from the output of get_event_logs');
});
