/** Plans of the randomized cage runs: run i of a seed is the same plan whether drawn alone or among the first n. */
import fc from 'fast-check';
import { planAt, runPlanArbitrary } from './invariant-plan';

it('draws run i of a seed alone as the same plan as among the first n runs of that seed', () => {
  for (const seed of [1, 2, 987_654_321]) {
    const all = fc.sample(runPlanArbitrary(12), { seed, numRuns: 30 });
    expect(all.map((_, i) => planAt(seed, i, 12))).toEqual(all);
  }
});
