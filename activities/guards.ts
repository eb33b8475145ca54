/**
 * The guards of a turn, each failing closed: rate limits (Redis) and the budget (PostgreSQL, plus the hourly
 * spend ceiling in Redis). A store that errors is retried a few times within the activity, then the answer is no,
 * with a message a person understands and an audit event when the database can still take one. The message limits
 * count in Redis while the org's limits are read (the read decides, see makeCheckRateLimits); both must answer.
 */
import { MODEL_MESSAGE_KINDS, requestSizing, type CallModelInput } from './call-model';
import { formatUsd, worstCaseRates } from '../cage/pricing';
import { audit } from '../audit/log';
import { stepMessageId, Uuid } from '../common/ids';
import { UNKNOWN_SESSION_DENIAL } from '../common/session';
import { close, reserveModelCall } from '../lib/budget';
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

export function makeReserveBudget(deps: ActivityDeps) {
  return async function reserveBudget(input: CallModelInput): Promise<ReserveOutcome> {
    // The idempotency key: one reservation per model call of the workflow, whatever the retries.
    const id = `${input.sessionId}:${input.turnId}:${input.step}`;
    // Which store a failure below came from: the budget is in PostgreSQL, its hourly ceiling in Redis.
    let store: 'postgres' | 'redis' = 'postgres';
    try {
      // It writes the session's tool results and reads its transcript: only for the session's own workflow. The
      // statement below checks that (and answers `session: false`); ids that are not ids are refused before it.
      const workflowId = callingWorkflow();
      const booked =
        workflowId && Uuid.safeParse(input.sessionId).success && Uuid.safeParse(input.orgId).success
          ? await bounded(() =>
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
              }),
            )
          : ({ session: false } as const);
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
      // A retry finds its reservation already made: same amount, and the hourly window already holds it.
      if (booked.existing) return { ok: true, reservationId: id, amountMicros: amount };
      const hourly = { max: Number(booked.hourlyMicros), windowMs: Math.round(3_600_000 * deps.guards.rates.windowScale) };
      store = 'redis';
      const spend = await bounded(() => deps.limiter.add(`org:${input.orgId}:spend`, hourly, amount, id));
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

/** A model call that failed for good gives its reservation back. */
export function makeReleaseBudget(deps: ActivityDeps) {
  return async function releaseBudget(input: { orgId: string; reservationId: string }): Promise<void> {
    await close(deps.prisma, input.reservationId, null);
    await deps.limiter.adjust(`org:${input.orgId}:spend`, input.reservationId, null).catch(() => undefined);
  };
}
