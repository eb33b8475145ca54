/**
 * The whole system for integration tests, with real services: a Temporal dev server (the installed CLI, through
 * TestWorkflowEnvironment.createLocal), PostgreSQL (the test database), Redis, the api and gateway on port 0, a
 * worker, the offline model on port 0, and optionally a real agent process. Each test file gets tenants of its
 * own (a random slug suffix), so files can share the database and run in parallel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import pino from 'pino';
import { saveCredentials } from '../agent/credentials';
import { enroll } from '../agent/enroll';
import { createApiServer, type ApiServer } from '../api/server';
import { loadEnv, temporalCliPath, type Env } from '../lib/env';
import { createPrisma, type PrismaClient } from '../lib/prisma';
import { createRedis, type Redis } from '../lib/redis';
import { startOfflineModel } from '../offline-model/server';
import { createEnrollmentKey, seedDemo, type DemoSeed } from '../prisma/seed-demo';
import { activityDeps, createWorker } from '../worker/create-worker';

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
  temporal: TestWorkflowEnvironment;
  api: ApiServer;
  url: string;
  seed: DemoSeed;
  taskQueue: string;
  agent?: { deviceId: string; process: ChildProcess; credentialsFile: string; stop(): Promise<void>; start(): void };
  /** Stops the worker (as a crash or deploy would) and starts a fresh one on the same task queue. */
  stopWorker(): Promise<void>;
  startWorker(): Promise<void>;
  keyOf(role: 'technician' | 'approver' | 'admin' | 'auditor', org?: 'acme' | 'globex'): string;
  request(method: string, route: string, opts?: { key?: string; body?: unknown; rawBody?: string }): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

export async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function startTestSystem(opts: { agent?: boolean } = {}): Promise<TestSystem> {
  const env = loadEnv({ ...process.env, NODE_ENV: 'test', LOG_LEVEL: 'silent' });
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const prisma = createPrisma(env.TEST_DATABASE_URL);
  const suffix = crypto.randomBytes(4).toString('hex');
  const seed = await seedDemo(prisma, { suffix });
  const taskQueue = `test-${suffix}`;

  const temporal = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: temporalCliPath(env) }, ip: '127.0.0.1', log: { format: 'pretty', level: 'error' } },
  });
  const model = await startOfflineModel(0);
  const redis = createRedis(env.REDIS_URL);
  await redis.connect();
  const api = await createApiServer({
    prisma,
    redis,
    temporal: temporal.client,
    logger,
    config: {
      databaseUrl: env.TEST_DATABASE_URL,
      taskQueue,
      temporalNamespace: 'default',
      temporalUiUrl: 'http://127.0.0.1:8233',
      sweepIntervalMs: 500,
      commandTimeoutSeconds: 60,
      bodyLimitBytes: 256 * 1024,
    },
  });
  const url = await api.listen(0, '127.0.0.1');

  const workerEnv = loadEnv({ ...process.env, ANTHROPIC_API_KEY: '', ANTHROPIC_BASE_URL: model.url, DATABASE_URL: env.TEST_DATABASE_URL });
  let worker: Worker | undefined;
  let workerRun: Promise<void> | undefined;
  const startWorker = async () => {
    worker = await createWorker({ connection: temporal.nativeConnection, namespace: 'default', taskQueue, deps: activityDeps(workerEnv, prisma, logger) });
    workerRun = worker.run();
  };
  const stopWorker = async () => {
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
  if (opts.agent) {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-agent-'));
    const credentialsFile = path.join(tmp, 'agent.json');
    const key = await createEnrollmentKey(prisma, { orgId: seed.orgs.acme.id, siteId: seed.orgs.acme.siteIds[0]!, maxUses: 1 });
    const creds = await enroll({ server: url, key, name: 'ACME-HQ-DEMO', executor: 'linux' });
    await saveCredentials(credentialsFile, creds);
    const spawnAgent = () =>
      spawn(process.execPath, ['--import', 'tsx', path.join(root, 'agent', 'main.ts'), '--credentials', credentialsFile], {
        cwd: root,
        env: { ...process.env, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error' },
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

  return {
    env,
    prisma,
    redis,
    temporal,
    api,
    url,
    seed,
    taskQueue,
    agent,
    keyOf,
    request,
    stopWorker,
    startWorker,
    async stop() {
      agent?.process.kill('SIGTERM');
      await stopWorker();
      await api.close();
      await temporal.teardown();
      await new Promise((r) => model.server.close(r));
      redis.disconnect();
      await prisma.$disconnect();
      if (tmp) await rm(tmp, { recursive: true, force: true });
    },
  };
}
