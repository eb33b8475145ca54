/**
 * The whole system for integration tests, with real services: a Temporal dev server (the installed CLI, through
 * TestWorkflowEnvironment.createLocal), PostgreSQL (the test database), Redis, the api and gateway on port 0, a
 * worker, the offline model on port 0, and optionally a real agent process. Each test file gets tenants of its
 * own (a random slug suffix), so files can share the database and run in parallel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import pino from 'pino';
import { saveCredentials } from '../agent/credentials';
import { generateSigningKeyPem, loadSigningKey } from '../cage/command-signing';
import { enroll } from '../agent/enroll';
import type { SimulatedProfile } from '../agent/executors/simulated';
import { createApiServer, type ApiServer } from '../api/server';
import { terminalConfig } from '../api/deps';
import { environment, guardConfig, loadEnv, slackConfig, temporalCliPath, type Env } from '../lib/env';
import { upstreamRules } from '../lib/mcp-upstream';
import { clientInterceptors, DEV_SERVER_ARGS, StoppableRetries } from '../lib/temporal';
import { RateLimiter } from '../lib/rate-limiter';
import { createApiMetrics, createWorkerMetrics, serveMetrics, type MetricsListener } from '../lib/metrics';
import { createDatabase, type PrismaClient } from '../lib/prisma';
import { createRedis, type Redis } from '../lib/redis';
import { startOfflineModel } from '../offline-model/server';
import { createEnrollmentKey, seedDemo, type DemoSeed } from '../prisma/seed-demo';
import { issueSecret } from '../lib/secrets';
import { dataConverterOf, payloadCodecFromEnv, type EncryptionCodec } from '../lib/payload-codec';
import { activityDeps, createWorker } from '../worker/create-worker';
import { createActivities, type Activities } from '../activities';
import type { ActivityDeps } from '../activities/deps';
import { CuttableTcpPath, DedicatedRedis } from './services';
import { enrollInBulk, writeSimulatedCredentials } from './simulated-fleet';
import { simulatedName } from '../agent/simulate';
import { freshRunBundle } from './workflow-bundle';
import { PROTOCOL_VERSION } from '../common/protocol';
import { io, type Socket } from 'socket.io-client';
import { deviceCommandId, invocationOfCommand, toolInvocationId } from '../common/ids';
import type { ConsoleClientEvents, ConsoleServerEvents, SessionEvent, SessionSubscribeAck } from '../common/console-protocol';

const root = path.resolve(__dirname, '..');

try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // already installed in this jest worker process
}

export interface TestSystem {
  env: Env;
  prisma: PrismaClient;
  redis: Redis;
  /** The rate limiter the api and the worker share (its keys are this system's own). */
  limiter: RateLimiter;
  /** Its `client` encrypts and decrypts payloads with this system's key, as the api and the worker do. */
  temporal: TestWorkflowEnvironment;
  /** PAYLOAD_KEYS of this system (a fresh key per system), for the processes that act as part of it (CLI, worker). */
  payloadKeys: string;
  payloadCodec: EncryptionCodec;
  api: ApiServer;
  url: string;
  seed: DemoSeed;
  taskQueue: string;
  agent?: { deviceId: string; process: ChildProcess; credentialsFile: string; stop(): Promise<void>; start(): void };
  /** The Messages API the worker talks to (the offline model unless the test gave its own). */
  modelUrl: string;
  /** Requests the offline model answered (and the latest Messages API bodies it received, in `requests`). */
  modelStats: { messages: number; countTokens: number; requests?: unknown[] };
  /** The worker's activities, for tests that call one directly (with MockActivityEnvironment). */
  activities: Activities;
  /** What the worker's activities were made with, for benches that time one part of an activity. */
  activityDeps: ActivityDeps;
  redisServer?: DedicatedRedis;
  database?: CuttableTcpPath;
  /** The simulated agents' path to the api, with `cuttableAgents`. */
  agentsPath?: CuttableTcpPath;
  /** Simulated Windows-like endpoints (acme), by name: ACME-…-PC-01, … */
  simulated: Map<string, string>;
  /** With `simulatedEnrollment: 'bulk'`: how long the fleet took from enrollment to every agent online. */
  fleetSetup?: { devices: number; processes: number; seconds: number };
  /** The command journal of a simulated endpoint, by device name. */
  journalOf(name: string): string;
  /** A user of the seeded partner with the given roles in acme, and an API key. */
  createUser(roles: ('technician' | 'approver' | 'admin' | 'auditor')[]): Promise<{ userId: string; key: string }>;
  /** A Linux endpoint enrolled through the api in the org's first site, with the secret its agent would hold. */
  enrollDevice(hostname: string, org?: 'acme' | 'globex'): Promise<EnrolledDevice>;
  /** A command for `d` as the gateway leaves one it has sent: delivered, waiting for its result. Returns its id. */
  deliveredCommand(d: EnrolledDevice, kind?: string): Promise<string>;
  startSession(key: string): Promise<string>;
  /** Sends a message and returns its turn id. */
  send(sessionId: string, key: string, text: string): Promise<string>;
  /** Waits until the turn is answered or failed and returns the session as GET shows it. */
  waitForTurn(sessionId: string, key: string, turnId: string, timeoutMs?: number): Promise<any>;
  waitForApproval(sessionId: string): Promise<{ id: string; tier: number; digest: string; confirmationPhrase: string | null }>;
  /** Watches a session's events on `/console`, as the console and the CLI do. */
  watchSession(sessionId: string, key: string): Promise<SessionWatch>;
  /**
   * Stops the worker (as a deploy would; with `workerProcess`, SIGKILL as a crash would) and starts a fresh one
   * on the same task queue.
   */
  stopWorker(): Promise<void>;
  startWorker(): Promise<void>;
  keyOf(role: 'technician' | 'approver' | 'admin' | 'auditor', org?: 'acme' | 'globex'): string;
  request(method: string, route: string, opts?: { key?: string; body?: unknown; rawBody?: string }): Promise<{ status: number; body: any }>;
  /** The `/metrics` addresses of the api and of the in-process worker (none for `workerProcess`), as Prometheus scrapes them. */
  metricsUrls: { api: string; worker?: string };
  /**
   * Another api node on the same stores; `port` to listen at a given address (a node restarting where it was), `host`
   * (default 127.0.0.1; `localhost` for a node whose own address, and so its passkey RP ID and sign-in callback, is a name).
   */
  startApiNode(port?: number, host?: string): Promise<{ server: ApiServer; url: string }>;
  stop(): Promise<void>;
}

export interface EnrolledDevice {
  deviceId: string;
  secret: string;
  orgId: string;
}

/** The Socket.IO handshake an agent holding `d`'s credential sends. */
export const agentAuth = (d: EnrolledDevice) => ({ v: PROTOCOL_VERSION, deviceId: d.deviceId, secret: d.secret, agentVersion: 'test' });

/** A message that makes the copilot call one tool directly (the offline model's `/tool name {json}` syntax). */
/**
 * What a command row a test writes straight to the database names besides its id: the invocation its id carries,
 * and a workflow that does not exist (telling it of the result finds nobody, and the row counts as reported).
 */
export const commandMadeByTest = (id: string, deviceId: string) => ({ invocationId: invocationOfCommand(id, deviceId) ?? id, reportTo: 'test:no-workflow' });

export const toolCall = (name: string, input: Record<string, unknown>) => `/tool ${name} ${JSON.stringify(input)}`;

/** The (first) tool step of a turn, from a session as `GET /v1/sessions/:id` shows it. */
export const toolStepOf = (session: any, turnId: string) =>
  session.turns.find((t: { turnId: string }) => t.turnId === turnId)?.steps.find((s: { kind: string }) => s.kind === 'tool');

/**
 * A digest of every row the given organizations hold in `tables` (each with an `orgId`, or `Organization` by id),
 * for tests that prove a request changed nothing.
 */
export async function orgRowsDigest(prisma: PrismaClient, tables: string[], orgIds: string[]): Promise<string> {
  const parts: string[] = [];
  for (const t of tables) {
    const column = t === 'Organization' ? 'id' : 'orgId';
    const [row] = await prisma.$queryRawUnsafe<{ d: string | null }[]>(`SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS d FROM "${t}" t WHERE "${column}" = ANY($1::uuid[])`, orgIds);
    parts.push(`${t}:${row?.d ?? 'none'}`);
  }
  return parts.join('\n');
}

export async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * Waits until `count()` reaches `target`, for as long as it keeps rising: a thousand agents enrolling and connecting
 * take a time that depends on the machine and what else runs on it, so only a stall (no new arrival for `stallMs`)
 * is a failure, never the total time.
 */
export async function waitWhileArriving(count: () => Promise<number>, target: number, what: string, stallMs = 60_000): Promise<void> {
  let seen = -1;
  let lastArrival = Date.now();
  for (;;) {
    const n = await count();
    if (n >= target) return;
    if (n > seen) [seen, lastArrival] = [n, Date.now()];
    else if (Date.now() - lastArrival > stallMs) throw new Error(`timed out waiting for ${what}: ${n} of ${target}, none more in ${stallMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface SessionWatch {
  /** The answer to `session:subscribe`. */
  subscription: SessionSubscribeAck;
  /** Every event heard so far, in order. */
  events: SessionEvent[];
  /** The first event, heard already or still to come, that matches (resolves the moment it arrives). */
  next(match: (e: SessionEvent) => boolean, what: string, timeoutMs?: number): Promise<SessionEvent>;
  /** Whether the server still holds the connection (it cuts one whose API key was revoked). */
  connected(): boolean;
  close(): void;
}

/** Subscribes to a session's events on `/console` with an API key. */
async function watchSessionAt(url: string, sessionId: string, key: string): Promise<SessionWatch> {
  const socket: Socket<ConsoleServerEvents, ConsoleClientEvents> = io(new URL('/console', url).toString(), { auth: { token: key }, transports: ['websocket'] });
  const events: SessionEvent[] = [];
  const waiters = new Set<(e: SessionEvent) => void>();
  socket.on('session:event', (e) => {
    events.push(e);
    for (const waiter of waiters) waiter(e);
  });
  const subscription = await socket.timeout(5000).emitWithAck('session:subscribe', { sessionId });
  return {
    subscription,
    events,
    next(match, what, timeoutMs = 60_000) {
      const heard = events.find(match);
      if (heard) return Promise.resolve(heard);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`timed out waiting for ${what}`));
        }, timeoutMs);
        const waiter = (e: SessionEvent) => {
          if (!match(e)) return;
          clearTimeout(timer);
          waiters.delete(waiter);
          resolve(e);
        };
        waiters.add(waiter);
      });
    },
    connected: () => socket.connected,
    close: () => socket.close(),
  };
}

export interface TestSystemOptions {
  agent?: boolean;
  simulated?: number;
  /** Agent processes the simulated devices are spread over (a fleet of thousands, as several sites' agents would be); 1 by default. */
  simulatedProcesses?: number;
  /** How some simulated devices differ (agent/executors/simulated.ts SimulatedProfile), by device name. */
  simulatedProfile?: SimulatedProfile;
  /**
   * How the simulated devices get their credentials: `api` (default) each through `POST /v1/agents/enroll`, the
   * processes started one after the other; `bulk` written to the database in batches (test/simulated-fleet.ts) and
   * every process started at once, for fleets of thousands. Either way each agent connects through the real handshake.
   */
  simulatedEnrollment?: 'api' | 'bulk';
  /** Environment overrides for the api and the worker (limits, budgets, windows). */
  env?: Record<string, string>;
  /** Run Redis as a process of this test, so it can really be stopped. */
  dedicatedRedis?: boolean;
  /** Connect the simulated agents through a TCP path the test can cut (their network drops, the api stays up). */
  cuttableAgents?: boolean;
  /** Run the worker as its own process (`npm run worker`), so stopWorker can SIGKILL it. */
  workerProcess?: boolean;
  /** Route the api's and the worker's PostgreSQL connections through a path the test can cut. */
  cuttableDatabase?: boolean;
  /** The Messages API server the worker talks to (a test's own, such as the hostile model); the offline model by default. */
  modelUrl?: string;
}

export async function startTestSystem(opts: TestSystemOptions = {}): Promise<TestSystem> {
  const dedicated = opts.dedicatedRedis ? await DedicatedRedis.start() : undefined;
  // The agents send their spans where the api and the worker do (opts.env), and get the remote terminal's limits,
  // which they enforce too; nothing else of it reaches them.
  const agentTracing: Record<string, string> = {
    ...(opts.env?.OTEL_EXPORTER_OTLP_ENDPOINT ? { OTEL_EXPORTER_OTLP_ENDPOINT: opts.env.OTEL_EXPORTER_OTLP_ENDPOINT } : {}),
    ...Object.fromEntries(Object.entries(opts.env ?? {}).filter(([k]) => k.startsWith('TERMINAL_'))),
  };
  const env = loadEnv(environment({ NODE_ENV: 'test', LOG_LEVEL: 'silent', ...opts.env, ...(dedicated ? { REDIS_URL: dedicated.url } : {}) }));
  const dbUrl = new URL(env.TEST_DATABASE_URL);
  const dbPath = opts.cuttableDatabase ? await CuttableTcpPath.open({ host: dbUrl.hostname, port: Number(dbUrl.port || 5432) }) : undefined;
  if (dbPath) dbUrl.port = String(dbPath.port);
  const systemDbUrl = dbUrl.toString();
  // Errors are shown: a 500 in a test must explain itself.
  const logger = pino({ level: env.TEST_LOG_LEVEL });
  // The test's own client goes straight to PostgreSQL; the system's (api, worker) through the cuttable path if any.
  const testDb = createDatabase(env.TEST_DATABASE_URL);
  const prisma = testDb.prisma;
  const systemDb = dbPath ? createDatabase(systemDbUrl) : testDb;
  const systemPrisma = systemDb.prisma;
  const suffix = crypto.randomBytes(4).toString('hex');
  const seed = await seedDemo(prisma, { suffix });
  const taskQueue = `test-${suffix}`;
  // Each test system encrypts its histories with a key of its own, as a deployment would.
  const payloadKeys = opts.env?.PAYLOAD_KEYS ?? `test-${suffix}:${crypto.randomBytes(32).toString('base64')}`;
  const payloadCodec = payloadCodecFromEnv({ ...env, PAYLOAD_KEYS: payloadKeys });

  // Retries stop before teardown closes the client's connection (lib/temporal.ts says why).
  const temporalRetries = new StoppableRetries();
  const temporal = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: temporalCliPath(env) }, ip: '127.0.0.1', log: { format: 'pretty', level: 'error' }, extraArgs: [...DEV_SERVER_ARGS] },
    client: { dataConverter: dataConverterOf(payloadCodec), interceptors: clientInterceptors },
    plugins: [temporalRetries],
  });
  const model = await startOfflineModel(0);
  const modelUrl = opts.modelUrl ?? model.url;
  const redis = createRedis(env.REDIS_URL);
  await redis.connect();
  // Each test system is a deployment of its own: its rate-limit windows and its Socket.IO stream are its own too.
  // Shared keys (sign-in per IP, where every test's browser is 127.0.0.1) would otherwise let one file's sign-ins
  // refuse another's, and a shared stream made every api node of every test answer each clone check.
  const rateKeyPrefix = `gh:rl:${taskQueue}:`;
  const socketIoStream = `gatehouse:socket.io:${taskQueue}`;
  const limiter = new RateLimiter(redis, rateKeyPrefix);
  const apiDeps: Parameters<typeof createApiServer>[0] = {
    prisma: systemPrisma,
    pool: systemDb.pool,
    redis,
    limiter,
    temporal: temporal.client,
    payloadCodec,
    logger,
    metrics: createApiMetrics(),
    config: {
      databaseUrl: systemDbUrl,
      taskQueue,
      temporalNamespace: 'default',
      temporalUiUrl: 'http://127.0.0.1:8233',
      sweepIntervalMs: 500,
      commandTimeoutSeconds: 60,
      guards: guardConfig(env),
      bodyLimitBytes: 256 * 1024,
      httpKeepAliveSeconds: env.HTTP_KEEP_ALIVE_SECONDS,
      socketIoStream,
      // Test systems share one database; each one's sweeps serve its own partner's approvals only.
      partnerId: seed.partnerId,
      webSecret: crypto.randomBytes(32).toString('hex'),
      commandSigningKey: loadSigningKey(generateSigningKeyPem()),
      terminals: terminalConfig(env),
      mail: env.SMTP_URL ? { smtpUrl: env.SMTP_URL, from: env.MAIL_FROM } : undefined,
      slack: slackConfig(env),
      mcpUpstream: upstreamRules(env),
    },
  };
  const api = await createApiServer(apiDeps);
  const url = await api.listen(0, '127.0.0.1');
  const extraNodes: ApiServer[] = [];
  const startApiNode: TestSystem['startApiNode'] = async (port = 0, host = '127.0.0.1') => {
    const node = await createApiServer(apiDeps);
    extraNodes.push(node);
    return { server: node, url: await node.listen(port, host) };
  };

  const workerEnv = loadEnv(environment({ ...opts.env, RATE_KEY_PREFIX: rateKeyPrefix, ANTHROPIC_API_KEY: '', ANTHROPIC_BASE_URL: modelUrl, DATABASE_URL: systemDbUrl, REDIS_URL: env.REDIS_URL }));
  const deps = activityDeps(workerEnv, systemDb, redis, logger, createWorkerMetrics());
  const metricsListeners: MetricsListener[] = [
    await serveMetrics(apiDeps.metrics.registry, { host: '127.0.0.1', port: 0 }),
    ...(opts.workerProcess ? [] : [await serveMetrics(deps.metrics.registry, { host: '127.0.0.1', port: 0 })]),
  ];
  let worker: Worker | undefined;
  let workerRun: Promise<void> | undefined;
  let workerStarts = 0;
  let workerChild: ChildProcess | undefined;
  const startWorkerProcess = async () => {
    workerChild = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'worker', 'main.ts')], {
      cwd: root,
      env: environment({
        ...opts.env,
        ANTHROPIC_API_KEY: '',
        ANTHROPIC_BASE_URL: modelUrl,
        DATABASE_URL: systemDbUrl,
        REDIS_URL: env.REDIS_URL,
        TEMPORAL_ADDRESS: temporal.address,
        TEMPORAL_TASK_QUEUE: taskQueue,
        LOG_LEVEL: env.TEST_LOG_LEVEL,
        RATE_KEY_PREFIX: rateKeyPrefix,
        PAYLOAD_KEYS: payloadKeys,
        WORKER_METRICS_PORT: '0',
      }),
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  };
  const stopWorkerProcess = async () => {
    const child = workerChild;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise((resolve) => {
      child.once('exit', resolve);
      child.kill('SIGKILL');
    });
  };
  const startWorker = async () => {
    if (opts.workerProcess) return startWorkerProcess();
    // A new identity per start, as a new process would have: a restart shows in the history.
    workerStarts += 1;
    const identity = `${process.pid}@${os.hostname()}/worker-${workerStarts}`;
    const workflowBundle = await freshRunBundle(env.TEST_WORKFLOW_BUNDLE);
    worker = await createWorker({ connection: temporal.nativeConnection, namespace: 'default', taskQueue, deps, payloadCodec, workflowBundle, extra: { identity } });
    workerRun = worker.run();
  };
  const stopWorker = async () => {
    if (opts.workerProcess) return stopWorkerProcess();
    worker?.shutdown();
    await workerRun;
    worker = undefined;
  };
  await startWorker();

  const keyOf: TestSystem['keyOf'] = (role, org = 'acme') => {
    const slug = seed.orgs[org].slug;
    const found = seed.credentials.find((c) => c.role === role && (role === 'auditor' || c.org === slug));
    if (!found) throw new Error(`no ${role} in ${slug}`);
    return found.apiKey;
  };

  const request: TestSystem['request'] = async (method, route, o = {}) => {
    const res = await fetch(new URL(route, url), {
      method,
      headers: {
        ...(o.key ? { authorization: `Bearer ${o.key}` } : {}),
        ...(o.body !== undefined || o.rawBody !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: o.rawBody ?? (o.body !== undefined ? JSON.stringify(o.body) : undefined),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON; the test sees the text
    }
    return { status: res.status, body };
  };

  let agent: TestSystem['agent'];
  let tmp: string | undefined;
  const simulated = new Map<string, string>();
  const agentsPath = opts.cuttableAgents ? await CuttableTcpPath.open({ host: '127.0.0.1', port: Number(new URL(url).port) }) : undefined;
  const simulators: ChildProcess[] = [];
  /** Console watches of the tests, closed on stop even when a test failed before closing its own. */
  const watches = new Set<SessionWatch>();
  /** Stops everything started so far; also when starting failed half-way, so nothing is left running. */
  const stop = async () => {
    for (const watch of watches) watch.close();
    agent?.process.kill('SIGTERM');
    for (const simulator of simulators) simulator.kill('SIGTERM');
    // Each step is bounded, so one stuck resource cannot hang the whole suite; a step that overruns is named.
    const step = async (name: string, fn: () => Promise<unknown>, ms = 20_000) => {
      let timer: NodeJS.Timeout | undefined;
      const overrun = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          console.error(`harness: stopping ${name} took over ${ms / 1000}s; moving on`);
          resolve();
        }, ms);
      });
      await Promise.race([fn().catch((err: unknown) => console.error(`harness: stopping ${name} failed: ${String(err)}`)), overrun]);
      clearTimeout(timer);
    };
    await step('the worker', stopWorker);
    for (const node of extraNodes) await step('an extra api node', () => node.close());
    await step('the api', () => api.close());
    await step('Temporal', () => {
      temporalRetries.stop();
      return temporal.teardown();
    });
    await step('the offline model', () => new Promise((r) => model.server.close(r)));
    for (const listener of metricsListeners) await step('a metrics listener', () => listener.close());
    await step('the Socket.IO stream', () => redis.del(socketIoStream), 2000);
    redis.disconnect();
    await step('PostgreSQL clients', async () => {
      await prisma.$disconnect();
      if (systemPrisma !== prisma) await systemPrisma.$disconnect();
    });
    await step('Redis', async () => dedicated?.stop());
    await step('the database path', async () => dbPath?.cut());
    await step('the agents path', async () => agentsPath?.cut());
    if (tmp) await rm(tmp, { recursive: true, force: true });
  };

  /**
   * A fleet of `count` simulated devices enrolled in bulk and spread over `processes` agent processes started at
   * once; resolves when every device is online. Fails, naming devices that never came, when none more arrives for
   * a minute.
   */
  const startBulkFleet = async (f: { count: number; processes: number; dataDir: string; profile?: SimulatedProfile; server: string }) => {
    const org = seed.orgs.acme;
    const t0 = Date.now();
    const creds = await enrollInBulk(prisma, { orgId: org.id, siteId: org.siteIds[0]!, count: f.count, name: (i) => simulatedName(org.slug, i), server: f.server, commandKey: apiDeps.config.commandSigningKey.publicKeyPem });
    const profile = f.profile ? path.join(f.dataDir, 'simulated-profile.json') : undefined;
    if (profile) await writeFile(profile, JSON.stringify(f.profile));
    // One data directory, as with enrollment through the api: each process reads only its share's files.
    await writeSimulatedCredentials(f.dataDir, org.slug, creds);
    const processes = Math.max(1, Math.min(f.processes, f.count));
    const share = Math.ceil(f.count / processes);
    for (let first = 1; first <= f.count; first += share) {
      const count = Math.min(share, f.count - first + 1);
      simulators.push(
        spawn(
          process.execPath,
          [
            ...['--import', 'tsx', path.join(root, 'agent', 'main.ts'), '--simulate', String(count), '--simulate-first', String(first), '--org', org.slug],
            ...['--server', f.server, '--reboot-seconds', '2', ...(profile ? ['--simulate-profile', profile] : [])],
          ],
          { cwd: root, env: environment({ DATA_DIR: f.dataDir, LOG_LEVEL: env.TEST_LOG_LEVEL, ...agentTracing }), stdio: ['ignore', 'ignore', 'inherit'] },
        ),
      );
    }
    // Counted by org, one indexed count: a list of 10,000 ids in every poll cost this process (which runs the api the
    // agents connect to) more than the connections themselves.
    const fleetDevices = { orgId: org.id, executor: 'simulated' };
    const online = () => prisma.device.count({ where: { ...fleetDevices, online: true } });
    try {
      await waitWhileArriving(online, f.count, 'the simulated agents to connect');
    } catch (err) {
      const missing = await prisma.device.findMany({ where: { ...fleetDevices, online: false }, select: { name: true }, take: 20 });
      throw new Error(`${(err as Error).message}; not online: ${missing.map((d) => d.name).join(', ')}${missing.length === 20 ? ', …' : ''} (gateway: ${JSON.stringify(api.gateway.stats())})`);
    }
    fleetSetup = { devices: f.count, processes, seconds: Math.round((Date.now() - t0) / 100) / 10 };
  };
  let fleetSetup: TestSystem['fleetSetup'];

  try {
    if (opts.agent) {
      tmp = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-agent-'));
      const credentialsFile = path.join(tmp, 'agent.json');
      const key = await createEnrollmentKey(prisma, { orgId: seed.orgs.acme.id, siteId: seed.orgs.acme.siteIds[0]!, maxUses: 1 });
      const creds = await enroll({ server: url, key, name: 'ACME-HQ-DEMO', executor: 'linux' });
      await saveCredentials(credentialsFile, creds);
      const spawnAgent = () =>
        spawn(process.execPath, ['--import', 'tsx', path.join(root, 'agent', 'main.ts'), '--credentials', credentialsFile, '--allow-loopback-discovery'], {
          cwd: root,
          env: environment({ LOG_LEVEL: env.TEST_LOG_LEVEL, ...agentTracing }),
          stdio: ['ignore', 'inherit', 'inherit'],
        });
      const handle: NonNullable<TestSystem['agent']> = {
        deviceId: creds.deviceId,
        process: spawnAgent(),
        credentialsFile,
        async stop() {
          const proc = handle.process;
          if (proc.exitCode === null && proc.signalCode === null) {
            await new Promise((resolve) => {
              proc.once('exit', resolve);
              proc.kill('SIGKILL');
            });
          }
          await waitUntil(async () => (await prisma.device.findUnique({ where: { id: creds.deviceId } }))?.online === false, 'the agent to be seen offline');
        },
        start() {
          handle.process = spawnAgent();
        },
      };
      agent = handle;
      await waitUntil(async () => (await prisma.device.findUnique({ where: { id: creds.deviceId } }))?.online === true, 'the agent to connect');
    }

    if (opts.simulated && opts.simulatedEnrollment === 'bulk') {
      tmp ??= await mkdtemp(path.join(os.tmpdir(), 'gatehouse-agent-'));
      await startBulkFleet({ count: opts.simulated, processes: opts.simulatedProcesses ?? 1, dataDir: tmp, profile: opts.simulatedProfile, server: agentsPath ? `http://127.0.0.1:${agentsPath.port}` : url });
      for (const d of await prisma.device.findMany({ where: { orgId: seed.orgs.acme.id, executor: 'simulated' } })) simulated.set(d.name, d.id);
    } else if (opts.simulated) {
      tmp ??= await mkdtemp(path.join(os.tmpdir(), 'gatehouse-agent-'));
      const key = await createEnrollmentKey(prisma, { orgId: seed.orgs.acme.id, siteId: seed.orgs.acme.siteIds[0]!, maxUses: opts.simulated });
      const profile = opts.simulatedProfile ? path.join(tmp, 'simulated-profile.json') : undefined;
      if (profile) await writeFile(profile, JSON.stringify(opts.simulatedProfile));
      // Each process simulates its share under names of its own (--simulate-first), from one data directory; one
      // after the other, each once the one before has its agents connected (thousands of handshakes at once on a
      // busy machine time out together and retry together, and the fleet never arrives).
      const processes = Math.max(1, Math.min(opts.simulatedProcesses ?? 1, opts.simulated));
      const share = Math.ceil(opts.simulated / processes);
      const simulatedDevices = { orgId: seed.orgs.acme.id, executor: 'simulated' };
      const arrived = async () => (await prisma.device.count({ where: simulatedDevices })) + (await prisma.device.count({ where: { ...simulatedDevices, online: true } }));
      for (let first = 1; first <= opts.simulated; first += share) {
        const count = Math.min(share, opts.simulated - first + 1);
        simulators.push(
          spawn(
            process.execPath,
            [
              ...['--import', 'tsx', path.join(root, 'agent', 'main.ts'), '--simulate', String(count), '--simulate-first', String(first), '--org', seed.orgs.acme.slug, '--key', key],
              ...['--server', agentsPath ? `http://127.0.0.1:${agentsPath.port}` : url, '--reboot-seconds', '2', ...(profile ? ['--simulate-profile', profile] : [])],
            ],
            { cwd: root, env: environment({ DATA_DIR: tmp, LOG_LEVEL: env.TEST_LOG_LEVEL, ...agentTracing }), stdio: ['ignore', 'ignore', 'inherit'] },
          ),
        );
        // The simulator enrolls every device, then connects them: both count as arriving.
        await waitWhileArriving(arrived, 2 * (first + count - 1), 'the simulated agents to enroll and connect');
      }
      for (const d of await prisma.device.findMany({ where: { orgId: seed.orgs.acme.id, executor: 'simulated' } })) simulated.set(d.name, d.id);
    }
  } catch (err) {
    // An agent that never connected: the test fails, and takes down what it started (Temporal, the agents).
    await stop();
    throw err;
  }

  const enrollDevice: TestSystem['enrollDevice'] = async (hostname, org = 'acme') => {
    const { id: orgId, siteIds } = seed.orgs[org];
    const key = await createEnrollmentKey(prisma, { orgId, siteId: siteIds[0]! });
    const res = await request('POST', '/v1/agents/enroll', { body: { key, hostname, os: 'Linux', executor: 'linux' } });
    if (res.status !== 201) throw new Error(`enrolling ${hostname} failed: ${res.status} ${JSON.stringify(res.body)}`);
    return { deviceId: res.body.deviceId, secret: res.body.secret, orgId };
  };
  const deliveredCommand: TestSystem['deliveredCommand'] = async (d, kind = 'system_info') => {
    const id = deviceCommandId(toolInvocationId(crypto.randomUUID(), `toolu_${crypto.randomBytes(6).toString('hex')}`), d.deviceId);
    const expiresAt = new Date(Date.now() + 30 * 60_000);
    await prisma.deviceCommand.create({ data: { id, ...commandMadeByTest(id, d.deviceId), orgId: d.orgId, deviceId: d.deviceId, kind, params: {}, status: 'delivered', deliveredAt: new Date(), expiresAt } });
    return id;
  };

  const createUser: TestSystem['createUser'] = async (roles) => {
    const user = await prisma.user.create({ data: { partnerId: seed.partnerId, email: `${roles.join('-')}-${crypto.randomBytes(4).toString('hex')}@${seed.orgs.acme.slug}.example`, name: roles.join(' and ') } });
    for (const role of roles) await prisma.roleBinding.create({ data: { userId: user.id, orgId: seed.orgs.acme.id, role } });
    const secret = issueSecret('gh');
    await prisma.apiKey.create({ data: { userId: user.id, name: 'test', prefix: secret.prefix, hash: secret.hash } });
    return { userId: user.id, key: secret.plain };
  };
  const startSession: TestSystem['startSession'] = async (key) => {
    const res = await request('POST', '/v1/sessions', { key, body: { org: seed.orgs.acme.slug } });
    if (res.status !== 201) throw new Error(`session not started: ${JSON.stringify(res.body)}`);
    return res.body.id as string;
  };
  const send: TestSystem['send'] = async (sessionId, key, text) => {
    const res = await request('POST', `/v1/sessions/${sessionId}/messages`, { key, body: { text } });
    if (res.status !== 202) throw new Error(`message refused: ${JSON.stringify(res.body)}`);
    return res.body.turnId as string;
  };
  const waitForTurn: TestSystem['waitForTurn'] = async (sessionId, key, turnId, timeoutMs = 60_000) => {
    let session: any;
    await waitUntil(async () => {
      session = (await request('GET', `/v1/sessions/${sessionId}`, { key })).body;
      const turn = session.turns?.find((t: { turnId: string }) => t.turnId === turnId);
      return turn?.status === 'answered' || turn?.status === 'failed' || turn?.status === 'refused';
    }, `turn ${turnId} to finish`, timeoutMs);
    return session;
  };
  const waitForApproval: TestSystem['waitForApproval'] = async (sessionId) => {
    let found: any;
    await waitUntil(async () => {
      found = await prisma.approval.findFirst({ where: { sessionId, status: 'pending' }, orderBy: { createdAt: 'desc' } });
      return found !== null;
    }, 'an approval request');
    return found;
  };

  return {
    modelStats: model.stats,
    modelUrl,
    metricsUrls: { api: metricsListeners[0]!.url, worker: metricsListeners[1]?.url },
    activities: createActivities(deps),
    activityDeps: deps,
    redisServer: dedicated,
    database: dbPath,
    simulated,
    get fleetSetup() {
      return fleetSetup;
    },
    startApiNode,
    agentsPath,
    journalOf: (name) => path.join(tmp ?? os.tmpdir(), 'simulated', seed.orgs.acme.slug, `${name}.journal.jsonl`),
    createUser,
    enrollDevice,
    deliveredCommand,
    startSession,
    send,
    waitForTurn,
    waitForApproval,
    watchSession: async (sessionId, key) => {
      const watch = await watchSessionAt(url, sessionId, key);
      watches.add(watch);
      return watch;
    },
    env,
    prisma,
    redis,
    limiter,
    temporal,
    payloadKeys,
    payloadCodec,
    api,
    url,
    seed,
    taskQueue,
    agent,
    keyOf,
    request,
    stopWorker,
    startWorker,
    stop,
  };
}
