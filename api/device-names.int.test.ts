/**
 * Device names are unique in their organization. The same host enrolling again (the demo's second clone on one
 * machine) takes over its offline record: one device, the old credential refused, what was queued for the old
 * enrollment ended unsent. Any other enrollment under a taken name is told apart, and told the name it got; a rename
 * to a taken name is refused. Through the api, the agent's own enrollment code and a real Socket.IO connection.
 */
import crypto from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import { enroll } from '../agent/enroll';
import type { AgentCredentials } from '../agent/credentials';
import { deviceCommandId, toolInvocationId } from '../common/ids';
import { createEnrollmentKey, seedDemo } from '../prisma/seed-demo';
import { agentAuth, commandMadeByTest, startTestSystem, waitUntil, type TestSystem } from '../test/harness';

let sys: TestSystem;
const sockets = new Set<Socket>();

beforeAll(async () => {
  sys = await startTestSystem();
}, 180_000);

afterAll(async () => {
  for (const s of sockets) s.close();
  await sys?.stop();
});

/** The demo's enrollment, as `npm start` runs it: a one-use key for acme's first site, then the agent's enroll. */
async function enrollAs(name: string, executor: 'linux' | 'simulated' = 'linux'): Promise<AgentCredentials> {
  const key = await createEnrollmentKey(sys.prisma, { orgId: sys.seed.orgs.acme.id, siteId: sys.seed.orgs.acme.siteIds[0]!, maxUses: 1 });
  return enroll({ server: sys.url, key, name, executor });
}

/** Connects as the agent holding `c`: resolves once connected, or with the server's refusal. */
function connectAgent(c: AgentCredentials): Promise<'connected' | string> {
  return new Promise((resolve) => {
    const socket = io(`${sys.url}/agents`, { auth: agentAuth({ deviceId: c.deviceId, secret: c.secret, orgId: c.orgId }), transports: ['websocket'], reconnection: false });
    sockets.add(socket);
    socket.once('connect', () => resolve('connected'));
    socket.once('connect_error', (err) => (socket.close(), resolve(err.message)));
  });
}

const devicesNamed = (name: string) => sys.prisma.device.findMany({ where: { orgId: sys.seed.orgs.acme.id, name } });

it('seeding the demo again and enrolling its host again leaves one demo device, and the old enrollment can no longer connect', async () => {
  const first = await enrollAs('ACME-HQ-DEMO');
  // A change approved for the device while it was away: queued for the old enrollment.
  const queued = deviceCommandId(toolInvocationId(crypto.randomUUID(), 'toolu_queued'), first.deviceId);
  await sys.prisma.deviceCommand.create({
    data: { id: queued, ...commandMadeByTest(queued, first.deviceId), orgId: first.orgId, deviceId: first.deviceId, kind: 'restart', params: {}, status: 'pending', expiresAt: new Date(Date.now() + 600_000) },
  });

  // A second clone of the demo on the same machine and database: the seed runs again, and the agent enrolls again.
  await seedDemo(sys.prisma, { suffix: sys.seed.orgs.acme.slug.slice('acme-'.length) });
  const second = await enrollAs('ACME-HQ-DEMO');

  expect(second).toMatchObject({ deviceId: first.deviceId, name: 'ACME-HQ-DEMO' });
  expect(await devicesNamed('ACME-HQ-DEMO')).toHaveLength(1);
  expect(await connectAgent(first)).not.toBe('connected');
  expect(await connectAgent(second)).toBe('connected');
  // Nothing approved for the old enrollment runs on whoever enrolled under its name.
  expect(await sys.prisma.deviceCommand.findUniqueOrThrow({ where: { id: queued } })).toMatchObject({ status: 'failed', errorCode: 'REENROLLED', deliveredAt: null });
  const event = await sys.prisma.auditEvent.findFirst({ where: { orgId: first.orgId, action: 'agent.reenrolled', target: 'ACME-HQ-DEMO' } });
  expect(event?.data).toMatchObject({ credentialsRevoked: 1, commandsEnded: 1 });
  await waitUntil(async () => (await sys.prisma.device.findUniqueOrThrow({ where: { id: second.deviceId } })).online, 'the new enrollment to be seen online');
});

it('tells apart another host enrolling under a taken name, and a host whose old record is still online', async () => {
  // A different host (the simulated executor reports the name as its hostname) under the demo's name.
  const other = await enrollAs('ACME-HQ-DEMO', 'simulated');
  expect(other.name).toBe('ACME-HQ-DEMO (2)');
  // The same host again while its record is online (the previous test's agent is still connected): never displaced.
  const again = await enrollAs('ACME-HQ-DEMO');
  expect(again.name).toBe('ACME-HQ-DEMO (3)');
  expect(await devicesNamed('ACME-HQ-DEMO')).toHaveLength(1);
  expect(await connectAgent(again)).toBe('connected');
});

it('refuses to rename a device to a name its organization already has', async () => {
  const [taken] = await devicesNamed('ACME-HQ-DEMO (2)');
  const res = await sys.request('PATCH', `/v1/devices/${taken!.id}`, { key: sys.keyOf('admin'), body: { name: 'ACME-HQ-DEMO' } });
  expect(res.status).toBe(409);
  expect(res.body.error.message).toContain('another device of this organization is named "ACME-HQ-DEMO"');
  expect(await devicesNamed('ACME-HQ-DEMO')).toHaveLength(1);
});
