/**
 * The agent gateway and the console against hostile clients, with the real api, PostgreSQL, Redis and Temporal: a
 * result counts only from the device its command was sent to, a revoked credential stays out (also when its dropped
 * connection tries to come back), and thousands of random and malformed frames on `/agents` and `/console` are
 * dropped or answered with an error while the api stays up and this test's organizations' data stays as it was.
 */
import crypto from 'node:crypto';
import fc from 'fast-check';
import { io, type Socket } from 'socket.io-client';
import { MAX_AGENT_FRAME_BYTES, MAX_OUTPUT_DEPTH, PROTOCOL_VERSION } from '../../common/protocol';
import { agentAuth, startTestSystem, waitUntil, type EnrolledDevice, type TestSystem } from '../../test/harness';

let sys: TestSystem;
beforeAll(async () => {
  // The per-agent frame limit (tested in workflows/rate-limits.int.test.ts) would drop the fuzz frames before the
  // validation they are meant for.
  sys = await startTestSystem({ env: { RATE_AGENT_MESSAGES_PER_MINUTE: '1000000' } });
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});
// Every connection a test opened is closed after it, and the gateway has seen it go (the next test may reuse the device).
const opened = new Set<Socket>();
afterEach(async () => {
  for (const socket of opened) socket.close();
  opened.clear();
  await waitUntil(async () => sys.api.io.of('/agents').sockets.size === 0, 'the agents to be disconnected', 5000);
});

/** Resolves with the connected socket, or rejects with the server's refusal. */
const connect = (path: '/agents' | '/console', auth: unknown, opts: { reconnection?: boolean } = {}): Promise<Socket> =>
  new Promise((resolve, reject) => {
    const socket = io(`${sys.url}${path}`, { auth: auth as Record<string, unknown>, transports: ['websocket'], reconnection: false, reconnectionDelay: 300, ...opts });
    opened.add(socket);
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      reject(err);
    });
  });
const connectAgent = (d: EnrolledDevice, opts?: { reconnection?: boolean }) => connect('/agents', agentAuth(d), opts);

const resultFor = (commandId: string) => {
  const now = new Date().toISOString();
  return { v: PROTOCOL_VERSION, commandId, ok: true, output: { hostname: 'pwned' }, startedAt: now, finishedAt: now };
};
const commandRow = (id: string) => sys.prisma.deviceCommand.findUniqueOrThrow({ where: { id } });

describe('command results', () => {
  it('accepts a result only from the device the command was sent to, and flags any other device that sends one', async () => {
    const target = await sys.enrollDevice('sec-target');
    const sibling = await sys.enrollDevice('sec-sibling');
    const foreign = await sys.enrollDevice('sec-foreign', 'globex');
    const commandId = await sys.deliveredCommand(target);
    const before = await commandRow(commandId);

    for (const intruder of [sibling, foreign]) {
      const socket = await connectAgent(intruder);
      const forged = await socket.timeout(5000).emitWithAck('command:result', resultFor(commandId));
      // Exactly what a command that does not exist gets: the intruder learns nothing.
      const unknown = await socket.timeout(5000).emitWithAck('command:result', resultFor(`${crypto.randomUUID()}:toolu_x:${intruder.deviceId}`));
      expect(forged).toEqual({ accepted: false, reason: 'unknown command' });
      expect(unknown).toEqual(forged);
      socket.close();
      const flagged = await sys.prisma.auditEvent.findMany({ where: { action: 'security.result_from_wrong_device', actorId: intruder.deviceId } });
      expect(flagged).toEqual([expect.objectContaining({ orgId: intruder.orgId, actorType: 'agent', target: commandId })]);
    }
    expect(await commandRow(commandId)).toEqual(before);

    // The device it was sent to is heard.
    const socket = await connectAgent(target);
    expect(await socket.timeout(5000).emitWithAck('command:result', resultFor(commandId))).toEqual({ accepted: true });
    socket.close();
    expect(await commandRow(commandId)).toMatchObject({ status: 'succeeded', result: { hostname: 'pwned' } });
  });
});

describe('revoked credentials', () => {
  it('keeps a revoked device out, also when its dropped connection comes back on its own', async () => {
    const device = await sys.enrollDevice('sec-revoked');
    const online = async () => (await sys.prisma.device.findUniqueOrThrow({ where: { id: device.deviceId } })).online;
    const socket = await connectAgent(device, { reconnection: true });
    const connects: string[] = [];
    const refusals: string[] = [];
    socket.on('connect', () => connects.push(socket.id ?? ''));
    socket.on('connect_error', (err) => refusals.push(err.message));
    // A broadcast to the device's room gives the client an offset to resume from, were connection-state recovery on.
    const broadcasts: unknown[] = [];
    socket.on('protocol:error', (msg) => broadcasts.push(msg));
    const broadcast = async () => {
      sys.api.io.of('/agents').to(`device:${device.deviceId}`).emit('protocol:error', { v: PROTOCOL_VERSION, reason: 'broadcast' });
      const seen = broadcasts.length + 1;
      await waitUntil(async () => broadcasts.length === seen, 'the broadcast to arrive', 5000);
    };

    // The network drops under a valid credential: the client comes back by itself (as a recovered session would).
    await broadcast();
    socket.io.engine.close();
    await waitUntil(async () => connects.length === 1 && socket.connected, 'the agent to reconnect by itself', 10_000);

    await sys.prisma.deviceCredential.updateMany({ where: { deviceId: device.deviceId }, data: { revokedAt: new Date() } });
    await broadcast();
    socket.io.engine.close();
    await waitUntil(async () => refusals.length > 0, 'the reconnection to be refused', 10_000);
    expect(refusals[0]).toBe('invalid agent credentials');
    expect(connects).toHaveLength(1);
    expect(socket.connected).toBe(false);
    await waitUntil(async () => !(await online()), 'the device to be seen offline', 5000);
    socket.close();

    await expect(connectAgent(device)).rejects.toThrow('invalid agent credentials');
  });
});

describe('malformed frames', () => {
  // A fixed seed keeps a run reproducible; a failure prints the frame and the seed and path that replay it.
  const SEED = 20261121;
  const orgIds = () => ({ in: [sys.seed.orgs.acme.id, sys.seed.orgs.globex.id] });
  const TENANT_TABLES = [
    'alert', 'approval', 'approvalLink', 'budgetReservation', 'copilotSession', 'device', 'deviceGroup', 'deviceNote', 'enrollmentKey',
    'message', 'networkScan', 'policyVersion', 'roleBinding', 'script', 'site', 'slackChannel', 'spendCounter', 'toolInvocation',
  ] as const;
  /** What this test's organizations hold; connection bookkeeping (online, last seen) and security events aside. */
  const snapshot = async () => {
    const where = { orgId: orgIds() };
    const counts: Record<string, number> = {};
    for (const table of TENANT_TABLES) counts[table] = await (sys.prisma[table] as any).count({ where });
    return {
      counts,
      auditEvents: await sys.prisma.auditEvent.count({ where: { ...where, NOT: { action: { startsWith: 'security.' } } } }),
      credentials: await sys.prisma.deviceCredential.findMany({ where: { device: where }, orderBy: { id: 'asc' } }),
      commands: await sys.prisma.deviceCommand.findMany({ where, orderBy: { id: 'asc' } }),
      devices: await sys.prisma.device.findMany({ where, orderBy: { id: 'asc' }, omit: { online: true, lastSeenAt: true } }),
    };
  };
  const prototypeIsClean = () => {
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(cleanPrototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  };
  const cleanPrototype = Object.getOwnPropertyNames(Object.prototype).sort();

  // Socket.IO itself refuses to send these names; everything else goes.
  const RESERVED = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);
  const hostileChar = fc.oneof(
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '\u202e', '\u200b', '\ufeff', '"', '\\', ':', '/', '\n'),
  );
  const hostileString = fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: hostileChar, maxLength: 40 }) },
    { weight: 1, arbitrary: fc.tuple(hostileChar, fc.integer({ min: 201, max: 150_000 })).map(([c, n]) => c.repeat(n)) },
  );
  const PROTOTYPE_KEYS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__'];
  /** An object whose own key is `__proto__` and friends, as JSON.parse makes them (an assignment would not). */
  const pollutingObject = fc
    .tuple(fc.constantFrom(...PROTOTYPE_KEYS), fc.jsonValue({ maxDepth: 2 }))
    .map(([key, value]) => JSON.parse(`{${JSON.stringify(key)}: {"polluted": true, "value": ${JSON.stringify(value) ?? 'null'}}}`) as object);
  /** Socket.IO's binary placeholders, sent as data: the server's parser must not be fooled into anything but an error. */
  const placeholder = fc.record({ _placeholder: fc.constant(true), num: fc.oneof(fc.integer({ min: -2, max: 3 }), fc.constantFrom('__proto__', '0', null, 0.5)) });
  const hostile = fc
    .oneof(
      fc.anything({ withTypedArray: true, withNullPrototype: true, withSparseArray: true, stringUnit: hostileChar, maxDepth: 4 }),
      hostileString,
      pollutingObject,
      placeholder,
      fc.constantFrom(null, true, 0, -1, 1.5, Number.MAX_SAFE_INTEGER, [], {}, Buffer.from('binary'), new Uint8Array([0xff, 0xfe])),
    )
    .filter((v) => v !== undefined);
  /** Outputs a device may not send: not storable as JSON in PostgreSQL, binary, or nested too deep. */
  const unstorableOutput = fc.oneof(
    fc.constantFrom('\u0000', 'ok\u0000', '\ud800', 'tail\udfff', { 'key\u0000': 1 }, { ['\udc00']: 1 }, [['\ud83d']], Buffer.from('x')),
    fc.integer({ min: MAX_OUTPUT_DEPTH + 1, max: 300 }).map((depth) => JSON.parse('['.repeat(depth) + ']'.repeat(depth)) as unknown),
  );

  /**
   * `command:result` frames that must never be recorded: a well-formed result (for the sender's own waiting command,
   * another device's, or none) with one field broken, an unknown or prototype-polluting key, or anything at all.
   */
  const resultFrame = (commandIds: string[]) => {
    const base = fc.constantFrom(...commandIds).map(resultFor);
    const broken = <T>(field: string, bad: fc.Arbitrary<T>) => fc.tuple(base, bad).map(([frame, value]) => ({ ...frame, [field]: value }));
    return fc.oneof(
      broken('v', hostile.filter((v) => v !== PROTOCOL_VERSION)),
      broken('commandId', fc.oneof(hostile.filter((v) => typeof v !== 'string'), hostileString.filter((s) => !/^[\w-]+(?::[\w-]+)*$/.test(s) || s.length > 200))),
      broken('ok', hostile.filter((v) => typeof v !== 'boolean')),
      broken('output', unstorableOutput),
      broken('error', hostile),
      broken('startedAt', fc.oneof(hostile.filter((v) => typeof v !== 'string'), hostileString, fc.constantFrom('2026-13-01T00:00:00Z', 'yesterday', '1e309'))),
      // JSON values only: the client itself drops a `__proto__` key from a frame that holds binary data.
      fc.tuple(base, fc.constantFrom(...PROTOTYPE_KEYS, 'extra', 'deviceId'), fc.jsonValue({ maxDepth: 2 })).map(([frame, key, value]) => ({ ...frame, [key]: value })),
      fc.tuple(base, fc.constantFrom(...PROTOTYPE_KEYS)).map(([frame, key]) => JSON.parse(JSON.stringify(frame).replace(/^\{/, `{${JSON.stringify(key)}: {"polluted": true},`)) as object),
      fc.tuple(base, placeholder).map(([frame, p]) => ({ ...frame, commandId: p })),
      hostile,
    );
  };

  /** Sends one frame; says how the server took it. A closed connection is a dropped frame too. */
  const sendFrame = async (socket: Socket, event: string, payload: unknown, withAck: boolean): Promise<{ outcome: 'answered' | 'sent' | 'closed'; answer?: any }> => {
    if (!withAck) {
      socket.emit(event, payload);
      return { outcome: 'sent' };
    }
    try {
      return { outcome: 'answered', answer: await socket.timeout(10_000).emitWithAck(event, payload) };
    } catch (err) {
      if (!socket.connected) return { outcome: 'closed' };
      throw new Error(`no answer to ${event}: ${(err as Error).message}`);
    }
  };

  let target: EnrolledDevice;
  let other: EnrolledDevice;
  let commandIds: string[];
  let acmeSession: string;
  let globexSession: string;
  beforeAll(async () => {
    target = await sys.enrollDevice('sec-fuzz');
    other = await sys.enrollDevice('sec-fuzz-other', 'globex');
    commandIds = [await sys.deliveredCommand(target), await sys.deliveredCommand(other), `${crypto.randomUUID()}:toolu_none:${target.deviceId}`];
    acmeSession = await sys.startSession(sys.keyOf('technician'));
    globexSession = (await sys.request('POST', '/v1/sessions', { key: sys.keyOf('technician', 'globex'), body: {} })).body.id;
    expect(globexSession).toEqual(expect.any(String));
  });

  it('drops thousands of malformed agent frames, records nothing, and still takes a good result afterwards', async () => {
    const before = await snapshot();
    const counted = sys.api.gateway.stats().invalidFrames;
    let socket = await connectAgent(target);
    const tally = { answered: 0, sent: 0, closed: 0 };
    const eventName = fc.oneof(
      { weight: 4, arbitrary: fc.constant('command:result') },
      { weight: 1, arbitrary: fc.oneof(hostileString, fc.constantFrom('command:dispatch', 'protocol:error', 'error', '__proto__', 'constructor', 'command:result ')) },
    );
    await fc.assert(
      fc.asyncProperty(eventName.filter((e) => !RESERVED.has(e)), resultFrame(commandIds), fc.boolean(), async (event, frame, withAck) => {
        if (!socket.connected) socket = await connectAgent(target);
        const sent = await sendFrame(socket, event, frame, withAck);
        tally[sent.outcome] += 1;
        if (sent.outcome === 'answered') expect(sent.answer).toEqual({ accepted: false, reason: expect.stringMatching(/^(invalid frame|unknown event)$/) });
      }),
      { numRuns: 5000, seed: SEED },
    );
    // Most frames reached the validation and were counted (a connection closes only for a packet its parser refuses).
    expect(tally.answered + tally.sent).toBeGreaterThan(4500);
    await waitUntil(async () => sys.api.gateway.stats().invalidFrames - counted >= tally.answered + tally.sent - 50, 'the dropped frames to be counted', 10_000);
    if (!socket.connected) socket = await connectAgent(target);

    expect(await snapshot()).toEqual(before);
    expect(await sys.prisma.auditEvent.count({ where: { action: 'security.result_from_wrong_device', actorId: target.deviceId } })).toBe(0);
    prototypeIsClean();

    // The same connection's next well-formed result is recorded.
    expect(await socket.timeout(5000).emitWithAck('command:result', resultFor(commandIds[0]!))).toEqual({ accepted: true });
    expect(await commandRow(commandIds[0]!)).toMatchObject({ status: 'succeeded' });
    socket.close();
  }, 300_000);

  it('drops thousands of malformed console frames and still subscribes a technician to their own session only', async () => {
    const before = await snapshot();
    let socket = await connect('/console', { token: sys.keyOf('technician') });
    const sessionId = fc.oneof(
      hostile,
      fc.constantFrom(acmeSession.toUpperCase() + ' ', `${acmeSession}\u0000`, acmeSession.replace(/-/g, ''), { $eq: acmeSession }, [acmeSession]),
    );
    const subscribe = fc.oneof(
      fc.record({ sessionId }),
      fc.tuple(fc.constantFrom(...PROTOTYPE_KEYS, 'org', 'all'), hostile).map(([key, value]) => JSON.parse(`{"sessionId": ${JSON.stringify(acmeSession)}, ${JSON.stringify(key)}: ${JSON.stringify(value) ?? 'null'}}`) as object),
      hostile,
    );
    const eventName = fc.oneof({ weight: 4, arbitrary: fc.constant('session:subscribe') }, { weight: 1, arbitrary: hostileString });
    const received: unknown[] = [];
    socket.on('session:event', (e) => received.push(e));
    const tally = { answered: 0, sent: 0, closed: 0 };
    await fc.assert(
      fc.asyncProperty(eventName.filter((e) => !RESERVED.has(e)), subscribe, fc.boolean(), async (event, payload, withAck) => {
        if (!socket.connected) socket = await connect('/console', { token: sys.keyOf('technician') });
        const sent = await sendFrame(socket, event, payload, withAck);
        tally[sent.outcome] += 1;
        if (sent.outcome === 'answered') expect(sent.answer).toEqual({ ok: false, error: expect.any(String) });
      }),
      { numRuns: 5000, seed: SEED },
    );
    expect(tally.answered + tally.sent).toBeGreaterThan(4500);
    if (!socket.connected) socket = await connect('/console', { token: sys.keyOf('technician') });
    expect(received).toEqual([]);
    expect(await snapshot()).toEqual(before);
    prototypeIsClean();

    // Another tenant's session answers like an unknown one; the technician's own session subscribes.
    expect(await socket.timeout(5000).emitWithAck('session:subscribe', { sessionId: globexSession })).toEqual({ ok: false, error: 'session not found' });
    expect(await socket.timeout(5000).emitWithAck('session:subscribe', { sessionId: acmeSession })).toEqual({ ok: true });
    socket.close();
  }, 300_000);

  /** How the server takes a handshake: refused (with its reason), closed (a CONNECT packet it cannot parse), or connected. */
  const handshake = (path: '/agents' | '/console', auth: unknown): Promise<string> =>
    new Promise((resolve) => {
      const socket = io(`${sys.url}${path}`, { auth: auth as Record<string, unknown>, transports: ['websocket'], reconnection: false });
      const done = (outcome: string) => {
        socket.close();
        resolve(outcome);
      };
      socket.once('connect', () => done('connected'));
      socket.once('connect_error', (err) => done(err.message));
      socket.once('disconnect', () => done('closed'));
    });

  it('refuses malformed handshakes on both namespaces', async () => {
    const before = await snapshot();
    const genuine = agentAuth(target);
    const malformedAuth = fc.oneof(
      hostile,
      fc.tuple(fc.constantFrom('v', 'deviceId', 'secret'), hostile).map(([field, value]) => ({ ...genuine, [field]: value })),
      hostile.filter((v) => typeof v !== 'string' || !/^[\w.+-]{1,40}$/.test(v)).map((agentVersion) => ({ ...genuine, agentVersion })),
      fc.constantFrom(...PROTOTYPE_KEYS).map((key) => JSON.parse(`{${JSON.stringify(key)}: ${JSON.stringify(genuine)}}`) as object),
      fc.constant({ ...genuine, secret: 'x'.repeat(43) }),
    );
    await fc.assert(
      fc.asyncProperty(malformedAuth, async (auth) => {
        expect(await handshake('/agents', auth)).toMatch(/^(invalid agent credentials|closed)$/);
      }),
      { numRuns: 300, seed: SEED },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(hostile, fc.record({ token: hostile }), fc.constant({ token: `${sys.keyOf('technician')}\u0000` })), async (auth) => {
        expect(await handshake('/console', auth)).toMatch(/^(a valid API key is required|closed)$/);
      }),
      { numRuns: 300, seed: SEED },
    );
    expect(await snapshot()).toEqual(before);
    prototypeIsClean();
    (await connectAgent(target)).close();
  }, 120_000);

  it('closes a connection whose packets its parser refuses, and keeps serving everyone else', async () => {
    const bystander = await connect('/console', { token: sys.keyOf('technician') });
    const waiting = await sys.deliveredCommand(target);
    const before = await snapshot();
    // Each is written as raw Socket.IO packets (or a raw WebSocket frame) on an authenticated agent connection.
    const cases: Record<string, (socket: Socket) => void> = {
      'a frame over maxHttpBufferSize': (s) => s.emit('command:result', { ...resultFor(waiting), output: 'x'.repeat(MAX_AGENT_FRAME_BYTES) }),
      'a placeholder pointing past its attachments': (s) => s.emit('command:result', { ...resultFor(waiting), output: Buffer.from('x'), more: { _placeholder: true, num: 1 } }),
      'a binary packet announcing more attachments than allowed': (s) => s.io.engine.write(`5999999-/agents,["command:result",{}]`),
      'a packet that is not JSON': (s) => s.io.engine.write('2/agents,["command:result",{'),
      'an event packet without an event name': (s) => s.io.engine.write('2/agents,[]'),
      'a reserved event name': (s) => s.io.engine.write('2/agents,["disconnect",{}]'),
      'a packet for a namespace it did not join': (s) => s.io.engine.write('2/console,["session:subscribe",{}]'),
      'a text frame that is not UTF-8': (s) => (s.io.engine.transport as any).ws.send(Buffer.from([0x34, 0x32, 0x2f, 0xc3, 0x28, 0xff]), { binary: false }),
    };
    for (const [name, send] of Object.entries(cases)) {
      const socket = await connectAgent(target);
      let timer: NodeJS.Timeout | undefined;
      const closed = new Promise<string>((resolve) => {
        socket.once('disconnect', resolve);
        timer = setTimeout(() => resolve(`${name}: still connected`), 10_000);
      });
      send(socket);
      await expect(closed).resolves.toMatch(/^transport (close|error)$/);
      clearTimeout(timer);
      socket.close();
    }
    expect(bystander.connected).toBe(true);
    expect(await bystander.timeout(5000).emitWithAck('session:subscribe', { sessionId: acmeSession })).toEqual({ ok: true });
    expect(await snapshot()).toEqual(before);
    prototypeIsClean();

    // What the parser does accept is only a wrong frame: a placeholder in a packet without attachments, and an
    // output nested 100,000 deep (JSON.stringify or jsonb would overflow on it; the validation does not recurse).
    const socket = await connectAgent(target);
    expect(await socket.timeout(5000).emitWithAck('command:result', { _placeholder: true, num: 0 })).toEqual({ accepted: false, reason: 'invalid frame' });
    const counted = sys.api.gateway.stats().invalidFrames;
    const deep = JSON.stringify(['command:result', { ...resultFor(waiting), output: 0 }]).replace('"output":0', `"output":${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    socket.io.engine.write(`2/agents,${deep}`);
    await waitUntil(async () => sys.api.gateway.stats().invalidFrames > counted, 'the deep frame to be dropped', 5000);
    expect(socket.connected).toBe(true);
    expect(await snapshot()).toEqual(before);
    expect((await sys.request('GET', '/healthz')).status).toBe(200);
  }, 120_000);
});
