/**
 * Per-org budgets in PostgreSQL: reserve the worst case before a model call, settle with the real cost after, or
 * release. Each reservation is one transaction of conditional updates on the org's day and month counters
 * (`spent + reserved + amount <= limit`); concurrent reservations queue on the counter rows, so sessions of one
 * org together can never pass the budget. Reservations are keyed by an idempotency key: a retry reserves,
 * settles and releases once. The ceilings are the org's policy in force (its `budget`, or the deployment's
 * defaults when null): one read path, and a policy that cannot be read throws, so the guard denies (fail closed).
 */
import type { Prisma, PrismaClient } from '@prisma/client';
import { currentPolicy } from './policy-store';

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
  | { ok: true; amountMicros: bigint; /** An earlier attempt already reserved under this key. */ existing: boolean; limits?: Limits }
  | { ok: false; exhausted: 'day' | 'month'; spentMicros: bigint; limitMicros: bigint };

class Exhausted extends Error {
  constructor(readonly result: Extract<ReserveResult, { ok: false }>) {
    super('budget exhausted');
  }
}

export async function reserve(
  prisma: PrismaClient,
  r: { id: string; orgId: string; sessionId?: string; model: string; amountMicros: number; defaults: BudgetDefaults; now?: Date },
): Promise<ReserveResult> {
  const { day, month } = periods(r.now ?? new Date());
  const amount = BigInt(r.amountMicros);
  try {
    return await prisma.$transaction(async (tx) => {
      // Claim the key first: a retry finds its reservation and changes nothing.
      const claimed = await tx.$queryRaw<{ id: string }[]>`
        INSERT INTO "BudgetReservation" ("id", "orgId", "sessionId", "model", "amountMicros", "status", "day", "month")
        VALUES (${r.id}, ${r.orgId}::uuid, ${r.sessionId ?? null}::uuid, ${r.model}, ${amount}, 'reserved', ${day}, ${month})
        ON CONFLICT ("id") DO NOTHING RETURNING "id"`;
      if (claimed.length === 0) {
        const existing = await tx.budgetReservation.findUniqueOrThrow({ where: { id: r.id } });
        return { ok: true as const, amountMicros: existing.amountMicros, existing: true };
      }
      const limits = await limitsOf(tx, r.orgId, r.defaults);
      await tx.$executeRaw`INSERT INTO "SpendCounter" ("orgId", "period") VALUES (${r.orgId}::uuid, ${day}), (${r.orgId}::uuid, ${month}) ON CONFLICT DO NOTHING`;
      // One conditional update per counter, always the day first and then the month (the order close() uses too):
      // a fixed lock order means concurrent reservations queue instead of deadlocking. Each condition is checked
      // after its row lock, so none can pass the limit.
      for (const [period, limit, kind] of [[day, limits.dailyMicros, 'day'], [month, limits.monthlyMicros, 'month']] as const) {
        const claimed = await tx.$executeRaw`
          UPDATE "SpendCounter" SET "reservedMicros" = "reservedMicros" + ${amount}
          WHERE "orgId" = ${r.orgId}::uuid AND "period" = ${period} AND "spentMicros" + "reservedMicros" + ${amount} <= ${limit}`;
        if (claimed !== 1) {
          // Rolled back with the throw: the reservation row and any counter already claimed go with it.
          const c = await tx.spendCounter.findUniqueOrThrow({ where: { orgId_period: { orgId: r.orgId, period } } });
          throw new Exhausted({ ok: false, exhausted: kind, spentMicros: c.spentMicros + c.reservedMicros, limitMicros: limit });
        }
      }
      return { ok: true as const, amountMicros: amount, existing: false, limits };
    });
  } catch (err) {
    if (err instanceof Exhausted) return err.result;
    throw err;
  }
}

/** Closes a reservation: settled at `actualMicros`, or released (null). Returns false if it was already closed. */
export async function close(prisma: PrismaClient, id: string, actualMicros: number | null): Promise<boolean> {
  return prisma.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<{ orgId: string; amountMicros: bigint; day: string; month: string; status: string }[]>`
      SELECT "orgId", "amountMicros", "day", "month", "status" FROM "BudgetReservation" WHERE "id" = ${id} AND "status" IN ('reserved', 'released') FOR UPDATE`;
    const row = rows[0];
    if (!row) return false;
    // A call that succeeds after the sweep gave its reservation up as stale (the model was slow, retries ran long)
    // still spent the money: it is booked, only the reservation is not taken back twice.
    if (row.status === 'released' && actualMicros === null) return false;
    const unreserve = row.status === 'reserved' ? row.amountMicros : 0n;
    const spent = BigInt(actualMicros ?? 0);
    for (const period of [row.day, row.month]) {
      await tx.$executeRaw`
        UPDATE "SpendCounter" SET "reservedMicros" = "reservedMicros" - ${unreserve}, "spentMicros" = "spentMicros" + ${spent}
        WHERE "orgId" = ${row.orgId}::uuid AND "period" = ${period}`;
    }
    await tx.budgetReservation.update({
      where: { id },
      data: { status: actualMicros === null ? 'released' : 'settled', actualMicros: actualMicros === null ? null : spent, closedAt: new Date() },
    });
    return true;
  });
}

/** Reservations left open by a call that never finished (a crashed worker) are released after `olderThanMs`. */
export async function releaseStale(prisma: PrismaClient, olderThanMs: number): Promise<number> {
  const stale = await prisma.budgetReservation.findMany({
    where: { status: 'reserved', createdAt: { lt: new Date(Date.now() - olderThanMs) } },
    select: { id: true },
    take: 500,
  });
  let released = 0;
  for (const { id } of stale) if (await close(prisma, id, null)) released += 1;
  return released;
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
