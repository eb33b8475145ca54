/**
 * The agent's way back to the gateway: exponential back-off with full jitter and a cap (./backoff.ts), and the
 * connection (./connection.ts) scheduling every attempt itself, after a node shutting down, a node gone from its
 * address, or a handshake refused for a passing reason; never after its credential was refused. Against a bare
 * Socket.IO server in this process (no database): what is tested is the agent's side.
 */
import { once } from 'node:events';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Server } from 'socket.io';
import { Backoff, backoffWindowMs } from './backoff';
import { connectAgent, RECONNECT, type AgentConnection } from './connection';
import type { Executor } from './executors/types';

describe('back-off', () => {
  it('waits anywhere in 0 to min(cap, base × 2^attempt), uniformly, and starts over once reset', () => {
    let r = 0;
    const b = new Backoff({ baseMs: 5000, capMs: 15_000, random: () => r });
    const windows = [5000, 10_000, 15_000, 15_000, 15_000];
    for (const w of windows) {
      r = 0.999999;
      expect(b.next()).toBeCloseTo(w * 0.999999, 3);
    }
    b.reset();
    r = 0;
    expect(b.next()).toBe(0);
    r = 0.5;
    expect(b.next()).toBe(5000);
    expect(backoffWindowMs(2000, { baseMs: 5000, capMs: 15_000 })).toBe(15_000);
  });

  it('spreads a fleet evenly over the whole window once at the cap, none piled on the cap itself', () => {
    const samples = 20_000;
    const atCap: number[] = [];
    for (let i = 0; i < samples; i++) {
      const b = new Backoff(RECONNECT);
      for (let a = 0; a < 4; a++) b.next();
      atCap.push(b.next()); // the fifth attempt's window is the cap
    }
    const buckets = Array.from({ length: 10 }, () => 0);
    expect(Math.min(...atCap)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...atCap)).toBeLessThan(RECONNECT.capMs);
    for (const d of atCap) buckets[Math.floor((d / RECONNECT.capMs) * 10)]! += 1;
    // Each tenth of the window holds about a tenth of the fleet (binomial: sd about 212 of 2,000).
    for (const n of buckets) expect(Math.abs(n - samples / 10)).toBeLessThan(samples / 10 / 4);
    expect(atCap.filter((d) => d >= RECONNECT.capMs - 1).length).toBeLessThan(samples / 100);
  });

  it('refuses a window that is not one', () => {
    expect(() => new Backoff({ baseMs: 0, capMs: 10 })).toThrow();
    expect(() => new Backoff({ baseMs: 10, capMs: 5 })).toThrow();
  });
});

describe('connection', () => {
  /** What the agent logged (warnings and errors): the retries it scheduled, and why. */
  let logged: { msg: string; why?: string; retryInMs?: number }[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
  /** The retries the agent scheduled after an attempt failed for the given reason. */
  const retries = (why: RegExp) => logged.filter((l) => l.msg === 'connecting again later' && why.test(l.why ?? ''));
  const executor = {} as Executor;
  let dir: string;
  let http: HttpServer | undefined;
  let io: Server | undefined;
  let agent: AgentConnection | undefined;
  /** What the server's middleware answers: undefined lets the agent in. */
  let refusal: string | undefined;
  /** The middleware holds the handshake without answering (a gateway stuck on something). */
  let silent = false;
  let handshakes: number[] = [];

  const listen = async (port = 0): Promise<number> => {
    http = createServer();
    io = new Server(http);
    io.of('/agents').use((_socket, next) => {
      handshakes.push(Date.now());
      if (silent) return;
      next(refusal ? new Error(refusal) : undefined);
    });
    http.listen(port, '127.0.0.1');
    await once(http, 'listening');
    return (http.address() as AddressInfo).port;
  };
  const shutDown = async () => {
    io!.of('/agents').disconnectSockets(true);
    await new Promise<void>((resolve) => io!.close(() => resolve()));
    io = undefined;
    http = undefined;
  };
  const until = async (cond: () => boolean, what: string, ms = 5000) => {
    const end = Date.now() + ms;
    while (!cond()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  /**
   * An agent with a short back-off. Its handshake watchdog waits 10 s unless a test shortens it: on a loaded machine
   * (this process is also the server) a handshake can take more than a few hundred milliseconds, and an attempt
   * dropped as unanswered is one more handshake than a test counting them expects.
   */
  const start = (port: number, opts: { onFatal?: (m: string) => void; handshakeTimeoutMs?: number } = {}) => {
    agent = connectAgent({
      credentials: { server: `http://127.0.0.1:${port}`, deviceId: '00000000-0000-4000-8000-000000000001', secret: 'x'.repeat(32), orgId: '00000000-0000-4000-8000-000000000002', name: 'TEST-PC-01' },
      journalFile: path.join(dir, 'agent.journal.jsonl'),
      executor,
      logger,
      onFatal: opts.onFatal,
      reconnect: { baseMs: 40, capMs: 120 },
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? 10_000,
    });
    return agent;
  };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-reconnect-'));
    refusal = undefined;
    silent = false;
    handshakes = [];
    logged = [];
  });
  afterEach(async () => {
    agent?.stop();
    agent = undefined;
    if (io) await shutDown();
    await rm(dir, { recursive: true, force: true });
  });

  it('comes back after its node shuts down and another listens at the same address, trying with back-off meanwhile', async () => {
    const port = await listen();
    const a = start(port);
    await until(() => a.socket.connected, 'the first connection');
    await shutDown();
    await until(() => !a.socket.connected, 'the node to close the connection');
    // Nothing listens: the agent keeps trying (each attempt refused at the TCP level), each at most the cap later.
    await until(() => retries(/could not connect/).length >= 2, 'two attempts refused while nothing listens');
    expect(a.socket.connected).toBe(false);
    await listen(port);
    await until(() => a.socket.connected, 'the agent to connect to the node back at its address', 2000);
    expect(handshakes).toHaveLength(2);
    for (const r of retries(/./)) expect(r.retryInMs).toBeLessThanOrEqual(120);
  });

  it('comes back after the server drops the connection while staying up', async () => {
    const port = await listen();
    const a = start(port);
    await until(() => a.socket.connected, 'the first connection');
    io!.of('/agents').disconnectSockets(true);
    await until(() => handshakes.length === 2 && a.socket.connected, 'the agent to reconnect');
  });

  it('tries again after a passing refusal of the handshake, spaced by the back-off', async () => {
    refusal = 'cannot check now whether this device is already connected elsewhere; try again shortly';
    const port = await listen();
    const a = start(port);
    await until(() => handshakes.length >= 4, 'four refused attempts');
    refusal = undefined;
    await until(() => a.socket.connected, 'the agent to get in');
    // One attempt after each refusal, each scheduled within the 120 ms cap (full jitter). The delays the agent chose,
    // not the gaps seen here, which a loaded machine stretches.
    const scheduled = retries(/try again shortly/);
    expect(handshakes).toHaveLength(scheduled.length + 1);
    for (const r of scheduled) expect(r.retryInMs).toBeLessThanOrEqual(120);
  });

  it('drops a handshake the gateway never answers and tries again, on a new transport', async () => {
    silent = true;
    const port = await listen();
    const a = start(port, { handshakeTimeoutMs: 300 });
    await until(() => handshakes.length >= 2, 'a second attempt after the unanswered one', 3000);
    expect(handshakes[1]! - handshakes[0]!).toBeGreaterThanOrEqual(300);
    // The unanswered attempt's transport is closed, not left open beside the new one.
    await until(() => io!.engine.clientsCount <= 1, 'the first transport to close', 2000);
    silent = false;
    await until(() => a.socket.connected, 'the agent to get in once the gateway answers', 3000);
  });

  it('stops for good when its credential is refused', async () => {
    refusal = 'invalid agent credentials';
    const port = await listen();
    const fatal: string[] = [];
    start(port, { onFatal: (m) => fatal.push(m) });
    await until(() => fatal.length === 1, 'the agent to give up');
    await new Promise((r) => setTimeout(r, 400));
    expect(handshakes).toHaveLength(1);
  });

  it('tries nothing more once stopped', async () => {
    const port = await listen();
    const a = start(port);
    await until(() => a.socket.connected, 'the first connection');
    a.stop();
    io!.of('/agents').disconnectSockets(true);
    await new Promise((r) => setTimeout(r, 400));
    expect(handshakes).toHaveLength(1);
  });
});
