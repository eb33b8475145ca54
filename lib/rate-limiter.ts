/**
 * Sliding-window rate limits in Redis, each check one atomic Lua script using Redis's own clock (so every api
 * node and worker agrees on time). Two kinds: a count of events in the window, and a sum of amounts (spend) in
 * the window. Any Redis error is thrown to the caller, whose job is to deny: the store being down is a "no".
 *
 * The what-if of a proposed policy (api/services/what-if.ts) counts recorded calls through the very same count
 * script (`replay`): each event at its recorded time instead of Redis's clock, on scratch keys dropped afterwards,
 * so a limit it models refuses exactly what the live limit would have.
 *
 * A turn's message limits (per user, then per org) are counted in one script call (`hitInOrder`), each window by the
 * same rule as `hit`. The scripts are ioredis commands (`defineCommand`): called by their hash (EVALSHA), sent again
 * when Redis has forgotten them.
 */
import crypto from 'node:crypto';
import type { Redis } from 'ioredis';

// ARGV[4], when given, is the event's time (a replay of recorded events); ARGV[5] how long to keep the key then.
const COUNT = `
local now
if ARGV[4] then
  now = tonumber(ARGV[4])
else
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local keep = tonumber(ARGV[5] or ARGV[1])
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], keep)
  return {1, count + 1, 0}
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, count, tonumber(oldest[2]) + window - now}
`;

// The message limits of a turn (per user, then per org) in one call: counts one event in each window, in order
// (KEYS[i] with ARGV[2i] = window ms, ARGV[2i+1] = max; ARGV[1] the event's member), each window as COUNT counts it,
// stopping at the first that is full: the windows before it keep their count, as separate checks one after the other
// did, and nothing after it is counted. Returns {0, count in the last window, 0} when all allowed, else
// {i, count, retry ms} of the window that refused.
const COUNT_IN_ORDER = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local counted = 0
for i = 1, #KEYS do
  local window = tonumber(ARGV[2 * i])
  local limit = tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local count = redis.call('ZCARD', KEYS[i])
  if count >= limit then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    local retry = window
    if oldest[2] then retry = tonumber(oldest[2]) + window - now end
    return {i, count, retry}
  end
  redis.call('ZADD', KEYS[i], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[i], window)
  counted = count + 1
end
return {0, counted, 0}
`;

// The sum of amounts in a sliding window: KEYS[1] the entries' times (a sorted set), KEYS[2] their amounts (a hash),
// KEYS[3] their running total, so a check reads one number instead of every amount of the window (an org's hour of
// model calls). The entries that left the window are taken off the total as they are dropped. A total that is missing
// while entries are there (written before the total was kept, or evicted) is counted again from the entries, as
// every check once did: never taken as zero; with no entries left (the keys expired) it is zero, whatever a total
// kept longer says. Entries replaced under the same member count once in the total.
const SUM = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local amount = tonumber(ARGV[3])
local total = nil
if redis.call('EXISTS', KEYS[1]) == 1 then total = tonumber(redis.call('GET', KEYS[3]) or '') else total = 0 end
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)
for i = 1, #expired do
  if total then total = total - tonumber(redis.call('HGET', KEYS[2], expired[i]) or '0') end
  redis.call('HDEL', KEYS[2], expired[i])
end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window) end
local stale = #expired > 0 or not total
if not total then
  total = 0
  local members = redis.call('ZRANGE', KEYS[1], 0, -1)
  for i = 1, #members do total = total + tonumber(redis.call('HGET', KEYS[2], members[i]) or '0') end
end
if total + amount > limit then
  if stale then redis.call('SET', KEYS[3], string.format('%.17g', total), 'PX', window) end
  return {0, total}
end
local previous = tonumber(redis.call('HGET', KEYS[2], ARGV[4]) or '0')
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('HSET', KEYS[2], ARGV[4], amount)
redis.call('PEXPIRE', KEYS[1], window)
redis.call('PEXPIRE', KEYS[2], window)
redis.call('SET', KEYS[3], string.format('%.17g', total - previous + amount), 'PX', window)
return {1, total + amount}
`;

// An entry of a sum replaced (ARGV[2], a settled amount) or removed (ARGV[2] = '', released), the running total with
// it when there is one (a missing total is counted again by the next check).
const ADJUST = `
local previous = redis.call('HGET', KEYS[2], ARGV[1])
if not previous then
  if ARGV[2] == '' then redis.call('ZREM', KEYS[1], ARGV[1]) end
  return 0
end
local total = tonumber(redis.call('GET', KEYS[3]) or '')
if ARGV[2] == '' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  if total then redis.call('SET', KEYS[3], string.format('%.17g', total - tonumber(previous)), 'KEEPTTL') end
else
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  if total then redis.call('SET', KEYS[3], string.format('%.17g', total - tonumber(previous) + tonumber(ARGV[2])), 'KEEPTTL') end
end
return 1
`;

/** How long a replay's scratch keys may outlive it (it drops them itself; this is for a replay that died). */
const REPLAY_KEEP_MS = 10 * 60_000;

export interface Window {
  max: number;
  windowMs: number;
}

export type CountResult = { allowed: boolean; count: number; retryAfterMs: number };

/** Of several windows counted at once: which one refused (its index), or null when every one allowed the event. */
export type InOrderResult = { refusedAt: null; count: number } | { refusedAt: number; count: number; retryAfterMs: number };

/**
 * The scripts as ioredis commands (`defineCommand`): each sent whole the first time on a connection, then by its
 * SHA-1 (EVALSHA), and sent again whenever Redis answers that it has forgotten it (NOSCRIPT, after a restart).
 */
interface LimiterCommands {
  gatehouseRateCount(key: string, windowMs: number, max: number, member: string): Promise<number[]>;
  gatehouseRateCountInOrder(numberOfKeys: number, ...keysThenArgs: (string | number)[]): Promise<number[]>;
  gatehouseRateSum(times: string, amounts: string, total: string, windowMs: number, max: number, amount: number, member: string): Promise<number[]>;
  gatehouseRateAdjust(times: string, amounts: string, total: string, member: string, amount: string): Promise<number>;
}

function withScripts(redis: Redis): Redis & LimiterCommands {
  const r = redis as Redis & Partial<LimiterCommands>;
  if (!r.gatehouseRateCount) {
    redis.defineCommand('gatehouseRateCount', { numberOfKeys: 1, lua: COUNT });
    // Its number of keys varies: given first, as to EVAL.
    redis.defineCommand('gatehouseRateCountInOrder', { lua: COUNT_IN_ORDER });
    redis.defineCommand('gatehouseRateSum', { numberOfKeys: 3, lua: SUM });
    redis.defineCommand('gatehouseRateAdjust', { numberOfKeys: 3, lua: ADJUST });
  }
  return redis as Redis & LimiterCommands;
}

/** A counted event's name in its windows: unique, so counting it again (a retry) does not count it twice. */
export const eventMember = () => `${Date.now()}-${crypto.randomUUID()}`;

export class RateLimiter {
  private readonly redis: Redis & LimiterCommands;

  constructor(
    redis: Redis,
    private readonly prefix = 'gh:rl:',
  ) {
    this.redis = withScripts(redis);
  }

  /** Counts one event against `max` per sliding `windowMs`. */
  async hit(key: string, w: Window): Promise<CountResult> {
    const [allowed, count, retry] = await this.redis.gatehouseRateCount(this.prefix + key, w.windowMs, w.max, `${Date.now()}-${crypto.randomUUID()}`);
    return { allowed: allowed === 1, count: count!, retryAfterMs: Math.max(0, retry!) };
  }

  /**
   * Counts one event in each window, in order, in one atomic script (one round trip): stops at the first window
   * that is full, which is not counted and neither is any after it.
   */
  async hitInOrder(windows: { key: string; window: Window }[], member = eventMember()): Promise<InOrderResult> {
    const args = windows.flatMap(({ window }) => [window.windowMs, window.max]);
    const [at, n, retry] = await this.redis.gatehouseRateCountInOrder(windows.length, ...windows.map((w) => this.prefix + w.key), member, ...args);
    return at === 0 ? { refusedAt: null, count: n! } : { refusedAt: at! - 1, count: n!, retryAfterMs: Math.max(0, retry!) };
  }

  /** Takes an event counted by `hitInOrder` under `member` back out of the windows (those that counted it). */
  async forget(keys: string[], member: string): Promise<void> {
    const tx = this.redis.multi();
    for (const key of keys) tx.zrem(this.prefix + key, member);
    const replies = (await tx.exec()) ?? [];
    const failed = replies.find(([err]) => err);
    if (failed || replies.length !== keys.length) throw failed?.[0] ?? new Error('the event could not be taken back');
  }

  /**
   * Counts recorded events (each `key` against its window `w`, at `atMs`), in the order given, exactly as `hit`
   * would have counted them at those times; answers whether each was allowed. The keys live under a scratch prefix
   * of this replay only (kept at most REPLAY_KEEP_MS in case the replay dies half-way) and are dropped at the end:
   * nothing the live limits count is touched.
   */
  async replay(events: { key: string; w: Window; atMs: number }[]): Promise<boolean[]> {
    const scratch = `${this.prefix}replay:${crypto.randomUUID()}:`;
    const keys = new Set<string>();
    try {
      // The script once, then its hash per event (thousands of events). Sent in order on one connection, so Redis
      // runs them in order: each sees the ones before it.
      const sha = (await this.redis.script('LOAD', COUNT)) as string;
      const answers = await Promise.all(
        events.map((e, i) => {
          keys.add(scratch + e.key);
          return this.redis.evalsha(sha, 1, scratch + e.key, e.w.windowMs, e.w.max, `${i}`, e.atMs, REPLAY_KEEP_MS) as Promise<number[]>;
        }),
      );
      return answers.map(([allowed]) => allowed === 1);
    } finally {
      if (keys.size > 0) await this.redis.del(...keys).catch(() => undefined);
    }
  }

  /** Adds `amount` to the sum of the sliding window if it stays within `max`; `member` names the entry. */
  async add(key: string, w: Window, amount: number, member: string): Promise<{ allowed: boolean; sum: number }> {
    const [allowed, total] = await this.redis.gatehouseRateSum(`${this.prefix}${key}:t`, `${this.prefix}${key}:a`, `${this.prefix}${key}:s`, w.windowMs, w.max, amount, member);
    return { allowed: allowed === 1, sum: total! };
  }

  /** Replaces an entry's amount (a reservation settled at its real cost), or removes it (released): one script. */
  async adjust(key: string, member: string, amount: number | null): Promise<void> {
    await this.redis.gatehouseRateAdjust(`${this.prefix}${key}:t`, `${this.prefix}${key}:a`, `${this.prefix}${key}:s`, member, amount === null ? '' : String(amount));
  }

  /** Events in the window now, without counting one. */
  async count(key: string, windowMs: number): Promise<number> {
    const k = this.prefix + key;
    const [[, time]] = (await this.redis.multi().time().exec()) as [[null, [string, string]]];
    const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
    return this.redis.zcount(k, now - windowMs, '+inf');
  }
}
