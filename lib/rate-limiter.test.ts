import crypto from 'node:crypto';
import { loadEnv } from './env';
import { createRedis } from './redis';
import { RateLimiter } from './rate-limiter';

const redis = createRedis(loadEnv().REDIS_URL);
const limiter = new RateLimiter(redis, `gh:test:${crypto.randomUUID()}:`);
beforeAll(() => redis.connect());
afterAll(() => redis.quit());

it('allows exactly max events per window, then recovers when the window slides', async () => {
  const w = { max: 3, windowMs: 600 };
  const results: Awaited<ReturnType<RateLimiter['hit']>>[] = [];
  for (let i = 0; i < 4; i++) results.push(await limiter.hit('user:a', w));
  expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
  expect(results[3]!.retryAfterMs).toBeGreaterThan(0);
  expect(results[3]!.retryAfterMs).toBeLessThanOrEqual(600);
  await new Promise((r) => setTimeout(r, results[3]!.retryAfterMs + 20));
  expect((await limiter.hit('user:a', w)).allowed).toBe(true);
});

it('is atomic under concurrency: 50 simultaneous hits, exactly max allowed', async () => {
  const w = { max: 10, windowMs: 10_000 };
  const results = await Promise.all(Array.from({ length: 50 }, () => limiter.hit('burst', w)));
  expect(results.filter((r) => r.allowed)).toHaveLength(10);
});

it('keeps a sliding sum within its ceiling, and lets settled amounts shrink it', async () => {
  const w = { max: 1000, windowMs: 10_000 };
  expect(await limiter.add('spend', w, 600, 'r1')).toEqual({ allowed: true, sum: 600 });
  expect(await limiter.add('spend', w, 600, 'r2')).toEqual({ allowed: false, sum: 600 });
  await limiter.adjust('spend', 'r1', 100); // settled at its real cost
  expect(await limiter.add('spend', w, 600, 'r2')).toEqual({ allowed: true, sum: 700 });
  await limiter.adjust('spend', 'r2', null); // released
  expect((await limiter.add('spend', w, 850, 'r3')).allowed).toBe(true);
});

it('throws when Redis cannot be reached, so callers can deny', async () => {
  const down = createRedis('redis://127.0.0.1:1');
  await down.connect().catch(() => undefined);
  await expect(new RateLimiter(down).hit('x', { max: 1, windowMs: 1000 })).rejects.toThrow();
  down.disconnect();
});

it('counts several windows in one call, stopping at the first full one and counting nothing after it', async () => {
  const small = { max: 1, windowMs: 10_000 };
  const large = { max: 100, windowMs: 10_000 };
  expect(await limiter.hitInOrder([{ key: 'u1', window: small }, { key: 'org1', window: large }])).toEqual({ refusedAt: null, count: 1 });
  const refused = await limiter.hitInOrder([{ key: 'u1', window: small }, { key: 'org1', window: large }]);
  expect(refused).toMatchObject({ refusedAt: 0, count: 1 });
  expect(refused.refusedAt !== null && refused.retryAfterMs).toBeGreaterThan(0);
  // The user's refusal counted nothing against the org: one event there, from the first call.
  expect(await limiter.count('org1', 10_000)).toBe(1);
  // A full second window refuses after the first has counted its event.
  expect(await limiter.hitInOrder([{ key: 'u2', window: large }, { key: 'org2', window: { max: 0, windowMs: 10_000 } }])).toMatchObject({ refusedAt: 1 });
  expect(await limiter.count('u2', 10_000)).toBe(1);
});

it('replays recorded events at their own times with the same rule, and leaves no key behind', async () => {
  const w = { max: 2, windowMs: 1000 };
  const at = (ms: number) => ({ key: 'tool:x:user:a', w, atMs: 1_000_000 + ms });
  // Two in the window, the third refused (and not counted), the first slides out at +1000 ms.
  expect(await limiter.replay([at(0), at(10), at(20), at(999), at(1000), at(1005)])).toEqual([true, true, false, false, true, false]);
  // Keys are per event: another user's calls count on their own.
  expect(await limiter.replay([at(0), { ...at(1), key: 'tool:x:user:b' }, at(2), at(3)])).toEqual([true, true, true, false]);
  expect(await redis.keys(`gh:test:*replay:*`)).toEqual([]);
});

it('takes entries that leave the window off the sum, and counts a sum kept without a total from its entries', async () => {
  const w = { max: 1000, windowMs: 400 };
  expect(await limiter.add('slide', w, 700, 's1')).toEqual({ allowed: true, sum: 700 });
  expect((await limiter.add('slide', w, 400, 's2')).allowed).toBe(false);
  await new Promise((r) => setTimeout(r, 450));
  expect(await limiter.add('slide', w, 400, 's2')).toEqual({ allowed: true, sum: 400 });
  // Entries written before the running total was kept (or a total evicted): the next check counts them all again.
  const prefix = (limiter as unknown as { prefix: string }).prefix;
  const long = { max: 1000, windowMs: 10_000 };
  await redis.zadd(`${prefix}legacy:t`, Date.now(), 'old1', Date.now(), 'old2');
  await redis.hset(`${prefix}legacy:a`, 'old1', 500, 'old2', 400);
  expect(await limiter.add('legacy', long, 200, 'new1')).toEqual({ allowed: false, sum: 900 });
  await limiter.adjust('legacy', 'old2', null);
  expect(await limiter.add('legacy', long, 200, 'new1')).toEqual({ allowed: true, sum: 700 });
  await limiter.adjust('legacy', 'old1', 100);
  expect(await limiter.add('legacy', long, 850, 'new2')).toEqual({ allowed: false, sum: 300 });
  expect((await limiter.add('legacy', long, 700, 'new2')).allowed).toBe(true);
});

it('keeps a sum exact under concurrency: 40 simultaneous additions, exactly as many as fit', async () => {
  const w = { max: 1000, windowMs: 10_000 };
  const results = await Promise.all(Array.from({ length: 40 }, (_, i) => limiter.add('spend-burst', w, 70, `b${i}`)));
  expect(results.filter((r) => r.allowed)).toHaveLength(14); // 14 × 70 = 980 ≤ 1000 < 15 × 70
  await Promise.all(results.map((r, i) => (r.allowed ? limiter.adjust('spend-burst', `b${i}`, null) : null)));
  expect((await limiter.add('spend-burst', w, 1000, 'all')).allowed).toBe(true);
});
