/**
 * Authorization fails closed when it cannot read what it decides from (real PostgreSQL, no Temporal): the read of the
 * invocation, the session and its breaker is refused by a database that cannot be reached, nothing is recorded as
 * allowed, and the failed attempt is in the audit log for whoever asks why the turn failed.
 */
import crypto from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Pool } from 'pg';
import { loadEnv } from '../lib/env';
import { createLogger } from '../lib/logger';
import { createWorkerMetrics } from '../lib/metrics';
import { createDatabase } from '../lib/prisma';
import { createRedis } from '../lib/redis';
import { seedDemo } from '../prisma/seed-demo';
import { activityDeps } from '../worker/create-worker';
import { makeAuthorizeToolCall } from './authorize-tool-call';

const env = loadEnv();
const db = createDatabase(env.TEST_DATABASE_URL);
const redis = createRedis(env.REDIS_URL);
// Nothing listens on port 1: every statement through this pool fails to connect.
const unreachable = new Pool({ connectionString: 'postgresql://postgres@127.0.0.1:1/gatehouse', connectionTimeoutMillis: 1_000 });
let orgId: string;

beforeAll(async () => {
  await redis.connect();
  orgId = (await seedDemo(db.prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
});
afterAll(async () => {
  await unreachable.end();
  await redis.quit();
  await db.prisma.$disconnect();
});

it('refuses to decide when its read fails, records nothing, and audits the failed attempt', async () => {
  const deps = { ...activityDeps(env, db, redis, createLogger(env, 'authorize-test'), createWorkerMetrics()), pool: unreachable };
  const sessionId = crypto.randomUUID();
  const toolUse = { id: 'toolu_1', name: 'manage_service', input: { device_id: crypto.randomUUID(), service: 'Spooler', action: 'restart' } };
  const authorize = makeAuthorizeToolCall(deps);

  await expect(new MockActivityEnvironment().run(authorize, { sessionId, orgId, turnId: 't1', userId: crypto.randomUUID(), toolUse, tainted: false })).rejects.toThrow();

  expect(await db.prisma.toolInvocation.count({ where: { sessionId } })).toBe(0);
  const events = await db.prisma.auditEvent.findMany({ where: { orgId, sessionId } });
  expect(events.map((e) => [e.action, e.target, (e.data as { attempt?: number }).attempt])).toEqual([['tool.authorization_failed', 'manage_service', 1]]);
  expect(String((events[0]!.data as { error?: string }).error)).toMatch(/ECONNREFUSED|connect/i);
});
