/**
 * Provenance taint, end to end: a name the model read in a device's event log (nothing there looks like an
 * instruction, so the detector flags nothing) cannot become an unattended call. A real Temporal session, the
 * gateway and a simulated endpoint in this process whose event log carries the name.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { AgentConnection } from '../agent/connection';
import { endpointWithLogMessage } from '../test/planted-endpoint';
import { startTestSystem, toolCall, toolStepOf, type TestSystem } from '../test/harness';

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

it('a service name read from an event log raises a T1 call to T3, and the approval says which argument came from which output', async () => {
  const { deviceId, agent: endpoint } = await endpointWithLogMessage(sys, dir, { name: `${sys.seed.orgs.acme.slug.toUpperCase()}-FS-02`, source: 'Service Control Manager', eventId: 7034, message: 'The UpdHelperSvc service terminated unexpectedly. It has done this 3 time(s).' });
  agent = endpoint;
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
