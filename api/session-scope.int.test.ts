/**
 * Who may read a copilot session, with real api, worker, Temporal, PostgreSQL and simulated agents: its owner, and
 * users whose role in its org covers every site it reached. Users narrowed to one site (approver, technician,
 * auditor, admin) get the same 404 as for an unknown id on a session that reached another site's device, through
 * every read (the session, its timeline, the audit export, the lists) and the `/console` subscription; a watcher
 * of a session stops hearing it the moment it reaches a site outside theirs, and one whose API key is revoked is cut
 * off.
 */
import crypto from 'node:crypto';
import { startTestSystem, toolCall, waitUntil, type TestSystem } from '../test/harness';

let sys: TestSystem;
let hqSite: string;
let inside: string;
let outside: string;
const owner = () => sys.keyOf('technician');
const acme = () => sys.seed.orgs.acme;

beforeAll(async () => {
  sys = await startTestSystem({ simulated: 2, env: { RATE_USER_MESSAGES_PER_MINUTE: '1000' } });
  const [hq, branch] = acme().siteIds as [string, string];
  hqSite = hq;
  const names = [...sys.simulated.keys()];
  [inside, outside] = [sys.simulated.get(names[0]!)!, sys.simulated.get(names[1]!)!];
  const admin = sys.keyOf('admin');
  expect((await sys.request('PATCH', `/v1/devices/${inside}`, { key: admin, body: { siteId: hq } })).status).toBe(200);
  expect((await sys.request('PATCH', `/v1/devices/${outside}`, { key: admin, body: { siteId: branch } })).status).toBe(200);
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

/** A user of the partner whose only role in acme is `role`, narrowed to the headquarters site. */
async function narrowed(role: 'technician' | 'approver' | 'auditor' | 'admin'): Promise<string> {
  const user = await sys.createUser([]);
  const bound = await sys.request('POST', `/v1/orgs/${acme().slug}/bindings`, { key: sys.keyOf('admin'), body: { userId: user.userId, role, siteIds: [hqSite] } });
  expect(bound.status).toBe(201);
  return user.key;
}

/** A session of the (whole-org) technician that read one device live. */
async function sessionOn(deviceId: string): Promise<string> {
  const sessionId = await sys.startSession(owner());
  const turnId = await sys.send(sessionId, owner(), toolCall('get_device_info', { device_id: deviceId }));
  const session = await sys.waitForTurn(sessionId, owner(), turnId);
  expect(session.steps).toEqual([expect.objectContaining({ tool: 'get_device_info', status: 'succeeded' })]);
  return sessionId;
}

const read = (key: string, route: string) => sys.request('GET', route, { key });

describe('a session that reached a device of another site', () => {
  let branchSession: string;
  let hqSession: string;
  beforeAll(async () => {
    branchSession = await sessionOn(outside);
    hqSession = await sessionOn(inside);
  }, 120_000);

  it.each(['approver', 'technician', 'auditor', 'admin'] as const)('is not found for a %s narrowed to the other site, through every read and the console', async (role) => {
    const key = await narrowed(role);
    const unknown = crypto.randomUUID();
    const notFound = await read(key, `/v1/sessions/${unknown}`);
    expect(notFound.status).toBe(404);

    expect(await read(key, `/v1/sessions/${branchSession}`)).toEqual(notFound);
    expect(await read(key, `/v1/sessions/${branchSession}/timeline`)).toEqual(notFound);
    const watch = await sys.watchSession(branchSession, key);
    expect(watch.subscription).toEqual({ ok: false, error: 'session not found' });
    watch.close();

    // The session that stayed within their site is theirs to read.
    expect((await read(key, `/v1/sessions/${hqSession}`)).status).toBe(200);
    const hqWatch = await sys.watchSession(hqSession, key);
    expect(hqWatch.subscription).toEqual({ ok: true });
    hqWatch.close();

    if (role === 'auditor') {
      expect(await read(key, `/v1/audit/sessions/${branchSession}/export`)).toEqual(await read(key, `/v1/audit/sessions/${unknown}/export`));
      expect((await read(key, `/v1/audit/sessions/${hqSession}/export`)).status).toBe(200);
      const listed = (await read(key, `/v1/audit/sessions?org=${acme().slug}`)).body.sessions.map((s: { id: string }) => s.id);
      expect(listed).toContain(hqSession);
      expect(listed).not.toContain(branchSession);
    }
    if (role === 'admin') {
      const listed = (await read(key, `/v1/sessions?org=${acme().slug}`)).body.sessions.map((s: { id: string }) => s.id);
      expect(listed).toContain(hqSession);
      expect(listed).not.toContain(branchSession);
    }
  }, 60_000);

  it('is readable by its owner and by an admin of the whole org', async () => {
    for (const key of [owner(), sys.keyOf('admin')]) {
      const session = await read(key, `/v1/sessions/${branchSession}`);
      expect(session.status).toBe(200);
      expect(session.body.steps).toEqual([expect.objectContaining({ tool: 'get_device_info', status: 'succeeded' })]);
      expect((await read(key, `/v1/sessions/${branchSession}/timeline`)).status).toBe(200);
      const watch = await sys.watchSession(branchSession, key);
      expect(watch.subscription).toEqual({ ok: true });
      watch.close();
    }
    const listed = (await read(sys.keyOf('admin'), `/v1/sessions?org=${acme().slug}`)).body.sessions.map((s: { id: string }) => s.id);
    expect(listed).toEqual(expect.arrayContaining([branchSession, hqSession]));
  });

  it("is not named among the org's tripped breakers to a user narrowed to the other site", async () => {
    // Both breakers tripped, as recordBreakerTrip leaves the rows.
    await sys.prisma.copilotSession.updateMany({ where: { id: { in: [branchSession, hqSession] } }, data: { breakerTrippedAt: new Date() } });
    const tripped = async (key: string) => (await read(key, `/v1/orgs/${acme().slug}/status`)).body.trippedBreakers.map((b: { sessionId: string }) => b.sessionId);
    expect(await tripped(sys.keyOf('admin'))).toEqual(expect.arrayContaining([branchSession, hqSession]));
    const seen = await tripped(await narrowed('approver'));
    expect(seen).toContain(hqSession);
    expect(seen).not.toContain(branchSession);
    await sys.prisma.copilotSession.updateMany({ where: { id: { in: [branchSession, hqSession] } }, data: { breakerTrippedAt: null } });
  });

  it('is not found for another org\'s user, as before', async () => {
    expect(await read(sys.keyOf('admin', 'globex'), `/v1/sessions/${branchSession}`)).toEqual(await read(sys.keyOf('admin', 'globex'), `/v1/sessions/${crypto.randomUUID()}`));
  });

  it('counts a read across the org as reaching every site the reader could see', async () => {
    // list_devices by a whole-org technician names the other site's devices too.
    const sessionId = await sys.startSession(owner());
    await sys.waitForTurn(sessionId, owner(), await sys.send(sessionId, owner(), toolCall('list_devices', {})));
    expect((await read(await narrowed('approver'), `/v1/sessions/${sessionId}`)).status).toBe(404);
  }, 60_000);
});

it('stops telling a narrowed watcher about a session once it reaches another site', async () => {
  const sessionId = await sessionOn(inside);
  const approver = await narrowed('approver');
  const watcher = await sys.watchSession(sessionId, approver);
  const admin = await sys.watchSession(sessionId, sys.keyOf('admin'));
  expect([watcher.subscription, admin.subscription]).toEqual([{ ok: true }, { ok: true }]);

  const turnId = await sys.send(sessionId, owner(), toolCall('get_device_info', { device_id: outside }));
  await sys.waitForTurn(sessionId, owner(), turnId);
  await admin.next((e) => e.turnId === turnId && e.type === 'tool:completed', 'the admin to hear the call complete');
  // Whatever came after the call reached the other site (its start, its output, the answer) went to the admin only.
  const heardByAdmin = admin.events.filter((e) => e.turnId === turnId);
  const reached = heardByAdmin.findIndex((e) => e.type === 'tool:started');
  expect(reached).toBeGreaterThanOrEqual(0);
  expect(heardByAdmin.slice(reached).map((e) => e.type)).toEqual(expect.arrayContaining(['tool:started', 'tool:completed', 'model:replied']));
  await waitUntil(async () => watcher.events.filter((e) => e.turnId === turnId).length >= reached, 'the watcher to hear what came before');
  expect(watcher.events.filter((e) => e.turnId === turnId)).toEqual(heardByAdmin.slice(0, reached));
  expect((await read(approver, `/v1/sessions/${sessionId}`)).status).toBe(404);
  watcher.close();
  admin.close();
}, 60_000);

it("cuts off a watcher whose API key is revoked: no event of the session reaches them, and they are disconnected", async () => {
  const sessionId = await sessionOn(inside);
  const auditor = await sys.createUser(['auditor']);
  const watcher = await sys.watchSession(sessionId, auditor.key);
  const admin = await sys.watchSession(sessionId, sys.keyOf('admin'));
  expect([watcher.subscription, admin.subscription]).toEqual([{ ok: true }, { ok: true }]);

  const [key] = (await read(auditor.key, '/v1/api-keys')).body.keys as { id: string }[];
  expect((await sys.request('DELETE', `/v1/api-keys/${key!.id}`, { key: auditor.key })).status).toBe(200);
  const turnId = await sys.send(sessionId, owner(), toolCall('get_device_info', { device_id: inside }));
  await sys.waitForTurn(sessionId, owner(), turnId);
  await admin.next((e) => e.turnId === turnId && e.type === 'model:replied', 'the admin to hear the answer');
  expect(watcher.events.filter((e) => e.turnId === turnId)).toEqual([]);
  await waitUntil(async () => !watcher.connected(), 'the revoked watcher to be disconnected', 10_000);
  watcher.close();
  admin.close();
}, 60_000);
