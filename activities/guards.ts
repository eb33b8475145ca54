/**
 * The guards of a turn, each failing closed: rate limits (Redis) and the budget (PostgreSQL, plus the hourly
 * spend ceiling in Redis). A store that errors is retried a few times within the activity, then the answer is no,
 * with a message a person understands and an audit event when the database can still take one. The message limits
 * count in Redis while the org's limits are read (the read decides, see makeCheckRateLimits); both must answer.
 */
import { MODEL_MESSAGE_KINDS, requestSizing, type CallModelInput } from './call-model';
import { formatUsd, worstCaseRates } from '../cage/pricing';
import { audit } from '../audit/log';
import { admittedReservationId, stepMessageId, stepReservationId, Uuid } from '../common/ids';
import { UNKNOWN_SESSION_DENIAL } from '../common/session';
import { close, limitsOf, reserveModelCall } from '../lib/budget';
import type { ActivityDeps } from './deps';
import { auditSessionRefusal, callingWorkflow } from './session-identity';
import { messageWindows, readOrgRateLimits } from '../lib/org-rate-limits';
import { eventMember, type InOrderResult } from '../lib/rate-limiter';

export const RATE_UNAVAILABLE = 'rate limit service unavailable, nothing was run';
export const BUDGET_UNAVAILABLE = 'budget service unavailable, nothing was run';

export type GuardResult = { ok: true } | { ok: false; reason: string };

/** A few quick attempts, then give up: never an unbounded wait. */
export async function bounded<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 100 * i));
    }
  }
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

async function tryAudit(deps: ActivityDeps, entry: Parameters<typeof audit>[1]): Promise<void> {
  await audit(deps.prisma, entry).catch((err: unknown) => deps.logger.warn({ err: (err as Error).message, action: entry.action }, 'audit event could not be written'));
}

type MessageWindows = ReturnType<typeof messageWindows>;

const sameWindows = (a: MessageWindows, b: MessageWindows) =>
  a.userMessages.max === b.userMessages.max && a.userMessages.windowMs === b.userMessages.windowMs && a.orgMessages.max === b.orgMessages.max && a.orgMessages.windowMs === b.orgMessages.windowMs;

export function makeCheckRateLimits(deps: ActivityDeps) {
  // The message windows this worker last read for each org. The next message of the org is counted against them while
  // its own read runs (two round trips at once instead of one after the other); the read decides: when it gives other
  // windows (an admin changed the limits, or the first message of the org here), the event is taken back out and
  // counted again against the windows just read. So a limit lowered is a limit from the next message on, as before.
  const lastRead = new Map<string, MessageWindows>();
  return async function checkRateLimits(input: { orgId: string; userId: string; sessionId: string }): Promise<GuardResult> {
    try {
      const keys = [`user:${input.userId}:messages`, `org:${input.orgId}:messages`] as const;
      // Both message windows in one script (one round trip), the user's first: a user at their limit counts
      // nothing against the org, as when these were two checks. One name for the event across retries.
      const count = (w: MessageWindows, member = eventMember()) =>
        bounded(() =>
          deps.limiter.hitInOrder(
            [
              { key: keys[0], window: w.userMessages },
              { key: keys[1], window: w.orgMessages },
            ],
            member,
          ),
        );
      // The org's own limits (set by its admins), read each time.
      const read = async () => {
        const org = await bounded(() => readOrgRateLimits(deps.pool, input.orgId));
        if (!org) throw new Error('organization not found');
        return messageWindows(deps.guards.rates, org);
      };
      const guess = lastRead.get(input.orgId);
      let windows: MessageWindows;
      let hit: InOrderResult;
      if (!guess) {
        windows = await read();
        hit = await count(windows);
      } else {
        const member = eventMember();
        // Both answers before anything is decided: either failing is a refusal, with the event taken back.
        const [current, early] = await Promise.allSettled([read(), count(guess, member)]);
        if (current.status === 'rejected' || early.status === 'rejected') {
          await deps.limiter.forget([...keys], member).catch(() => undefined);
          throw current.status === 'rejected' ? current.reason : (early as PromiseRejectedResult).reason;
        }
        windows = current.value;
        if (sameWindows(windows, guess)) hit = early.value;
        else {
          await deps.limiter.forget([...keys], member);
          hit = await count(windows);
        }
      }
      if (lastRead.size > 10_000) lastRead.clear();
      lastRead.set(input.orgId, windows);
      const { userMessages, orgMessages } = windows;
      const refusal =
        hit.refusedAt === null
          ? null
          : hit.refusedAt === 0
            ? `rate limit: at most ${userMessages.max} messages per ${seconds(userMessages.windowMs)}s for each user; try again in ${seconds(hit.retryAfterMs)}s. Nothing was run.`
            : `rate limit: this organization sent ${orgMessages.max} messages in the last ${seconds(orgMessages.windowMs)}s; try again in ${seconds(hit.retryAfterMs)}s. Nothing was run.`;
      if (!refusal) return { ok: true };
      deps.metrics.rateLimitRefusals.inc({ limit: hit.refusedAt === 0 ? 'user_messages' : 'org_messages' });
      await tryAudit(deps, { orgId: input.orgId, actorType: 'user', actorId: input.userId, action: 'ratelimit.denied', target: input.sessionId, sessionId: input.sessionId, data: { reason: refusal } });
      return { ok: false, reason: refusal };
    } catch (err) {
      deps.logger.error({ err: (err as Error).message }, 'rate limit store unavailable; denying');
      deps.metrics.failClosed.inc({ store: 'redis', check: 'rate_limits' });
      await tryAudit(deps, { orgId: input.orgId, actorType: 'system', action: 'ratelimit.unavailable', target: input.sessionId, sessionId: input.sessionId, data: { error: String(err).slice(0, 300) } });
      return { ok: false, reason: RATE_UNAVAILABLE };
    }
  };
}

export type ReserveOutcome = { ok: true; reservationId: string; amountMicros: number } | { ok: false; reason: string };

/**
 * The reservation statement of a model call (lib/budget.ts reserveModelCall) for the calling workflow's session:
 * `{ session: false }` when the ids are not ids or there is no calling workflow, without a round trip.
 */
function reserveCall(deps: ActivityDeps, id: string, input: CallModelInput, pendingText?: string) {
  // It writes the session's tool results and reads its transcript: only for the session's own workflow. The
  // statement checks that (and answers `session: false`); ids that are not ids are refused before it.
  const workflowId = callingWorkflow();
  if (!workflowId || !Uuid.safeParse(input.sessionId).success || !Uuid.safeParse(input.orgId).success) return Promise.resolve({ session: false } as const);
  return bounded(() =>
    reserveModelCall(deps, {
      id,
      orgId: input.orgId,
      sessionId: input.sessionId,
      workflowId,
      turnId: input.turnId,
      resultsMessageId: stepMessageId(input.sessionId, input.turnId, input.step - 1, 'tool_results'),
      toolResults: input.toolResults,
      kinds: MODEL_MESSAGE_KINDS,
      sizing: { ...requestSizing(), ...worstCaseRates(deps.model.name, deps.model.maxTokens) },
      model: deps.model.name,
      defaults: deps.guards.budget,
      ...(pendingText === undefined ? {} : { pendingText }),
    }),
  );
}

const spendKey = (orgId: string) => `org:${orgId}:spend`;
const hourlyWindow = (deps: ActivityDeps, max: bigint | undefined) => ({ max: Number(max), windowMs: Math.round(3_600_000 * deps.guards.rates.windowScale) });

export function makeReserveBudget(deps: ActivityDeps) {
  return async function reserveBudget(input: CallModelInput): Promise<ReserveOutcome> {
    // The idempotency key: one reservation per model call of the workflow, whatever the retries.
    const id = stepReservationId(input.sessionId, input.turnId, input.step);
    // Which store a failure below came from: the budget is in PostgreSQL, its hourly ceiling in Redis.
    let store: 'postgres' | 'redis' = 'postgres';
    try {
      const booked = await reserveCall(deps, id, input);
      if (!booked.session) {
        const refusal = { rule: 'session_identity' as const, reason: UNKNOWN_SESSION_DENIAL };
        await auditSessionRefusal(deps.prisma, input, refusal, { activity: 'reserveBudget' }).catch(() => undefined);
        return { ok: false, reason: refusal.reason };
      }
      if (!booked.ok) {
        const amount = Number(booked.amountMicros);
        const reason = `budget exhausted: ${booked.orgName} has used ${formatUsd(booked.spentMicros)} of its ${booked.exhausted === 'day' ? 'daily' : 'monthly'} budget of ${formatUsd(booked.limitMicros)}, and the next model call could cost up to ${formatUsd(amount)}; nothing was run`;
        await tryAudit(deps, { orgId: input.orgId, actorType: 'system', action: 'budget.denied', target: input.sessionId, sessionId: input.sessionId, data: { period: booked.exhausted, amountMicros: amount } });
        return { ok: false, reason };
      }
      const amount = Number(booked.amountMicros);
      // A retry finds its reservation already made (or settled): same amount, and the hourly window already holds
      // it. One given back (an attempt that failed after making it) is no reservation: refused as the failure it was.
      if (booked.existing) {
        if ((await statusOf(deps, id)) === 'released') throw new Error('the reservation under this key was given back');
        return { ok: true, reservationId: id, amountMicros: amount };
      }
      const hourly = hourlyWindow(deps, booked.hourlyMicros);
      store = 'redis';
      const spend = await bounded(() => deps.limiter.add(spendKey(input.orgId), hourly, amount, id));
      store = 'postgres';
      if (!spend.allowed) {
        deps.metrics.rateLimitRefusals.inc({ limit: 'org_spend' });
        await close(deps.prisma, id, null);
        const reason = `budget: this organization's spend in the last hour is at its ceiling of ${formatUsd(hourly.max)}; try again later. Nothing was run.`;
        await tryAudit(deps, { orgId: input.orgId, actorType: 'system', action: 'budget.hourly_ceiling', target: input.sessionId, sessionId: input.sessionId, data: { amountMicros: amount } });
        return { ok: false, reason };
      }
      return { ok: true, reservationId: id, amountMicros: amount };
    } catch (err) {
      deps.logger.error({ err: (err as Error).message, store }, 'budget store unavailable; denying');
      deps.metrics.failClosed.inc({ store, check: 'budget' });
      await close(deps.prisma, id, null).catch(() => undefined);
      await tryAudit(deps, { orgId: input.orgId, actorType: 'system', action: 'budget.unavailable', target: input.sessionId, sessionId: input.sessionId, data: { error: String(err).slice(0, 300) } });
      return { ok: false, reason: BUDGET_UNAVAILABLE };
    }
  };
}

/** The key of a turn's first model call when it is booked with the message's admission (never a step's key). */
export { admittedReservationId };

export type Booking = { reservationId: string; amountMicros: number };

/**
 * The turn's first model call booked while its message is admitted, at the same time as the message limits
 * (activities/admit-user-message.ts, `Patch.BookWithAdmission`): the same statement and the same checks as
 * reserveBudget's (the session, the day and month budgets of the policy in force, then the hourly ceiling), the
 * message sized from its text since it is not stored yet. It decides nothing alone: a booking that passes every
 * check is the first call's reservation (the workflow passes it to the call, which settles it); anything else (a
 * budget or the hourly ceiling refusing, a store failing) leaves nothing held under its key and answers null, and the
 * first call's own reserveBudget then decides, refuses and audits as it always has. The key is not a step's key, so
 * a booking given back is never found as that step's reservation. Never throws.
 */
export function makeBookFirstCall(deps: ActivityDeps) {
  return async function bookFirstCall(input: { sessionId: string; orgId: string; turnId: string; text: string }): Promise<Booking | null> {
    const id = admittedReservationId(input.sessionId, input.turnId);
    const call: CallModelInput = { sessionId: input.sessionId, orgId: input.orgId, turnId: input.turnId, step: 0, toolResults: [] };
    try {
      const booked = await reserveCall(deps, id, call, input.text);
      if (!booked.session || !booked.ok) return null;
      const amount = Number(booked.amountMicros);
      // A retry of the admission finds its booking: used only while it is held, and counted in the hourly window
      // again below (the same entry, replaced: in case the attempt before stopped between the two).
      if (booked.existing && (await statusOf(deps, id)) !== 'reserved') return null;
      const hourlyMax = booked.existing ? (await limitsOf(deps.prisma, input.orgId, deps.guards.budget)).hourlyMicros : booked.hourlyMicros;
      const spend = await bounded(() => deps.limiter.add(spendKey(input.orgId), hourlyWindow(deps, hourlyMax), amount, id));
      if (spend.allowed) return { reservationId: id, amountMicros: amount };
      await releaseBooking(deps, input.orgId, id);
      return null;
    } catch (err) {
      deps.logger.warn({ err: (err as Error).message }, 'the first model call could not be booked with the message; its own reservation decides');
      await releaseBooking(deps, input.orgId, id);
      return null;
    }
  };
}

/** A reservation's status: reserved (held), settled or released. */
async function statusOf(deps: ActivityDeps, id: string): Promise<string | undefined> {
  return (await deps.prisma.budgetReservation.findUnique({ where: { id }, select: { status: true } }))?.status;
}

/** Gives a booking back: its reservation and its share of the hourly window. Never throws (the stale sweep is last). */
export async function releaseBooking(deps: ActivityDeps, orgId: string, id: string): Promise<void> {
  await close(deps.prisma, id, null).catch((err: unknown) => deps.logger.warn({ err: (err as Error).message, id }, 'a booking could not be given back; the stale sweep will'));
  await deps.limiter.adjust(spendKey(orgId), id, null).catch(() => undefined);
}

/** A model call that failed for good gives its reservation back. */
export function makeReleaseBudget(deps: ActivityDeps) {
  return async function releaseBudget(input: { orgId: string; reservationId: string }): Promise<void> {
    await close(deps.prisma, input.reservationId, null);
    await deps.limiter.adjust(`org:${input.orgId}:spend`, input.reservationId, null).catch(() => undefined);
  };
}
