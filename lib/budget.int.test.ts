/** The budget store against real PostgreSQL: concurrency, idempotency, release. */
import crypto from 'node:crypto';
import { loadEnv } from './env';
import { createDatabase } from './prisma';
import { close, periods, releaseStale, reserve, usageOf } from './budget';
import { seedDemo } from '../prisma/seed-demo';

const env = loadEnv();
const db = createDatabase(env.TEST_DATABASE_URL);
const { prisma } = db;
let orgId: string;
const defaults = { dailyMicros: 100_000, monthlyMicros: 1_000_000, hourlyMicros: 1_000_000 };

beforeAll(async () => {
  orgId = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
});
afterAll(() => prisma.$disconnect());

it('never lets 20 concurrent sessions of one org reserve or settle past the budget', async () => {
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => reserve(db, { id: `conc-${orgId}-${i}`, orgId, model: 'claude-sonnet-5-5', amountMicros: 15_000, defaults })),
  );
  const granted = results.filter((r) => r.ok);
  expect(granted).toHaveLength(6); // 6 × 15,000 ≤ 100,000 < 7 × 15,000
  await Promise.all(results.map((r, i) => (r.ok ? close(prisma, `conc-${orgId}-${i}`, 15_000) : null)));
  const usage = await usageOf(prisma, orgId, defaults);
  expect(usage.today.spentMicros).toBe(90_000n);
  expect(usage.today.reservedMicros).toBe(0n);
  expect(usage.today.spentMicros).toBeLessThanOrEqual(usage.today.limitMicros);
  const refused = results.find((r) => !r.ok);
  expect(refused).toMatchObject({ ok: false, exhausted: 'day', limitMicros: 100_000n });
});

it('reserves, settles and releases once per idempotency key', async () => {
  const other = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
  const id = `idem-${other}`;
  expect(await reserve(db, { id, orgId: other, model: 'm', amountMicros: 5000, defaults })).toMatchObject({ ok: true });
  expect(await reserve(db, { id, orgId: other, model: 'm', amountMicros: 5000, defaults })).toMatchObject({ ok: true });
  expect((await usageOf(prisma, other, defaults)).today.reservedMicros).toBe(5000n);
  expect(await close(prisma, id, 1200)).toBe(true);
  expect(await close(prisma, id, 1200)).toBe(false);
  expect(await close(prisma, id, null)).toBe(false);
  const usage = await usageOf(prisma, other, defaults);
  expect([usage.today.spentMicros, usage.today.reservedMicros, usage.month.spentMicros]).toEqual([1200n, 0n, 1200n]);

  const released = `rel-${other}`;
  await reserve(db, { id: released, orgId: other, model: 'm', amountMicros: 7000, defaults });
  await close(prisma, released, null);
  expect((await usageOf(prisma, other, defaults)).today).toMatchObject({ spentMicros: 1200n, reservedMicros: 0n });
});

it('takes concurrent reservations and settlements of one org without deadlocking', async () => {
  const org = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
  const roomy = { dailyMicros: 10_000_000, monthlyMicros: 100_000_000, hourlyMicros: 10_000_000 };
  // Each cycle reserves and then settles; cycles overlap, so reserves and settles of the same counters interleave,
  // and every update moves the counters' tuples (MVCC), which is what once made lock order vary.
  const cycle = async (i: number) => {
    const id = `mix-${org}-${i}`;
    const r = await reserve(db, { id, orgId: org, model: 'm', amountMicros: 1000 + i, defaults: roomy });
    expect(r.ok).toBe(true);
    await close(prisma, id, 500);
  };
  for (let wave = 0; wave < 5; wave++) await Promise.all(Array.from({ length: 40 }, (_, i) => cycle(wave * 40 + i)));
  const usage = await usageOf(prisma, org, roomy);
  expect([usage.today.spentMicros, usage.today.reservedMicros, usage.month.spentMicros]).toEqual([100_000n, 0n, 100_000n]);
});

it('books a call that succeeds after its reservation was released as stale, once', async () => {
  const other = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
  const id = `late-${other}`;
  expect(await reserve(db, { id, orgId: other, model: 'm', amountMicros: 5000, defaults })).toMatchObject({ ok: true });
  // The sweep gives up on it (here: anything older than 0 ms) while the model is still answering.
  await prisma.budgetReservation.update({ where: { id }, data: { createdAt: new Date(Date.now() - 60_000) } });
  expect(await releaseStale(prisma, 30_000)).toBeGreaterThanOrEqual(1);
  expect((await usageOf(prisma, other, defaults)).today).toMatchObject({ reservedMicros: 0n, spentMicros: 0n });
  // The late answer is booked; a retry of the same settlement is not booked twice, and a release changes nothing.
  expect(await close(prisma, id, 3300)).toBe(true);
  expect(await close(prisma, id, 3300)).toBe(false);
  expect(await close(prisma, id, null)).toBe(false);
  expect((await usageOf(prisma, other, defaults)).today).toMatchObject({ reservedMicros: 0n, spentMicros: 3300n });
});

describe('the ceilings come from the policy in force, and a policy that cannot be read refuses', () => {
  const version = (org: string, number: number, document: unknown) =>
    prisma.policyVersion.create({ data: { orgId: org, number, document: document as object, kind: 'edit', reason: 'test' } });
  const document = (budget: unknown) => ({ overrides: [], approvalTtlSeconds: { t3: 1800, t4: 900 }, rateLimits: { userMessagesPerMinute: null, orgMessagesPerHour: null, toolCallsPerUser: {} }, standing: [], budget });

  it("refuses at the org's own monthly ceiling and leaves the day's counter as it was", async () => {
    const org = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
    await version(org, 1, document({ dailyUsd: 1, monthlyUsd: 1, hourlyUsd: 1 }));
    expect(await reserve(db, { id: `own-a-${org}`, orgId: org, model: 'm', amountMicros: 600_000, defaults })).toMatchObject({ ok: true, hourlyMicros: 1_000_000n });
    // Spent on an earlier day of this month: the day has room, the month does not.
    const { month } = periods(new Date());
    await prisma.spendCounter.update({ where: { orgId_period: { orgId: org, period: month } }, data: { spentMicros: { increment: 300_000 } } });
    const refused = await reserve(db, { id: `own-b-${org}`, orgId: org, model: 'm', amountMicros: 200_000, defaults });
    expect(refused).toMatchObject({ ok: false, exhausted: 'month', spentMicros: 900_000n, limitMicros: 1_000_000n, orgName: expect.any(String) });
    expect((await usageOf(prisma, org, defaults)).today).toMatchObject({ reservedMicros: 600_000n });
    expect(await prisma.budgetReservation.findUnique({ where: { id: `own-b-${org}` } })).toBeNull();
  });

  it('throws (the guard denies) on a budget that is not numbers, reserving nothing', async () => {
    const org = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
    await version(org, 1, document({ dailyUsd: 'lots', monthlyUsd: 1, hourlyUsd: 1 }));
    await expect(reserve(db, { id: `text-${org}`, orgId: org, model: 'm', amountMicros: 1000, defaults })).rejects.toThrow(/cannot be read/);
    expect(await prisma.budgetReservation.findUnique({ where: { id: `text-${org}` } })).toBeNull();
  });

  it('throws on a version whose budget reads but whose document does not, and gives the reservation back', async () => {
    const org = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
    await version(org, 1, { ...document({ dailyUsd: 1, monthlyUsd: 1, hourlyUsd: 1 }), overrides: 'all of them' });
    await expect(reserve(db, { id: `doc-${org}`, orgId: org, model: 'm', amountMicros: 1000, defaults })).rejects.toThrow(/cannot be read/);
    const counters = await prisma.spendCounter.findMany({ where: { orgId: org } });
    expect(counters.map((c) => c.reservedMicros)).toEqual([0n, 0n]);
    expect(await prisma.budgetReservation.findUnique({ where: { id: `doc-${org}` } })).toMatchObject({ status: 'released' });
  });

  it('throws for an organization that does not exist', async () => {
    await expect(reserve(db, { id: `none-${crypto.randomUUID()}`, orgId: crypto.randomUUID(), model: 'm', amountMicros: 1000, defaults })).rejects.toThrow(/organization not found/);
  });
});
