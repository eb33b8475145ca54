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
async function offlineFleet(size = FLEET, prefix = 'ACME-FLEET'): Promise<(EnrolledDevice & { commandId: string; name: string })[]> {
  const { id: orgId, siteIds } = sys.seed.orgs.acme;
  const fleet = Array.from({ length: size }, (_, i) => ({ deviceId: crypto.randomUUID(), secret: crypto.randomBytes(32).toString('base64url'), orgId, name: `${prefix}-${i + 1}` }));
  await sys.prisma.device.createMany({ data: fleet.map((d) => ({ id: d.deviceId, orgId, siteId: siteIds[0]!, name: d.name, hostname: d.name.toLowerCase(), os: 'Windows 11', executor: 'simulated' })) });
  await sys.prisma.deviceCredential.createMany({ data: fleet.map((d) => ({ deviceId: d.deviceId, hash: sha256(d.secret) })) });
  const invocationId = `${crypto.randomUUID()}:toolu_fleet`;
  const expiresAt = new Date(Date.now() + 30 * 60_000);
  const queued = fleet.map((d) => ({ ...d, commandId: `${invocationId}:${d.deviceId}` }));
  await sys.prisma.deviceCommand.createMany({ data: queued.map((d) => ({ id: d.commandId, ...commandMadeByTest(d.commandId, d.deviceId), orgId, deviceId: d.deviceId, kind: 'system_info', params: {}, status: 'pending', expiresAt })) });
  return queued;
}

/** Connects as the device and waits for the queued command; resolves with what the agent saw (every command sent to it). */
const reconnect = (d: EnrolledDevice & { commandId: string }): Promise<{ served: boolean; refusal?: string; received: string[] }> =>
  new Promise((resolve) => {
    const socket = io(`${sys.url}/agents`, { auth: agentAuth(d), transports: ['websocket'], reconnection: false, timeout: 120_000, forceNew: true });
    sockets.push(socket);
    const received: string[] = [];
    socket.on('command:dispatch', (msg: CommandDispatch) => {
      received.push(msg.commandId);
      if (msg.commandId === d.commandId) resolve({ served: true, received });
    });
    socket.once('connect_error', (err) => resolve({ served: false, refusal: err.message, received }));
    socket.once('disconnect', (reason) => resolve({ served: false, refusal: `disconnected: ${reason}`, received }));
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

it('checks every credential of a herd on its own: good ones online as their own device, a wrong or revoked key refused and audited', async () => {
  const { id: orgId } = sys.seed.orgs.acme;
  const fleet = await offlineFleet(300, 'ACME-HERD');
  // Three agents present another device's secret, one a secret revoked a moment ago; all in the same herd as the
  // good ones (so in the same batched reads), and one more claims a device that does not exist.
  const wrongKey = fleet.slice(0, 3).map((d, i) => ({ ...d, secret: fleet[i + 10]!.secret }));
  const revoked = fleet[3]!;
  await sys.prisma.deviceCredential.updateMany({ where: { deviceId: revoked.deviceId }, data: { revokedAt: new Date() } });
  const unknown = { ...fleet[4]!, deviceId: crypto.randomUUID() };
  const good = fleet.slice(5);
  const bad = [...wrongKey, revoked];

  const [goodOutcomes, badOutcomes, unknownOutcome] = await Promise.all([Promise.all(good.map(reconnect)), Promise.all(bad.map(reconnect)), reconnect(unknown)]);

  // Every good agent is in, served its own command and nothing of another device's (its own may come twice: the
  // sweep resends a pending command a few seconds old, and the agent's journal makes that harmless).
  expect(goodOutcomes.flatMap((o) => (o.refusal ? [o.refusal] : []))).toEqual([]);
  goodOutcomes.forEach((o, i) => expect([...new Set(o.received)]).toEqual([good[i]!.commandId]));
  for (const d of good) expect(sys.api.gateway.live(d.deviceId)?.data.deviceId).toBe(d.deviceId);
  const online = async (ids: string[]) => sys.prisma.device.count({ where: { orgId, id: { in: ids }, online: true } });
  await waitUntil(async () => (await online(good.map((d) => d.deviceId))) === good.length, 'every good agent to be marked online');

  // Every bad one is refused, gets nothing, and is not online; the known devices' refusals are on the org's record.
  for (const o of [...badOutcomes, unknownOutcome]) expect(o).toEqual({ served: false, refusal: 'invalid agent credentials', received: [] });
  for (const d of bad) expect(sys.api.gateway.live(d.deviceId)).toBeUndefined();
  expect(await online(bad.map((d) => d.deviceId))).toBe(0);
  const refusals = await sys.prisma.auditEvent.findMany({ where: { orgId, action: 'security.agent_credential_refused', actorId: { in: fleet.map((d) => d.deviceId).concat(unknown.deviceId) } } });
  expect(refusals.map((e) => e.actorId).sort()).toEqual(bad.map((d) => d.deviceId).sort());
  expect(JSON.stringify(refusals.map((e) => [e.target, e.data]))).not.toContain(bad[0]!.secret);
  // Their queued commands stay queued: nothing was sent on a refused connection.
  expect(await sys.prisma.deviceCommand.count({ where: { orgId, id: { in: bad.map((d) => d.commandId) }, status: 'pending' } })).toBe(bad.length);
}, 240_000);
