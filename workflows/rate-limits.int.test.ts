/**
 * Layered rate limits against a dedicated Redis this test really stops: per user, per org, per tool, the agent
 * gateway's per-agent limit, an org's own limits set by its admin through the policy, and failing closed while Redis
 * is down. Windows are scaled down (RATE_WINDOW_SCALE)
 * so a test can watch them slide: a minute is 3 s here, ten minutes 30 s.
 */
import crypto from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import { PROTOCOL_VERSION } from '../common/protocol';
import { createEnrollmentKey } from '../prisma/seed-demo';
import { startTestSystem, waitUntil, type TestSystem } from '../test/harness';

let sys: TestSystem;
let tech: string;
const turnOf = (session: any, turnId: string) => session.turns.find((t: { turnId: string }) => t.turnId === turnId);
const tool = (name: string, input: Record<string, unknown>) => `/tool ${name} ${JSON.stringify(input)}`;

beforeAll(async () => {
  sys = await startTestSystem({
    simulated: 1,
    dedicatedRedis: true,
    env: { RATE_WINDOW_SCALE: '0.05', RATE_USER_MESSAGES_PER_MINUTE: '3', RATE_ORG_MESSAGES_PER_HOUR: '14', RATE_AGENT_MESSAGES_PER_MINUTE: '20' },
  });
  tech = sys.keyOf('technician');
});
afterAll(async () => {
  await sys?.stop();
});

/** Sends one message in each of n new sessions at once and returns the finished turns. */
async function burst(key: string, n: number, text = 'list the devices') {
  const sessions = await Promise.all(Array.from({ length: n }, () => sys.startSession(key)));
  const turns = await Promise.all(sessions.map((id) => sys.send(id, key, text)));
  return Promise.all(sessions.map(async (id, i) => turnOf(await sys.waitForTurn(id, key, turns[i]!), turns[i]!)));
}

it('lets a user send 3 messages per window, refuses the 4th, and recovers when the window slides', async () => {
  const before = sys.modelStats.messages;
  const turns = await burst(tech, 4);
  const refused = turns.filter((t) => t.status === 'refused');
  expect(turns.filter((t) => t.status === 'answered')).toHaveLength(3);
  expect(refused).toHaveLength(1);
  expect(refused[0].answer).toMatch(/^rate limit: at most 3 messages per 3s for each user; try again in \ds\. Nothing was run\.$/);
  expect(sys.modelStats.messages - before).toBe(3 * 2); // list_devices and the answer, for the three that ran

  await new Promise((r) => setTimeout(r, 3100));
  const again = await burst(tech, 1);
  expect(again[0].status).toBe('answered');
});

it('limits a tool per user by its catalog entry: network_discovery twice per (scaled) ten minutes', async () => {
  await new Promise((r) => setTimeout(r, 3100)); // a fresh message window
  const [deviceId] = [...sys.simulated.values()];
  const sessionId = await sys.startSession(tech);
  const scans = [];
  for (let i = 0; i < 3; i++) {
    const turnId = await sys.send(sessionId, tech, tool('network_discovery', { device_id: deviceId, cidr: '192.168.10.0/24' }));
    scans.push(turnOf(await sys.waitForTurn(sessionId, tech, turnId), turnId));
    await new Promise((r) => setTimeout(r, 1100)); // stay under the message limit
  }
  const steps = scans.map((t) => t.steps.find((s: { kind: string }) => s.kind === 'tool'));
  expect(steps.map((s) => s.status)).toEqual(['succeeded', 'succeeded', 'denied']);
  expect(steps[2].summary).toMatch(/^rate limit: network_discovery at most 2 times per 10 min per user; try again in \d+s$/);
});

it("raises a user's limits through the org's policy, as its admin would, audited as raised; null puts the default back", async () => {
  await new Promise((r) => setTimeout(r, 3100)); // a fresh message window (the tool's, 30 s here, still holds two scans)
  const admin = sys.keyOf('admin');
  const policy = `/v1/orgs/${sys.seed.orgs.acme.slug}/policy`;
  const raised = { userMessagesPerMinute: 5, orgMessagesPerHour: null, toolCallsPerUser: { network_discovery: 3 } };
  expect((await sys.request('PUT', policy, { key: tech, body: { overrides: [], rateLimits: raised, reason: 'raise limits' } })).status).toBe(404);
  expect((await sys.request('PUT', policy, { key: admin, body: { overrides: [], rateLimits: raised, reason: 'raise limits' } })).status).toBe(200);
  expect((await sys.request('GET', policy, { key: admin })).body.rateLimits).toMatchObject({
    userMessagesPerMinute: 5,
    orgMessagesPerHour: 14,
    toolCallsPerUser: { network_discovery: { max: 3, windowSeconds: 600 }, manage_service: { max: 30, windowSeconds: 600 } },
  });
  const event = await sys.prisma.auditEvent.findFirst({ where: { orgId: sys.seed.orgs.acme.id, action: 'policy.limits_raised' }, orderBy: { id: 'desc' } });
  expect(event?.data).toMatchObject({ raised: ['userMessagesPerMinute', 'toolCallsPerUser.network_discovery'] });

  // A third scan within the tool's window, refused by the catalog's limit in the test before; then four messages
  // more: five in the minute, where the default allows three.
  const [deviceId] = [...sys.simulated.values()];
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, tool('network_discovery', { device_id: deviceId, cidr: '192.168.10.0/24' }));
  expect(turnOf(await sys.waitForTurn(sessionId, tech, turnId), turnId).steps.find((st: { kind: string }) => st.kind === 'tool').status).toBe('succeeded');
  const turns = await burst(tech, 4);
  expect(turns.map((t) => t.status)).toEqual(['answered', 'answered', 'answered', 'answered']);

  const back = { userMessagesPerMinute: null, orgMessagesPerHour: null, toolCallsPerUser: {} };
  expect((await sys.request('PUT', policy, { key: admin, body: { overrides: [], rateLimits: back, reason: 'limits back' } })).status).toBe(200);
  expect((await sys.request('GET', policy, { key: admin })).body.rateLimits).toMatchObject({ userMessagesPerMinute: 3, toolCallsPerUser: { network_discovery: { max: 2 } } });
  expect((await sys.request('PUT', policy, { key: admin, body: { overrides: [], rateLimits: { ...back, toolCallsPerUser: { wipe_everything: 9 } }, reason: 'bad tool' } })).status).toBe(400);
});

describe('the agent gateway', () => {
  it('throttles a flooding agent, disconnects it, and the other agents are unaffected', async () => {
    const key = await createEnrollmentKey(sys.prisma, { orgId: sys.seed.orgs.acme.id, siteId: sys.seed.orgs.acme.siteIds[0]! });
    const creds = (await sys.request('POST', '/v1/agents/enroll', { body: { key, hostname: 'flooder', os: 'Linux', executor: 'linux' } })).body;
    const flooder: Socket = io(`${sys.url}/agents`, { auth: { v: PROTOCOL_VERSION, deviceId: creds.deviceId, secret: creds.secret, agentVersion: 't' }, transports: ['websocket'], reconnection: false });
    await new Promise<void>((r) => flooder.once('connect', () => r()));
    const before = sys.api.gateway.stats();
    for (let i = 0; i < 200; i++) flooder.emit('command:result', { v: PROTOCOL_VERSION, commandId: `flood-${i}`, ok: true, startedAt: new Date().toISOString(), finishedAt: new Date().toISOString() });
    await waitUntil(async () => !flooder.connected, 'the flooding agent to be disconnected');
    const after = sys.api.gateway.stats();
    expect(after.throttledFrames - before.throttledFrames).toBeGreaterThan(20);
    expect(after.floodDisconnects - before.floodDisconnects).toBe(1);
    expect(await sys.prisma.auditEvent.count({ where: { action: 'security.agent_flood', actorId: creds.deviceId } })).toBe(1);

    // The simulated agent still gets its command through and answers.
    await new Promise((r) => setTimeout(r, 3100));
    const [deviceId] = [...sys.simulated.values()];
    const sessionId = await sys.startSession(tech);
    const turnId = await sys.send(sessionId, tech, tool('get_device_info', { device_id: deviceId }));
    const turn = turnOf(await sys.waitForTurn(sessionId, tech, turnId), turnId);
    expect(turn.steps.find((s: { kind: string }) => s.kind === 'tool')).toMatchObject({ status: 'succeeded' });
  });
});

describe('the agent gateway, uploading full output', () => {
  it('counts output chunks apart from the agent\'s other frames: twice the frame limit in chunks, none refused', async () => {
    await new Promise((r) => setTimeout(r, 3100));
    const key = await createEnrollmentKey(sys.prisma, { orgId: sys.seed.orgs.acme.id, siteId: sys.seed.orgs.acme.siteIds[0]! });
    const creds = (await sys.request('POST', '/v1/agents/enroll', { body: { key, hostname: 'uploader', os: 'Linux', executor: 'linux' } })).body;
    const agent: Socket = io(`${sys.url}/agents`, { auth: { v: PROTOCOL_VERSION, deviceId: creds.deviceId, secret: creds.secret, agentVersion: 't' }, transports: ['websocket'], reconnection: false });
    await new Promise<void>((r) => agent.once('connect', () => r()));
    try {
      const before = sys.api.gateway.stats().throttledFrames;
      // 40 chunks within one window, where the frame limit is 20: each one answered (for a command it does not
      // have, so refused as unknown), none throttled; and a result after them is answered too.
      const commandId = `${crypto.randomUUID()}:toolu_${crypto.randomBytes(6).toString('hex')}:${creds.deviceId}`;
      const acks = [];
      for (const stream of ['stdout', 'stderr']) {
        for (let seq = 0; seq < 20; seq++) {
          acks.push(await agent.timeout(5000).emitWithAck('command:output', { v: PROTOCOL_VERSION, commandId, stream, seq, data: Buffer.from('x') }));
        }
      }
      expect(new Set(acks.map((a) => JSON.stringify(a)))).toEqual(new Set([JSON.stringify({ accepted: false, reason: 'unknown command' })]));
      const now = new Date().toISOString();
      const result = await agent.timeout(5000).emitWithAck('command:result', { v: PROTOCOL_VERSION, commandId, ok: true, startedAt: now, finishedAt: now });
      expect(result).toEqual({ accepted: false, reason: 'unknown command' });
      expect(sys.api.gateway.stats().throttledFrames).toBe(before);
    } finally {
      agent.close();
    }
  });
});

it('denies every gated action while Redis is stopped, and works again when it is back', async () => {
  await new Promise((r) => setTimeout(r, 3100));
  const sessionId = await sys.startSession(tech);
  const before = sys.modelStats.messages;
  await sys.redisServer!.stop();
  try {
    const turnId = await sys.send(sessionId, tech, 'list the devices');
    const turn = turnOf(await sys.waitForTurn(sessionId, tech, turnId), turnId);
    expect(turn).toMatchObject({ status: 'refused', answer: 'rate limit service unavailable, nothing was run' });
    expect(sys.modelStats.messages).toBe(before);
    expect(await sys.prisma.auditEvent.count({ where: { orgId: sys.seed.orgs.acme.id, action: 'ratelimit.unavailable' } })).toBeGreaterThan(0);
    expect(await sys.request('GET', '/readyz')).toMatchObject({ status: 503, body: { status: 'not ready', down: ['redis'] } });
  } finally {
    await sys.redisServer!.start();
  }
  await waitUntil(async () => (await sys.request('GET', '/readyz')).status === 200, 'Redis to be reachable again');
  const turnId = await sys.send(sessionId, tech, 'list the devices');
  expect(turnOf(await sys.waitForTurn(sessionId, tech, turnId), turnId).status).toBe('answered');
});

it('limits the organization across its users', async () => {
  // Last in the file: its window is 180 s. Fill the org's window to its limit exactly, with several users.
  const used = await sys.limiter.count(`org:${sys.seed.orgs.acme.id}:messages`, 180_000);
  const toSend = 14 - used + 1;
  const users = await Promise.all(Array.from({ length: Math.ceil(toSend / 3) }, () => sys.createUser(['technician'])));
  const batches = users.map((u, i) => burst(u.key, Math.min(3, toSend - i * 3)));
  const turns = (await Promise.all(batches)).flat();
  const refused = turns.filter((t) => t.status === 'refused');
  expect(turns).toHaveLength(toSend);
  expect(refused).toHaveLength(1);
  expect(refused[0].answer).toMatch(/^rate limit: this organization sent 14 messages in the last 180s; try again in \d+s\. Nothing was run\.$/);
});
