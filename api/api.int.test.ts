/**
 * The REST API and the agent gateway against real PostgreSQL, Redis and Temporal: authentication, validation
 * errors that name the field, JSON 404s, the generated OpenAPI document, enrollment, and agent frames that do
 * not match the protocol being dropped while the connection survives.
 */
import http from 'node:http';
import { io, type Socket } from 'socket.io-client';
import { PROTOCOL_VERSION } from '../common/protocol';
import { createEnrollmentKey } from '../prisma/seed-demo';
import { startTestSystem, waitUntil, type TestSystem } from '../test/harness';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem();
});
afterAll(async () => {
  await sys?.stop();
});

describe('REST API', () => {
  it('answers liveness, and reports Temporal, PostgreSQL and Redis as up when ready', async () => {
    expect(await sys.request('GET', '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
    const res = await sys.request('GET', '/readyz');
    expect(res).toEqual({ status: 200, body: { status: 'ready', services: { temporal: 'up', postgres: 'up', redis: 'up' }, down: [] } });
  });

  it('keeps an idle connection open past the 5 s that clients and load balancers may keep theirs, so they close first', async () => {
    // When the server closes an idle connection first, a client can send its next request on the socket just as it is
    // closed, and that request fails with ECONNRESET (Node's default keep-alive, 5 s, is shorter than undici's 4 s
    // plus any pause of the client's event loop, and than a load balancer's 60 s).
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<{ status: number; reusedSocket: boolean }>((resolve, reject) => {
        const req = http.get(new URL('/healthz', sys.url), { agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, reusedSocket: req.reusedSocket }));
        });
        req.on('error', reject);
      });
    try {
      expect(await get()).toEqual({ status: 200, reusedSocket: false });
      await new Promise((r) => setTimeout(r, 6000));
      expect(await get()).toEqual({ status: 200, reusedSocket: true });
    } finally {
      agent.destroy();
    }
  });

  it('refuses requests without a valid API key', async () => {
    expect((await sys.request('GET', '/v1/devices')).status).toBe(401);
    const forged = await sys.request('GET', '/v1/devices', { key: 'gh_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' });
    expect(forged.status).toBe(401);
    expect(forged.body.error.code).toBe('UNAUTHORIZED');
  });

  it('answers a malformed body with 400 naming the field', async () => {
    const key = sys.keyOf('technician');
    const wrongType = await sys.request('POST', '/v1/sessions', { key, body: { org: 42 } });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.error.code).toBe('BAD_REQUEST');
    expect(wrongType.body.error.message).toMatch(/^body\.org: /);

    const extra = await sys.request('POST', '/v1/sessions', { key, body: { org: sys.seed.orgs.acme.slug, admin: true } });
    expect(extra.status).toBe(400);
    expect(extra.body.error.message).toMatch(/admin/);

    const notJson = await sys.request('POST', '/v1/sessions', { key, rawBody: '{"org": ' });
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.message).toBe('body: not valid JSON');

    const badId = await sys.request('GET', '/v1/sessions/not-a-uuid', { key });
    expect(badId.status).toBe(400);
    expect(badId.body.error.message).toMatch(/^params\.id: /);

    const badQuery = await sys.request('GET', '/v1/devices?online=maybe', { key });
    expect(badQuery.status).toBe(400);
    expect(badQuery.body.error.message).toMatch(/^query\.online: /);
  });

  it('refuses a body that is not valid UTF-8 instead of storing replacement characters the sender never wrote', async () => {
    const key = sys.keyOf('technician');
    const res = await fetch(new URL('/v1/api-keys', sys.url), {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff, 0xfe]), Buffer.from('A"}')]),
    });
    expect({ status: res.status, body: await res.json() }).toEqual({ status: 400, body: { error: { code: 'BAD_REQUEST', message: 'body: not valid UTF-8' } } });
    expect(await sys.prisma.apiKey.count({ where: { name: { contains: '\ufffd' } } })).toBe(0);
  });

  it('starts many sessions at once, each with its own workflow', async () => {
    const key = sys.keyOf('technician');
    const results = await Promise.all(Array.from({ length: 20 }, () => sys.request('POST', '/v1/sessions', { key, body: {} })));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(201));
    expect(new Set(results.map((r) => r.body.workflowId)).size).toBe(20);
  });

  it('answers an unknown route with a JSON 404', async () => {
    const res = await sys.request('GET', '/v1/nothing-here');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: 'NOT_FOUND', message: 'no route for GET /v1/nothing-here' } });
  });

  it('publishes an OpenAPI document generated from the route schemas', async () => {
    const res = await sys.request('GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(Object.keys(res.body.paths)).toEqual(
      expect.arrayContaining(['/healthz', '/readyz', '/v1/sessions', '/v1/sessions/{id}', '/v1/sessions/{id}/messages', '/v1/devices', '/v1/agents/enroll']),
    );
    const body = res.body.paths['/v1/sessions/{id}/messages'].post.requestBody.content['application/json'].schema;
    expect(body.properties.text).toMatchObject({ type: 'string', minLength: 1, maxLength: 8000 });
  });

  it('lists only the devices of the caller\'s organization', async () => {
    const key = await createEnrollmentKey(sys.prisma, { orgId: sys.seed.orgs.globex.id, siteId: sys.seed.orgs.globex.siteIds[0]! });
    const enrolled = await sys.request('POST', '/v1/agents/enroll', { body: { key, hostname: 'globex-pc-1', os: 'Linux', executor: 'linux' } });
    expect(enrolled.status).toBe(201);
    const acme = await sys.request('GET', '/v1/devices', { key: sys.keyOf('technician') });
    const globex = await sys.request('GET', '/v1/devices', { key: sys.keyOf('technician', 'globex') });
    expect(acme.body.devices.map((d: { name: string }) => d.name)).not.toContain('globex-pc-1');
    expect(globex.body.devices.map((d: { name: string }) => d.name)).toContain('globex-pc-1');
  });

  it('honours the enrollment key\'s use cap', async () => {
    const key = await createEnrollmentKey(sys.prisma, { orgId: sys.seed.orgs.acme.id, siteId: sys.seed.orgs.acme.siteIds[0]!, maxUses: 1 });
    const body = { key, hostname: 'acme-pc-9', os: 'Linux', executor: 'linux' };
    expect((await sys.request('POST', '/v1/agents/enroll', { body })).status).toBe(201);
    const again = await sys.request('POST', '/v1/agents/enroll', { body });
    expect(again.status).toBe(401);
    expect(again.body.error.message).toMatch(/enrollment key is invalid, expired, revoked or used up/);
  });
});

describe('agent gateway', () => {
  let creds: { deviceId: string; secret: string };
  beforeAll(async () => {
    const key = await createEnrollmentKey(sys.prisma, { orgId: sys.seed.orgs.acme.id, siteId: sys.seed.orgs.acme.siteIds[0]! });
    const res = await sys.request('POST', '/v1/agents/enroll', { body: { key, hostname: 'acme-frames', os: 'Linux', executor: 'linux' } });
    creds = res.body;
  });

  const connect = (auth: Record<string, unknown>): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const socket = io(`${sys.url}/agents`, { auth, transports: ['websocket'], reconnection: false });
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', (err) => {
        socket.close();
        reject(err);
      });
    });
  const auth = () => ({ v: PROTOCOL_VERSION, deviceId: creds.deviceId, secret: creds.secret, agentVersion: 'test' });

  it('refuses a connection with a wrong secret', async () => {
    await expect(connect({ ...auth(), secret: 'x'.repeat(43) })).rejects.toThrow('invalid agent credentials');
  });

  it('drops and counts invalid frames, and the connection survives', async () => {
    const socket = await connect(auth());
    const before = sys.api.gateway.stats().invalidFrames;
    const protocolErrors: string[] = [];
    socket.on('protocol:error', (m: { reason: string }) => protocolErrors.push(m.reason));

    const ack = await socket.timeout(5000).emitWithAck('command:result', { v: PROTOCOL_VERSION, commandId: 5, ok: 'yes' });
    expect(ack).toEqual({ accepted: false, reason: 'invalid frame' });
    socket.emit('command:result', 'garbage');
    socket.emit('shell:exec', { cmd: 'rm -rf /' });
    await waitUntil(async () => sys.api.gateway.stats().invalidFrames >= before + 3, 'frames to be counted', 5000);
    expect(protocolErrors.length).toBeGreaterThanOrEqual(3);
    expect(socket.connected).toBe(true);

    // A well-formed result for a command this device never received is refused, not stored.
    const stray = await socket.timeout(5000).emitWithAck('command:result', {
      v: PROTOCOL_VERSION,
      commandId: 'no-such-command',
      ok: true,
      output: {},
      startedAt: new Date().toISOString(),
      finishedAt: new Date().toISOString(),
    });
    expect(stray).toEqual({ accepted: false, reason: 'unknown command' });
    expect(socket.connected).toBe(true);
    socket.close();
  });

  it('refuses a second live connection with the same credential, flags every attempt, and keeps the first', async () => {
    const first = await connect(auth());
    const flagged = () => sys.prisma.auditEvent.findMany({ where: { action: 'security.duplicate_agent_connection', actorId: creds.deviceId }, orderBy: { id: 'asc' } });
    const before = (await flagged()).length;
    await expect(connect(auth())).rejects.toThrow(/already connected/);
    await expect(connect(auth())).rejects.toThrow(/already connected/);
    // One event per attempt, in the device's org, naming the device and where the clone connected from.
    const attempt = { orgId: sys.seed.orgs.acme.id, actorType: 'agent', target: 'acme-frames', data: { address: expect.stringMatching(/127\.0\.0\.1$/) } };
    expect((await flagged()).slice(before)).toEqual([expect.objectContaining(attempt), expect.objectContaining(attempt)]);

    // The first connection is untouched and still heard; once it is gone, the device connects again.
    expect(first.connected).toBe(true);
    const now = new Date().toISOString();
    const ack = await first.timeout(5000).emitWithAck('command:result', { v: PROTOCOL_VERSION, commandId: 'no-such-command', ok: true, startedAt: now, finishedAt: now });
    expect(ack).toEqual({ accepted: false, reason: 'unknown command' });
    first.close();
    await waitUntil(async () => (await sys.prisma.device.findUniqueOrThrow({ where: { id: creds.deviceId } })).online === false, 'the device to be seen offline');
    (await connect(auth())).close();
  });
});

describe('enrollment keys', () => {
  it('lets an org admin mint a key that enrolls one device, and nobody else', async () => {
    const body = { org: sys.seed.orgs.acme.slug, site: 'Warehouse', maxUses: 1 };
    const refused = await sys.request('POST', '/v1/enrollment-keys', { key: sys.keyOf('technician'), body });
    expect(refused.status).toBe(404);
    const foreign = await sys.request('POST', '/v1/enrollment-keys', { key: sys.keyOf('admin', 'globex'), body });
    expect(foreign.status).toBe(404);

    const minted = await sys.request('POST', '/v1/enrollment-keys', { key: sys.keyOf('admin'), body });
    expect(minted.status).toBe(201);
    expect(minted.body.key).toMatch(/^ghe_/);
    const stored = await sys.prisma.enrollmentKey.findMany({ where: { orgId: sys.seed.orgs.acme.id } });
    expect(JSON.stringify(stored)).not.toContain(minted.body.key);

    const enrolled = await sys.request('POST', '/v1/agents/enroll', { body: { key: minted.body.key, hostname: 'wh-scanner-1', os: 'Linux', executor: 'linux' } });
    expect(enrolled.status).toBe(201);
    const device = await sys.prisma.device.findUniqueOrThrow({ where: { id: enrolled.body.deviceId }, include: { site: true } });
    expect(device.site.name).toBe('Warehouse');
  });
});
