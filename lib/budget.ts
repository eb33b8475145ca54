/**
 * Per-org budgets in PostgreSQL: reserve the worst case before a model call, settle with the real cost after, or
 * release. Each reservation is one statement of conditional updates on the org's day and month counters
 * (`spent + reserved + amount <= limit`); concurrent reservations queue on the counter rows, so sessions of one
 * org together can never pass the budget. Reservations are keyed by an idempotency key: a retry reserves,
 * settles and releases once. The ceilings are the org's policy in force (its `budget`, or the deployment's
 * defaults when null), read in SQL by the reservation and by `limitsOf` for the usage pages; a policy version that
 * cannot be read throws in both, so the guard denies (fail closed).
 */
import type { Prisma, PrismaClient } from '@prisma/client';
import { assertReadable, currentPolicy } from './policy-store';
import type { ToolResultRef } from '../common/session';
import type { Database } from './prisma';

export interface BudgetDefaults {
  dailyMicros: number;
  monthlyMicros: number;
  hourlyMicros: number;
}

export interface Limits {
  dailyMicros: bigint;
  monthlyMicros: bigint;
  hourlyMicros: bigint;
  custom: boolean;
}

export const periods = (now: Date) => {
  const iso = now.toISOString();
  return { day: `day:${iso.slice(0, 10)}`, month: `month:${iso.slice(0, 7)}` };
};

const usdToMicros = (usd: number) => BigInt(Math.round(usd * 1_000_000));

export async function limitsOf(prisma: PrismaClient | Prisma.TransactionClient, orgId: string, defaults: BudgetDefaults): Promise<Limits> {
  const own = (await currentPolicy(prisma, orgId)).document.budget;
  if (own) return { dailyMicros: usdToMicros(own.dailyUsd), monthlyMicros: usdToMicros(own.monthlyUsd), hourlyMicros: usdToMicros(own.hourlyUsd), custom: true };
  return { dailyMicros: BigInt(defaults.dailyMicros), monthlyMicros: BigInt(defaults.monthlyMicros), hourlyMicros: BigInt(defaults.hourlyMicros), custom: false };
}

export type ReserveResult =
  | {
      ok: true;
      amountMicros: bigint;
      /** An earlier attempt already reserved under this key (its hourly share is already counted). */
      existing: boolean;
      /** The hourly ceiling in force; absent for an existing reservation. */
      hourlyMicros?: bigint;
    }
  | { ok: false; exhausted: 'day' | 'month'; spentMicros: bigint; limitMicros: bigint; orgName: string; amountMicros: bigint };

interface ReserveRow {
  outcome: 'reserved' | 'existing' | 'day' | 'month';
  amount_micros: string;
  used_micros: string | null;
  limit_micros: string | null;
  hourly_micros: string | null;
  policy_number: number | null;
  org_name: string;
}

/**
 * Reserves `amountMicros` against the org's day and month counters, in one round trip: the function
 * `gatehouse_reserve_budget` (its migration says how it keeps the steps above in one statement). The ceilings it
 * read came from the org's policy in force; that version must read as a policy too, or this throws (the guard
 * denies) after giving back anything reserved.
 */
export async function reserve(
  db: Database,
  r: { id: string; orgId: string; sessionId?: string; model: string; amountMicros: number; defaults: BudgetDefaults; now?: Date },
): Promise<ReserveResult> {
  const { day, month } = periods(r.now ?? new Date());
  const { rows } = await db.pool.query<ReserveRow>({
    name: 'budget.reserve',
    text: 'SELECT * FROM gatehouse_reserve_budget($1, $2::uuid, $3::uuid, $4, $5::bigint, $6, $7, $8::bigint, $9::bigint, $10::bigint)',
    values: [r.id, r.orgId, r.sessionId ?? null, r.model, r.amountMicros, day, month, r.defaults.dailyMicros, r.defaults.monthlyMicros, r.defaults.hourlyMicros],
  });
  return outcomeOf(db, r, rows[0]);
}

/** A reservation's row as a result, after the policy version it read is known to read as a whole policy. */
async function outcomeOf(db: Database, r: { id: string; orgId: string }, row: ReserveRow | undefined): Promise<ReserveResult> {
  if (!row) throw new Error('the budget reservation returned nothing');
  if (row.outcome === 'existing') return { ok: true, amountMicros: BigInt(row.amount_micros), existing: true };
  try {
    await assertReadable(db.prisma, r.orgId, row.policy_number ?? 0);
  } catch (err) {
    if (row.outcome === 'reserved') await close(db.prisma, r.id, null);
    throw err;
  }
  if (row.outcome === 'reserved') return { ok: true, amountMicros: BigInt(row.amount_micros), existing: false, hourlyMicros: BigInt(row.hourly_micros ?? 0) };
  return { ok: false, exhausted: row.outcome, spentMicros: BigInt(row.used_micros ?? 0), limitMicros: BigInt(row.limit_micros ?? 0), orgName: row.org_name, amountMicros: BigInt(row.amount_micros) };
}

/** How a model call's reservation is sized without building its request (activities/call-model.ts requestSizing). */
export interface ModelCallSizing {
  fixedBytes: number;
  perMessage: number;
  perToolUse: number;
  perUpstreamTool: number;
  /** worstCaseRates of the model: micro-dollars per million prompt tokens, and the cost of max_tokens out. */
  inputPerMTok: number;
  outputMicros: number;
}

/**
 * The guard before a model call, in one round trip: the function `gatehouse_reserve_model_call` (migration
 * 20261209100000; since 20261212090000 in one body, without a nested call or a savepoint) checks that the session is
 * the calling workflow's, writes the previous step's tool results to the transcript, bounds the size of the request
 * the call will send from the stored rows (and `sizing`, the parts that do not depend on them) and reserves its worst
 * case with the same rules as `reserve`. `{ session: false }` when the session is not
 * the caller's (nothing written, nothing reserved); otherwise as `reserve`, with the amount sized.
 */
export async function reserveModelCall(
  db: Database,
  r: {
    id: string;
    orgId: string;
    sessionId: string;
    workflowId: string;
    turnId: string;
    /** The tool_results row of the previous step (common/ids.ts stepMessageId) and what it answers. */
    resultsMessageId: string;
    toolResults: ToolResultRef[];
    kinds: readonly string[];
    sizing: ModelCallSizing;
    model: string;
    defaults: BudgetDefaults;
    /**
     * The turn's message when it is not stored yet (the first call booked while the message is admitted): sized as
     * its stored row will be (migration 20261214300000).
     */
    pendingText?: string;
    now?: Date;
  },
): Promise<({ session: true } & ReserveResult) | { session: false }> {
  const { day, month } = periods(r.now ?? new Date());
  const z = r.sizing;
  const { rows } = await db.pool.query<Omit<ReserveRow, 'outcome'> & { outcome: ReserveRow['outcome'] | 'session' }>({
    name: 'budget.reserve-model-call',
    text: `SELECT * FROM gatehouse_reserve_model_call($1, $2::uuid, $3::uuid, $4, $5, $6, $7::jsonb, $8::text[], $9::bigint, $10::bigint, $11::bigint, $12::bigint,
             $13::bigint, $14::bigint, $15, $16, $17, $18::bigint, $19::bigint, $20::bigint, $21::text)`,
    values: [
      r.id, r.orgId, r.sessionId, r.workflowId, r.turnId, r.resultsMessageId, JSON.stringify(r.toolResults), [...r.kinds],
      z.fixedBytes, z.perMessage, z.perToolUse, z.perUpstreamTool, z.inputPerMTok, z.outputMicros,
      r.model, day, month, r.defaults.dailyMicros, r.defaults.monthlyMicros, r.defaults.hourlyMicros, r.pendingText ?? null,
    ],
  });
  const row = rows[0];
  if (row?.outcome === 'session') return { session: false };
  return { session: true, ...(await outcomeOf(db, r, row as ReserveRow | undefined)) };
}

/**
 * Closes a reservation: settled at `actualMicros`, or released (null). Returns false if it was already closed. One
 * statement, the function `gatehouse_close_reservation` (migration 20261214100000: the row locked while open, the
 * day's then the month's counter, the row closed; a reservation the sweep released is still booked when it settles).
 */
export async function close(prisma: PrismaClient, id: string, actualMicros: number | null): Promise<boolean> {
  const [row] = await prisma.$queryRaw<{ closed: boolean }[]>`SELECT gatehouse_close_reservation(${id}, ${microsParam(actualMicros)}::bigint) AS "closed"`;
  return row?.closed === true;
}

/** A cost in micro-dollars as the close statement takes it: an exact integer (as text), or null for a release. */
export function microsParam(actualMicros: number | null): string | null {
  return actualMicros === null ? null : BigInt(actualMicros).toString();
}

/**
 * Reservations left open by a call that never finished (a crashed worker) are released after `olderThanMs`: oldest
 * first, in batches, until none is left (a backlog after an outage is drained by one sweep, not 500 per sweep).
 */
export async function releaseStale(prisma: PrismaClient, olderThanMs: number): Promise<number> {
  const before = new Date(Date.now() - olderThanMs);
  let released = 0;
  for (;;) {
    const stale = await prisma.budgetReservation.findMany({
      where: { status: 'reserved', createdAt: { lt: before } },
      orderBy: { createdAt: 'asc' },
      select: { id: true },
      take: 500,
    });
    for (const { id } of stale) if (await close(prisma, id, null)) released += 1;
    if (stale.length < 500) return released;
  }
}

export interface PeriodUsage {
  period: string;
  limitMicros: bigint;
  spentMicros: bigint;
  reservedMicros: bigint;
  remainingMicros: bigint;
}

export async function usageOf(prisma: PrismaClient, orgId: string, defaults: BudgetDefaults, now = new Date()): Promise<{ limits: Limits; today: PeriodUsage; month: PeriodUsage }> {
  const limits = await limitsOf(prisma, orgId, defaults);
  const { day, month } = periods(now);
  const counters = await prisma.spendCounter.findMany({ where: { orgId, period: { in: [day, month] } } });
  const of = (period: string, limit: bigint): PeriodUsage => {
    const c = counters.find((x) => x.period === period);
    const spent = c?.spentMicros ?? 0n;
    const reserved = c?.reservedMicros ?? 0n;
    const remaining = limit - spent - reserved;
    return { period, limitMicros: limit, spentMicros: spent, reservedMicros: reserved, remainingMicros: remaining > 0n ? remaining : 0n };
  };
  return { limits, today: of(day, limits.dailyMicros), month: of(month, limits.monthlyMicros) };
}
