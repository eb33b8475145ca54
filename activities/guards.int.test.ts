/**
 * The message limits as the activity checks them (real PostgreSQL and Redis, no Temporal): the org's limits are read
 * for every message while its event is counted against the limits read before, and the read decides. The hourly
 * ceiling of a reservation; and the first model call booked with the admission, at the same time as the limits.
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
import { periods } from '../lib/budget';
import { makeAdmitUserMessage } from './admit-user-message';
import { admittedReservationId, BUDGET_UNAVAILABLE, makeBookFirstCall, makeCheckRateLimits, makeReleaseBudget, makeReserveBudget, RATE_UNAVAILABLE, type ReserveOutcome } from './guards';

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

describe("a turn's first model call booked with its message's admission, at the same time as the limits", () => {
  let org: string;
  let author: string;
  let policyNumber = 100;
  beforeAll(async () => {
    // An org of its own: its users' message windows are counted by these tests only.
    org = (await seedDemo(db.prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
    author = (await db.prisma.user.findFirstOrThrow({ where: { roleBindings: { some: { orgId: org, role: 'technician' } } } })).id;
  });
  const limitTo = (userMessagesPerMinute: number | null) =>
    db.prisma.policyVersion.create({
      data: {
        orgId: org,
        number: ++policyNumber,
        kind: 'edit',
        reason: 'test',
        document: { overrides: [], approvalTtlSeconds: { t3: 1800, t4: 900 }, rateLimits: { userMessagesPerMinute, orgMessagesPerHour: null, toolCallsPerUser: {} }, standing: [], budget: null },
      },
    });
  async function session() {
    const id = crypto.randomUUID();
    const workflowId = `wf-${id}`;
    await db.prisma.copilotSession.create({ data: { id, orgId: org, userId: author, workflowId } });
    const asSession = new MockActivityEnvironment({ workflowExecution: { workflowId, runId: 'r' } } as never);
    // A message as the api records it, then the admission as the workflow asks for it.
    const admit = async (deps: ActivityDeps, turnId: string) => {
      const request = await db.prisma.workflowRequest.create({ data: { orgId: org, sessionId: id, workflowId, kind: 'message', userId: author, text: `restart "spooler" ✓ ${turnId}` } });
      return asSession.run(makeAdmitUserMessage(deps), { sessionId: id, orgId: org, turnId, requestId: request.id, bookFirstCall: true });
    };
    return { id, asSession, admit };
  }
  const roomy = { dailyMicros: 1e12, monthlyMicros: 1e13, hourlyMicros: 1e12 };
  const withBudget = (budget: Partial<typeof roomy>): ActivityDeps => ({ ...base, guards: { ...base.guards, budget: { ...roomy, ...budget } } });
  const reservation = (id: string) => db.prisma.budgetReservation.findUnique({ where: { id } });
  const inHour = (id: string) => redis.hget(`${prefix}org:${org}:spend:a`, id);
  const reservedToday = async () => (await db.prisma.spendCounter.findUnique({ where: { orgId_period: { orgId: org, period: periods(new Date()).day } } }))?.reservedMicros ?? 0n;

  it('books the call when both pass; when the limits refuse, the booking is given back before the answer', async () => {
    await limitTo(1);
    const s = await session();
    const deps = withBudget({});
    const admitted = await s.admit(deps, 't1');
    expect(admitted).toMatchObject({ ok: true, booked: { reservationId: admittedReservationId(s.id, 't1'), amountMicros: expect.any(Number) } });
    const booked = (admitted as { booked: { reservationId: string; amountMicros: number } }).booked;
    expect(await reservation(booked.reservationId)).toMatchObject({ status: 'reserved', amountMicros: BigInt(booked.amountMicros) });
    expect(Number(await inHour(booked.reservationId))).toBe(booked.amountMicros);
    const held = await reservedToday();

    // The user's second message in the minute: refused by the limit; its booking, made meanwhile, holds nothing.
    const refused = await s.admit(deps, 't2');
    expect(refused).toMatchObject({ ok: false, stage: 'rate_limit', reason: expect.stringMatching(/^rate limit: at most 1 messages/) });
    expect(await reservation(admittedReservationId(s.id, 't2'))).toMatchObject({ status: 'released' });
    expect(await inHour(admittedReservationId(s.id, 't2'))).toBeNull();
    expect(await reservedToday()).toBe(held);
    expect(await db.prisma.auditEvent.count({ where: { orgId: org, action: 'ratelimit.denied', target: s.id } })).toBe(1);
  });

  it('admits a message whose booking the budget refuses, holding nothing: the first call then reserves, refuses and audits as before', async () => {
    await limitTo(null);
    const s = await session();
    const deps = withBudget({ dailyMicros: 1 });
    expect(await s.admit(deps, 't1')).toEqual({ ok: true, userId: author, text: expect.any(String) });
    expect(await reservation(admittedReservationId(s.id, 't1'))).toBeNull();
    expect(await db.prisma.auditEvent.count({ where: { orgId: org, action: 'budget.denied', target: s.id } })).toBe(0);
    expect(await s.asSession.run(makeReserveBudget(deps), { sessionId: s.id, orgId: org, turnId: 't1', step: 0, toolResults: [] })).toEqual({ ok: false, reason: expect.stringMatching(/^budget exhausted/) });
    expect(await db.prisma.auditEvent.count({ where: { orgId: org, action: 'budget.denied', target: s.id } })).toBe(1);
  });

  it("gives back a booking the hourly ceiling refuses, and the first call's own reservation is refused by it, not passed by the booking", async () => {
    await limitTo(null);
    const s = await session();
    // The ceiling below one call: PostgreSQL reserves, Redis refuses.
    const deps = withBudget({ hourlyMicros: 1 });
    expect(await s.admit(deps, 't1')).toEqual({ ok: true, userId: author, text: expect.any(String) });
    expect(await reservation(admittedReservationId(s.id, 't1'))).toMatchObject({ status: 'released' });
    expect(await s.asSession.run(makeReserveBudget(deps), { sessionId: s.id, orgId: org, turnId: 't1', step: 0, toolResults: [] })).toEqual({
      ok: false,
      reason: expect.stringMatching(/^budget: this organization's spend in the last hour is at its ceiling/),
    });
    expect(await db.prisma.auditEvent.count({ where: { orgId: org, action: 'budget.hourly_ceiling', target: s.id } })).toBe(1);
  });

  it('refuses when Redis is down (audited), the booking given back; a booking PostgreSQL cannot make holds nothing', async () => {
    await limitTo(null);
    const s = await session();
    const deadRedis = createRedis('redis://127.0.0.1:1');
    await deadRedis.connect().catch(() => undefined);
    try {
      const admitted = await s.admit({ ...withBudget({}), limiter: new RateLimiter(deadRedis, prefix) }, 't1');
      expect(admitted).toMatchObject({ ok: false, stage: 'rate_limit', reason: RATE_UNAVAILABLE });
      expect((await reservation(admittedReservationId(s.id, 't1')))?.status ?? 'none').not.toBe('reserved');
      expect(await db.prisma.auditEvent.count({ where: { orgId: org, action: 'ratelimit.unavailable', target: s.id } })).toBe(1);
    } finally {
      deadRedis.disconnect();
    }
    const down = new Pool({ connectionString: 'postgresql://postgres@127.0.0.1:1/none', connectionTimeoutMillis: 200 });
    try {
      const book = makeBookFirstCall({ ...withBudget({}), pool: down });
      expect(await s.asSession.run(book, { sessionId: s.id, orgId: org, turnId: 't2', text: 'hello' })).toBeNull();
      expect(await reservation(admittedReservationId(s.id, 't2'))).toBeNull();
    } finally {
      await down.end();
    }
  });
});

it('refuses a model call when Redis cannot count its hourly share, giving the reservation back for good', async () => {
  const sessionId = crypto.randomUUID();
  const workflowId = `wf-${sessionId}`;
  await db.prisma.copilotSession.create({ data: { id: sessionId, orgId, userId, workflowId } });
  const asSession = new MockActivityEnvironment({ workflowExecution: { workflowId, runId: 'r' } } as never);
  const deadRedis = createRedis('redis://127.0.0.1:1');
  await deadRedis.connect().catch(() => undefined);
  const roomy = { dailyMicros: 1e12, monthlyMicros: 1e13, hourlyMicros: 1e12 };
  const deps: ActivityDeps = { ...base, limiter: new RateLimiter(deadRedis, prefix), guards: { ...base.guards, budget: roomy } };
  const input = { sessionId, orgId, turnId: 't1', step: 0, toolResults: [] };
  try {
    expect(await asSession.run(makeReserveBudget(deps), input)).toEqual({ ok: false, reason: BUDGET_UNAVAILABLE });
    // Made, then given back when the count failed.
    expect(await db.prisma.budgetReservation.findUnique({ where: { id: `${sessionId}:t1:0` } })).toMatchObject({ status: 'released' });
    expect(await db.prisma.auditEvent.count({ where: { orgId, action: 'budget.unavailable', target: sessionId } })).toBe(1);
    // Redis back: the same call again finds its reservation given back and refuses; it never passes unchecked.
    expect(await asSession.run(makeReserveBudget({ ...deps, limiter: base.limiter }), input)).toEqual({ ok: false, reason: BUDGET_UNAVAILABLE });
    expect(await db.prisma.budgetReservation.findUnique({ where: { id: `${sessionId}:t1:0` } })).toMatchObject({ status: 'released' });
  } finally {
    deadRedis.disconnect();
  }
});
