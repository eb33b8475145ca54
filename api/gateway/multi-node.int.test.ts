/**
 * Two api nodes on the same database, Temporal and Redis: an agent connected to the second node gets the commands
 * the worker queues (announced to every node through PostgreSQL; the node holding the connection delivers) and
 * its result completes the waiting activity; a second connection with the same credential to the first node is
 * refused, because the nodes see each other's agents through the Socket.IO Redis Streams adapter. With Redis away,
 * a result cannot be counted against its agent's frame limit and is refused, visibly; the agent offers it again and
 * it is recorded once Redis is back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { io } from 'socket.io-client';
import { PROTOCOL_VERSION } from '../../common/protocol';
import { AGENT_VERSION } from '../../agent/version';
import { environment } from '../../lib/env';
import { createEnrollmentKey } from '../../prisma/seed-demo';
import { CommandJournal } from '../../agent/journal';
import type { ApiServer } from '../server';
import { agentAuth, startTestSystem, waitUntil, toolStepOf, type TestSystem } from '../../test/harness';

let sys: TestSystem;
let nodeB: { server: ApiServer; url: string };
let agent: ChildProcess;
let dataDir: string;

beforeAll(async () => {
  sys = await startTestSystem({ dedicatedRedis: true });
  nodeB = await sys.startApiNode();
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-nodeb-'));
  const key = await createEnrollmentKey(sys.prisma, { orgId: sys.seed.orgs.acme.id, siteId: sys.seed.orgs.acme.siteIds[0]!, maxUses: 1 });
  const org = sys.seed.orgs.acme.slug;
  agent = spawn(process.execPath, ['--import', 'tsx', path.resolve(__dirname, '..', '..', 'agent', 'main.ts'), '--simulate', '1', '--org', org, '--key', key, '--server', nodeB.url], {
    env: environment({ DATA_DIR: dataDir, LOG_LEVEL: 'error' }),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitUntil(async () => (await sys.prisma.device.count({ where: { orgId: sys.seed.orgs.acme.id, executor: 'simulated', online: true } })) === 1, 'the agent on node B to connect', 60_000);
}, 180_000);

afterAll(async () => {
  agent?.kill('SIGTERM');
  await sys?.stop();
});

it('delivers a command to an agent connected to another api node, and its result completes the turn', async () => {
  const tech = sys.keyOf('technician');
  const device = await sys.prisma.device.findFirstOrThrow({ where: { orgId: sys.seed.orgs.acme.id, executor: 'simulated' } });
  const sessionId = await sys.startSession(tech); // through node A
  const turnId = await sys.send(sessionId, tech, `/tool get_device_info ${JSON.stringify({ device_id: device.id })}`);
  const session = await sys.waitForTurn(sessionId, tech, turnId, 60_000);
  const step = toolStepOf(session, turnId);
  expect(step).toMatchObject({ tool: 'get_device_info', status: 'succeeded', summary: expect.stringContaining(device.name) });
});

it('refuses a second connection with the same credential on the other node', async () => {
  const org = sys.seed.orgs.acme.slug;
  const [file] = readdirSync(path.join(dataDir, 'simulated', org)).filter((f) => f.endsWith('.json'));
  const creds = JSON.parse(await readFile(path.join(dataDir, 'simulated', org, file!), 'utf8'));
  expect(creds.name).toMatch(/-PC-01$/);
  const clone = io(new URL('/agents', sys.url).toString(), {
    auth: { v: PROTOCOL_VERSION, deviceId: creds.deviceId, secret: creds.secret, agentVersion: AGENT_VERSION },
    transports: ['websocket'],
    reconnection: false,
  });
  const refusal = await new Promise<string>((resolve) => {
    clone.on('connect', () => resolve('connected'));
    clone.on('connect_error', (err) => resolve(err.message));
  });
  clone.close();
  expect(refusal).toMatch(/already connected/);
  const flagged = await sys.prisma.auditEvent.findFirst({ where: { actorId: creds.deviceId, action: 'security.duplicate_agent_connection' } });
  expect(flagged).not.toBeNull();
});

it('refuses a result while Redis is away and records it once Redis is back; the command ran once', async () => {
  const org = sys.seed.orgs.acme.slug;
  const script = { description: 'Two seconds of work', interpreter: 'powershell', body: 'Start-Sleep -Seconds 2\nWrite-Output done', parameters: {} };
  expect((await sys.request('PUT', `/v1/orgs/${org}/scripts/two-seconds`, { key: sys.keyOf('admin'), body: script })).status).toBe(200);
  const tech = sys.keyOf('technician');
  const device = await sys.prisma.device.findFirstOrThrow({ where: { orgId: sys.seed.orgs.acme.id, executor: 'simulated' } });
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, `/tool run_library_script ${JSON.stringify({ device_ids: [device.id], script: 'two-seconds' })}`);
  const approval = await sys.waitForApproval(sessionId);
  expect((await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve' } })).status).toBe(200);
  const command = async () => sys.prisma.deviceCommand.findFirst({ where: { id: { startsWith: sessionId } } });
  await waitUntil(async () => (await command())?.status === 'delivered', 'the command to reach the agent on node B');

  const refusedBefore = nodeB.server.gateway.stats().throttledFrames;
  await sys.redisServer!.stop();
  try {
    // The script ends while Redis is away: node B cannot count the result frame against the agent's limit, so it
    // refuses it (fail closed) and nothing is recorded.
    await waitUntil(async () => nodeB.server.gateway.stats().throttledFrames > refusedBefore, 'node B to refuse the result frame', 20_000);
    expect((await command())!.status).toBe('delivered');
  } finally {
    await sys.redisServer!.start();
  }

  // The agent offers its unacknowledged result again while connected; recorded now, it completes the turn.
  const session = await sys.waitForTurn(sessionId, tech, turnId, 90_000);
  expect(toolStepOf(session, turnId)).toMatchObject({ tool: 'run_library_script', status: 'succeeded' });
  const done = (await command())!;
  expect(done.status).toBe('succeeded');
  const [journal] = readdirSync(path.join(dataDir, 'simulated', org)).filter((f) => f.endsWith('.journal.jsonl'));
  expect(CommandJournal.startsIn(path.join(dataDir, 'simulated', org, journal!)).get(done.id)).toBe(1);
}, 150_000);

it('refuses a new agent connection while Redis is away (no clone check possible), audits it, and lets it in once Redis is back', async () => {
  const device = await sys.enrollDevice(`unverified-${Date.now()}`);
  const connect = () => {
    const socket = io(new URL('/agents', sys.url).toString(), { auth: agentAuth(device), transports: ['websocket'], reconnection: false });
    return new Promise<string>((resolve) => {
      socket.on('connect', () => {
        resolve('connected');
        socket.close();
      });
      socket.on('connect_error', (err) => {
        resolve(err.message);
        socket.close();
      });
    });
  };
  await sys.redisServer!.stop();
  let refusal: string;
  try {
    refusal = await connect();
  } finally {
    await sys.redisServer!.start();
  }
  expect(refusal).toBe('cannot check now whether this device is already connected elsewhere; try again shortly');
  expect(await sys.prisma.auditEvent.findFirst({ where: { actorId: device.deviceId, action: 'security.agent_connection_unverified' } })).not.toBeNull();
  let answer = '';
  await waitUntil(async () => (answer = await connect()) === 'connected', 'the agent to get in once Redis is back', 30_000);
  expect(answer).toBe('connected');
}, 90_000);

it('an agent whose api node shuts down comes back when a node listens at its address again, and takes commands there', async () => {
  // A node shutting down closes its agents' connections itself; socket.io's client never reconnects after that on
  // its own, so before the agent retried, every agent of a restarted node stayed away for good.
  const simulated = { orgId: sys.seed.orgs.acme.id, executor: 'simulated' };
  const port = Number(new URL(nodeB.url).port);
  await nodeB.server.close();
  await waitUntil(async () => (await sys.prisma.device.count({ where: { ...simulated, online: true } })) === 0, 'the agent to be marked offline by the node shutting down', 20_000);
  nodeB = await sys.startApiNode(port);
  await waitUntil(async () => nodeB.server.gateway.stats().connected === 1, 'the agent to connect to the restarted node', 90_000);
  await waitUntil(async () => (await sys.prisma.device.count({ where: { ...simulated, online: true } })) === 1, 'the agent to be marked online again', 20_000);

  const tech = sys.keyOf('technician');
  const device = await sys.prisma.device.findFirstOrThrow({ where: simulated });
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, `/tool get_device_info ${JSON.stringify({ device_id: device.id })}`);
  const session = await sys.waitForTurn(sessionId, tech, turnId, 60_000);
  expect(toolStepOf(session, turnId)).toMatchObject({ tool: 'get_device_info', status: 'succeeded', summary: expect.stringContaining(device.name) });
}, 180_000);
