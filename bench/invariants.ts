/**
 * bench/invariants: the randomized end-to-end check of the cage's invariants (test/invariants.ts), run for as long
 * as asked. One system (Temporal, PostgreSQL, Redis, api, worker, six simulated agents at one site and one at
 * another, the hostile model, Slack and SMTP at the wire) serves every run; each run is a plan of up to 12 random
 * actions drawn from the seed, then the checks. One JSON line per run (its actions, how long it took and where, its
 * violations by invariant, the first few in words), and a summary: runs, runs per minute, violations by invariant,
 * the failing runs, p50 and max run time (goal: no violation in a 30-minute run).
 *   npm run bench -- invariants [--runs N] [--minutes M] [--seed S]
 * --runs N stops after N runs (20 when neither bound is given); --minutes M starts no run after M minutes (the run
 * in progress finishes); with both, the first bound reached. Plans are drawn one at a time from the seed, so run i
 * of seed S is the same plan however the bench is bounded: replay it alone with the same --seed and --runs i+1.
 */
import crypto from 'node:crypto';
import { executeRun, startCage, stopCage } from '../test/invariant-run';
import { planAt } from '../test/invariant-plan';
import { checkInvariants, countByInvariant, INVARIANTS, type InvariantName } from '../test/invariants';
import { emit, percentile } from './stats';

const MAX_ACTIONS = 12;

export async function runInvariantsBench(opts: { runs?: number; minutes?: number; seed?: number }): Promise<void> {
  const whole = (n: number | undefined) => n === undefined || (Number.isInteger(n) && n >= 0);
  if (!whole(opts.runs) || !whole(opts.seed)) throw new Error('--runs and --seed take whole numbers of 0 or more');
  if (opts.minutes !== undefined && !(opts.minutes > 0)) throw new Error('--minutes takes a number of minutes above 0');
  const runs = opts.runs ?? (opts.minutes === undefined ? 20 : Infinity);
  const seed = opts.seed ?? crypto.randomInt(2 ** 31);
  const cage = await startCage({ simulated: 6 });
  const totals = Object.fromEntries(INVARIANTS.map((i) => [i, 0])) as Record<InvariantName, number>;
  const failingRuns: number[] = [];
  const runMs: number[] = [];
  const t0 = Date.now();
  const timeLeft = () => opts.minutes === undefined || Date.now() - t0 < opts.minutes * 60_000;
  try {
    emit({ bench: 'invariants', phase: 'start', seed, ...(opts.runs !== undefined || opts.minutes === undefined ? { runs } : {}), ...(opts.minutes !== undefined ? { minutes: opts.minutes } : {}), maxActions: MAX_ACTIONS });
    for (let i = 0; i < runs && timeLeft(); i++) {
      const plan = planAt(seed, i, MAX_ACTIONS);
      const started = Date.now();
      const record = await executeRun(cage, plan);
      const violations = await checkInvariants(cage.sys.prisma, record);
      const sessionId = { in: record.sessionIds };
      // What the run exercised: approvals by outcome, tool calls by status, commands that reached a device.
      const [approvals, tools, commands] = await Promise.all([
        cage.sys.prisma.approval.groupBy({ by: ['status'], where: { sessionId }, _count: true }),
        cage.sys.prisma.toolInvocation.groupBy({ by: ['status'], where: { sessionId }, _count: true }),
        cage.sys.prisma.deviceCommand.count({ where: { OR: record.sessionIds.map((id) => ({ id: { startsWith: `${id}:` } })), startedAt: { not: null } } }),
      ]);
      const ms = Date.now() - started;
      runMs.push(ms);
      const counts = countByInvariant(violations);
      for (const name of INVARIANTS) totals[name] += counts[name];
      if (violations.length) failingRuns.push(i);
      const actions: Record<string, number> = {};
      for (const a of plan.actions) actions[a.type] = (actions[a.type] ?? 0) + 1;
      // The slowest action (its place in the plan and its type) and the end of the run: where a slow run waited.
      const slowest = record.actionMs.reduce((best, t, at) => (t > record.actionMs[best]! ? at : best), 0);
      emit({
        bench: 'invariants',
        run: i,
        seed,
        ms,
        actions,
        ...(record.actionMs.length ? { slowestAction: { at: slowest, type: plan.actions[slowest]!.type, ms: record.actionMs[slowest] } } : {}),
        finishMs: record.finishMs,
        approvals: Object.fromEntries(approvals.map((a) => [a.status, a._count])),
        tools: Object.fromEntries(tools.map((t) => [t.status, t._count])),
        commandsStarted: commands,
        violations: Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 0)),
        // The first two of each invariant, in words.
        examples: INVARIANTS.flatMap((name) => violations.filter((v) => v.invariant === name).slice(0, 2)).map((v) => `[${v.invariant}] ${v.detail}`),
      });
    }
  } finally {
    await stopCage(cage);
  }
  const minutes = (Date.now() - t0) / 60_000;
  const round = (n: number) => Math.round(n * 100) / 100;
  emit({
    bench: 'invariants',
    summary: true,
    seed,
    runs: runMs.length,
    minutes: round(minutes),
    runsPerMinute: round(runMs.length / Math.max(minutes, 1e-6)),
    runsWithViolations: failingRuns.length,
    // Each replays alone with the same --seed and --runs i+1.
    failingRuns,
    violations: totals,
    totalViolations: Object.values(totals).reduce((a, b) => a + b, 0),
    runMs: { p50: percentile(runMs, 50), max: runMs.length ? Math.max(...runMs) : NaN },
  });
}
