/**
 * The cage's invariants over randomized runs of the whole system with a hostile model (see test/invariants.ts for
 * the invariants, test/invariant-plan.ts for what a run does). A bounded number of short runs here; the long
 * version is `npm run bench -- invariants --runs N`. A failure prints the fast-check seed and path (replay it with
 * TEST_INVARIANTS_SEED) and every violation found.
 */
import crypto from 'node:crypto';
import fc from 'fast-check';
import { executeRun, startCage, stopCage, type Cage } from './invariant-run';
import { runPlanArbitrary } from './invariant-plan';
import { checkInvariants, describeViolations, type Violation } from './invariants';

// Sized for about a minute of runs on a 2-core machine; the bench runs as many as asked.
const RUNS = 5;
const MAX_ACTIONS = 8;

let cage: Cage;

beforeAll(async () => {
  cage = await startCage({ simulated: 4 });
}, 180_000);

afterAll(async () => {
  await stopCage(cage);
});

it('keeps every promise of the cage over randomized runs with a hostile model, random people, channels, pauses and restarts', async () => {
  const seed = cage.sys.env.TEST_INVARIANTS_SEED ?? crypto.randomInt(2 ** 31);
  const found: Violation[] = [];
  const outcome = await fc.check(
    fc.asyncProperty(runPlanArbitrary(MAX_ACTIONS), async (plan) => {
      const violations = await checkInvariants(cage.sys.prisma, await executeRun(cage, plan));
      found.push(...violations);
      return violations.length === 0;
    }),
    // No shrinking: each run boots nothing but still takes seconds; the seed and path replay the failing run.
    { seed, numRuns: RUNS, endOnFailure: true },
  );
  if (outcome.failed) console.error(`invariants run failed: seed ${outcome.seed}, path "${outcome.counterexamplePath}" (rerun with TEST_INVARIANTS_SEED=${outcome.seed})`);
  // The violations, one line each, as the failure message.
  expect(describeViolations(found)).toBe('');
  // A run that crashed without breaking an invariant still fails, with the driver's own error.
  if (outcome.failed) throw outcome.errorInstance;
}, 600_000);
