/**
 * A fleet reconnecting at once, as after an api restart: a thousand agents open their `/agents` connection in the
 * same moment, with the real api, PostgreSQL, Redis and Temporal. Each connection is authenticated against the
 * device's stored credential and then served the command queued for it while it was away (the gateway's two reads
 * per connection); a server-side fault shows as a refused connection or a command that never arrives. Each agent
 * has a connection of its own, as real endpoints do (the simulator's agents share one).
 */
import crypto from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import type { CommandDispatch } from '../../common/protocol';
import { sha256 } from '../../lib/secrets';
import { agentAuth, commandMadeByTest, startTestSystem, waitUntil, type EnrolledDevice, type TestSystem } from '../../test/harness';

const FLEET = 1000;
let sys: TestSystem;
const sockets: Socket[] = [];

beforeAll(async () => {
  sys = await startTestSystem();
}, 120_000);
afterAll(async () => {
  for (const socket of sockets) socket.close();
  await sys?.stop();
});

/** Enrolled devices of acme's first site, each with a credential and a command queued while it was offline. */
async function offlineFleet(): Promise<(EnrolledDevice & { commandId: string })[]> {
  const { id: orgId, siteIds } = sys.seed.orgs.acme;
  const fleet = Array.from({ length: FLEET }, (_, i) => ({ deviceId: crypto.randomUUID(), secret: crypto.randomBytes(32).toString('base64url'), orgId, name: `ACME-FLEET-${i + 1}` }));
  await sys.prisma.device.createMany({ data: fleet.map((d) => ({ id: d.deviceId, orgId, siteId: siteIds[0]!, name: d.name, hostname: d.name.toLowerCase(), os: 'Windows 11', executor: 'simulated' })) });
  await sys.prisma.deviceCredential.createMany({ data: fleet.map((d) => ({ deviceId: d.deviceId, hash: sha256(d.secret) })) });
  const invocationId = `${crypto.randomUUID()}:toolu_fleet`;
  const expiresAt = new Date(Date.now() + 30 * 60_000);
  const queued = fleet.map((d) => ({ ...d, commandId: `${invocationId}:${d.deviceId}` }));
  await sys.prisma.deviceCommand.createMany({ data: queued.map((d) => ({ id: d.commandId, ...commandMadeByTest(d.commandId, d.deviceId), orgId, deviceId: d.deviceId, kind: 'system_info', params: {}, status: 'pending', expiresAt })) });
  return queued;
}

/** Connects as the device and waits for the queued command; resolves with what the agent saw. */
const reconnect = (d: EnrolledDevice & { commandId: string }): Promise<{ served: boolean; refusal?: string }> =>
  new Promise((resolve) => {
    const socket = io(`${sys.url}/agents`, { auth: agentAuth(d), transports: ['websocket'], reconnection: false, timeout: 120_000, forceNew: true });
    sockets.push(socket);
    socket.on('command:dispatch', (msg: CommandDispatch) => {
      if (msg.commandId === d.commandId) resolve({ served: true });
    });
    socket.once('connect_error', (err) => resolve({ served: false, refusal: err.message }));
    socket.once('disconnect', (reason) => resolve({ served: false, refusal: `disconnected: ${reason}` }));
  });

it(`authenticates a thousand agents that reconnect at the same moment and delivers each the command queued for it`, async () => {
  const fleet = await offlineFleet();
  const outcomes = await Promise.all(fleet.map(reconnect));

  const refusals = outcomes.flatMap((o) => (o.refusal ? [o.refusal] : []));
  expect(refusals).toEqual([]);
  expect(outcomes.filter((o) => o.served)).toHaveLength(FLEET);
  expect(sys.api.gateway.stats().connected).toBe(FLEET);
  // Marked delivered just after it went out (a reconnect would send it again).
  const delivered = () => sys.prisma.deviceCommand.count({ where: { id: { in: fleet.map((d) => d.commandId) }, status: 'delivered' } });
  await waitUntil(async () => (await delivered()) === FLEET, 'every command to be marked delivered');
}, 240_000);
