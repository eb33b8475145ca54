/**
 * bench/detector: detector throughput (MB/s) on the benign IT set and on adversarial inputs (long runs of
 * near-matches, deep nesting, 1 MB of base64), and the ratio of the slowest to the fastest per byte.
 * Goals: at least 50 MB/s, and a ratio under 10.
 *   npm run bench -- detector
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { detect } from '../cage/injection-detector';
import { emit } from './stats';

function throughput(name: string, texts: string[], channel: 'direct' | 'indirect', rounds = 10) {
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
  let best = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (const t of texts) detect(t, channel);
    best = Math.min(best, performance.now() - t0);
  }
  const mbPerS = bytes / 1e6 / (best / 1000);
  const line = { bench: 'detector', input: name, bytes, ms: Math.round(best * 10) / 10, mbPerS: Math.round(mbPerS * 100) / 100 };
  emit(line);
  return line;
}

export async function runDetectorBench(): Promise<void> {
  const file = path.resolve(__dirname, '..', '..', 'shared', 'eval', 'injection', 'benign-it', 'data.jsonl');
  const benign = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l).text as string) : [];
  const results = [];
  if (benign.length) results.push(throughput('benign-it (all rows)', benign, 'indirect'));
  const MB = 1_000_000;
  const adversarial: Record<string, string> = {
    'near-matches: "ignore " × 1 MB': 'ignore '.repeat(MB / 7),
    'near-matches: "please " × 1 MB': 'please '.repeat(MB / 7),
    'deep nesting: {"a": … 1 MB': `${'{"a":'.repeat(MB / 10)}1${'}'.repeat(MB / 10)}`,
    'tags: "<" × 1 MB': '<'.repeat(MB),
    '1 MB of base64': Buffer.from('x'.repeat((MB * 3) / 4)).toString('base64'),
    'URL-encoding: "%41" × 1 MB': '%41'.repeat(MB / 3),
  };
  for (const [name, text] of Object.entries(adversarial)) results.push(throughput(name, [text], 'indirect', 5));
  const rates = results.map((r) => r.mbPerS);
  emit({
    bench: 'detector',
    summary: true,
    benignMbPerS: results[0]?.mbPerS ?? null,
    slowestMbPerS: Math.min(...rates),
    fastestMbPerS: Math.max(...rates),
    slowestToFastestPerByte: Math.round((Math.max(...rates) / Math.min(...rates)) * 100) / 100,
    goals: { mbPerS: 50, ratio: 10 },
  });
}
