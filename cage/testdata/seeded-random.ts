/**
 * A seeded integer source (mulberry32) with randexp's `randInt(min, max)` shape, for tests that generate strings
 * from the rules' own expressions: the same seed gives the same strings on every run.
 */
export function seeded(seed: number): (min: number, max: number) => number {
  let a = seed;
  return (min: number, max: number) => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return min + Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * (max - min + 1));
  };
}
