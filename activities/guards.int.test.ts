/**
 * The message limits as the activity checks them (real PostgreSQL and Redis, no Temporal): the org's limits are read
 * for every message while its event is counted against the limits read before, and the read decides.
 */
import crypto from 'node:crypto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Pool } from 'pg';
import { loadEnv } from '../lib/env';
import { createLogger } from '../lib/logger';
import { createWorkerMetrics } from '../lib/metrics';
import { createDatabase } from '../lib/prisma';
import { createRedis } from '../lib/redis';
import { RateLimiter } from '../lib/rate-limiter';
import { seedDemo } from '../prisma/seed-demo';
import { activityDeps } from '../worker/create-worker';
import type { ActivityDeps } from './deps';
import { makeCheckRateLimits, makeReleaseBudget, makeReserveBudget, RATE_UNAVAILABLE, type ReserveOutcome } from './guards';

const env = loadEnv();
const db = createDatabase(env.TEST_DATABASE_URL);
const redis = createRedis(env.REDIS_URL);
const prefix = `gh:test:${crypto.randomUUID()}:`;
const limiter = new RateLimiter(redis, prefix);
const base = activityDeps({ ...env, RATE_KEY_PREFIX: prefix }, db, redis, createLogger(env, 'guards-test'), createWorkerMetrics());
const activity = new MockActivityEnvironment();
let orgId: string;
let userId: string;

beforeAll(async () => {
  await redis.connect();
  orgId = (await seedDemo(db.prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
  userId = (await db.prisma.user.findFirstOrThrow({ where: { roleBindings: { some: { orgId } } } })).id;
});
afterAll(async () => {
  await redis.quit();
  await db.prisma.$disconnect();
});

let versions = 0;
/** The org's admin sets its message limits (a new policy version, as PUT /v1/orgs/:id/policy writes). */
const setLimits = (userMessagesPerMinute: number | null) =>
  db.prisma.policyVersion.create({
    data: {
      orgId,
      number: ++versions,
      kind: 'edit',
      reason: 'test',
      document: { overrides: [], approvalTtlSeconds: { t3: 1800, t4: 900 }, rateLimits: { userMessagesPerMinute, orgMessagesPerHour: null, toolCallsPerUser: {} }, standing: [], budget: null },
    },
  });

const userCount = () => limiter.count(`user:${userId}:messages`, base.guards.rates.userMessages.windowMs);
const orgCount = () => limiter.count(`org:${orgId}:messages`, base.guards.rates.orgMessages.windowMs);

it('applies a lowered limit from the next message, and counts as if the limits had been read first', async () => {
  const check = makeCheckRateLimits(base);
  const message = () => activity.run(check, { orgId, userId, sessionId: crypto.randomUUID() });
  await setLimits(5);
  expect(await message()).toEqual({ ok: true });
  expect(await message()).toEqual({ ok: true });
  // Lowered to 2 between two messages: the worker still knows 5, the read says 2, and 2 it is.
  await setLimits(2);
  expect(await message()).toMatchObject({ ok: false, reason: expect.stringMatching(/^rate limit: at most 2 messages per 60s for each user/) });
  // The refused message counted nothing, here or against the org.
  expect([await userCount(), await orgCount()]).toEqual([2, 2]);
  expect(await db.prisma.auditEvent.count({ where: { orgId, action: 'ratelimit.denied' } })).toBe(1);
  // Raised again: the next message passes, counted once.
  await setLimits(4);
  expect(await message()).toEqual({ ok: true });
  expect(await message()).toEqual({ ok: true });
  expect(await message()).toMatchObject({ ok: false, reason: expect.stringMatching(/at most 4 messages/) });
  expect([await userCount(), await orgCount()]).toEqual([4, 4]);
});

it('refuses when either store cannot answer, audited, and leaves no event counted for a read that failed', async () => {
  const deps: ActivityDeps = { ...base };
  const check = makeCheckRateLimits(deps);
  const message = () => activity.run(check, { orgId, userId: crypto.randomUUID(), sessionId: crypto.randomUUID() });
  await setLimits(50);
  expect(await message()).toEqual({ ok: true });
  const before = await orgCount();
  const unavailable = () => db.prisma.auditEvent.count({ where: { orgId, action: 'ratelimit.unavailable' } });
  const audited = await unavailable();

  // PostgreSQL unreachable: the event counted meanwhile against the limits known is taken back.
  const down = new Pool({ connectionString: 'postgresql://postgres@127.0.0.1:1/none', connectionTimeoutMillis: 200 });
  deps.pool = down;
  expect(await message()).toEqual({ ok: false, reason: RATE_UNAVAILABLE });
  expect(await orgCount()).toBe(before);
  await down.end();

  // Redis unreachable.
  deps.pool = base.pool;
  const deadRedis = createRedis('redis://127.0.0.1:1');
  await deadRedis.connect().catch(() => undefined);
  deps.limiter = new RateLimiter(deadRedis, prefix);
  expect(await message()).toEqual({ ok: false, reason: RATE_UNAVAILABLE });
  deadRedis.disconnect();
  expect(await unavailable()).toBe(audited + 2);

  deps.limiter = base.limiter;
  expect(await message()).toEqual({ ok: true });
});

it("refuses a model call past the org's hourly spend ceiling, gives its reservation back, and lets a released one's share go", async () => {
  const user = await db.prisma.user.findFirstOrThrow({ where: { id: userId } });
  const sessionId = crypto.randomUUID();
  const workflowId = `wf-${sessionId}`;
  await db.prisma.copilotSession.create({ data: { id: sessionId, orgId, userId: user.id, workflowId } });
  await setLimits(null);
  const asSession = new MockActivityEnvironment({ workflowExecution: { workflowId, runId: 'r' } } as never);
  const roomy = { dailyMicros: 1e12, monthlyMicros: 1e13, hourlyMicros: 1e12 };
  const reserveWith = (hourlyMicros: number, turnId: string): Promise<ReserveOutcome> =>
    asSession.run(makeReserveBudget({ ...base, guards: { ...base.guards, budget: { ...roomy, hourlyMicros } } }), { sessionId, orgId, turnId, step: 0, toolResults: [] });
  const first = await reserveWith(1e12, 't1');
  if (!first.ok) throw new Error(first.reason);
  const amount = first.amountMicros;
  // The ceiling holds two and a half calls: the second passes, the third is refused and reserves nothing.
  const ceiling = Math.floor(amount * 2.5);
  expect(await reserveWith(ceiling, 't2')).toMatchObject({ ok: true });
  expect(await reserveWith(ceiling, 't3')).toEqual({ ok: false, reason: expect.stringMatching(/^budget: this organization's spend in the last hour is at its ceiling/) });
  expect(await db.prisma.budgetReservation.findUnique({ where: { id: `${sessionId}:t3:0` } })).toMatchObject({ status: 'released' });
  expect(await db.prisma.auditEvent.count({ where: { orgId, action: 'budget.hourly_ceiling', target: sessionId } })).toBe(1);
  // The first call fails for good and gives its reservation back: its share of the hour goes with it.
  await asSession.run(makeReleaseBudget(base), { orgId, reservationId: first.reservationId });
  expect(await reserveWith(ceiling, 't4')).toMatchObject({ ok: true });
});
