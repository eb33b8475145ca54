/**
 * bench/invariants: the randomized end-to-end check of the cage's invariants (test/invariants.ts), run for as long
 * as asked. One system (Temporal, PostgreSQL, Redis, api, worker, six simulated agents, the hostile model, Slack
 * and SMTP at the wire) serves every run; each run is a plan of up to 12 random actions drawn from the seed, then
 * the checks. One JSON line per run (its actions, its violations by invariant, the first few in words), and a
 * summary: runs, runs per minute and violations by invariant (goal: none in a 30-minute run).
 *   npm run bench -- invariants [--runs N] [--seed S]
 * The same seed draws the same plans; run i of a seed is replayed with the same seed and --runs i+1.
 */
import crypto from 'node:crypto';
import fc from 'fast-check';
import { executeRun, startCage, stopCage } from '../test/invariant-run';
import { runPlanArbitrary } from '../test/invariant-plan';
import { checkInvariants, countByInvariant, INVARIANTS, type InvariantName } from '../test/invariants';
import { emit } from './stats';

const MAX_ACTIONS = 12;

export async function runInvariantsBench(opts: { runs?: number; seed?: number }): Promise<void> {
  const runs = opts.runs ?? 20;
  const seed = opts.seed ?? crypto.randomInt(2 ** 31);
  const plans = fc.sample(runPlanArbitrary(MAX_ACTIONS), { seed, numRuns: runs });
  const cage = await startCage({ simulated: 6 });
  const totals = Object.fromEntries(INVARIANTS.map((i) => [i, 0])) as Record<InvariantName, number>;
  let failingRuns = 0;
  const t0 = Date.now();
  try {
    emit({ bench: 'invariants', phase: 'start', seed, runs, maxActions: MAX_ACTIONS });
    for (const [i, plan] of plans.entries()) {
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
      const counts = countByInvariant(violations);
      for (const name of INVARIANTS) totals[name] += counts[name];
      if (violations.length) failingRuns += 1;
      const actions: Record<string, number> = {};
      for (const a of plan.actions) actions[a.type] = (actions[a.type] ?? 0) + 1;
      emit({
        bench: 'invariants',
        run: i,
        seed,
        ms: Date.now() - started,
        actions,
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
  emit({
    bench: 'invariants',
    summary: true,
    seed,
    runs,
    minutes: Math.round(minutes * 100) / 100,
    runsPerMinute: Math.round((runs / Math.max(minutes, 1e-6)) * 100) / 100,
    runsWithViolations: failingRuns,
    violations: totals,
    totalViolations: Object.values(totals).reduce((a, b) => a + b, 0),
  });
}
