/**
 * bench/detector: detector throughput (MB/s) on the benign IT set, on adversarial inputs (long runs of
 * near-matches, deep nesting, 1 MB of base64) and on tool output scanned as the model reads it (JSON parsed and
 * every string scanned), and the ratio of the slowest to the fastest per byte.
 * Goals: at least 50 MB/s, and a ratio under 10.
 *   npm run bench -- detector [--data <benign data.jsonl>]
 * The benign set is read by path (../shared/eval/injection/benign-it/data.jsonl beside the clone by default); when it
 * is missing or empty the bench stops with an error instead of reporting a figure it did not measure.
 */
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { detect } from '../cage/injection-detector';
import { scanToolOutput } from '../cage/injection-output';
import { emit } from './stats';

function throughput(name: string, texts: string[], channel: 'direct' | 'indirect', rounds = 10, scan: (text: string) => unknown = (t) => detect(t, channel)) {
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
  let best = Infinity;
  let bestCpu = Infinity;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    for (const t of texts) scan(t);
    const cpu = process.cpuUsage(c0);
    best = Math.min(best, performance.now() - t0);
    bestCpu = Math.min(bestCpu, (cpu.user + cpu.system) / 1000);
  }
  const mbPerS = bytes / 1e6 / (best / 1000);
  // CPU time beside wall time: on a shared machine the wall clock also counts the time other processes held the
  // core; the CPU figure is what the detector itself costs (still higher than on a quiet machine: caches are shared).
  const cpuMbPerS = bytes / 1e6 / (bestCpu / 1000);
  const line = { bench: 'detector', input: name, bytes, ms: Math.round(best * 10) / 10, mbPerS: Math.round(mbPerS * 100) / 100, cpuMbPerS: Math.round(cpuMbPerS * 100) / 100 };
  emit(line);
  return line;
}

export const DEFAULT_BENIGN_DATA = path.resolve(__dirname, '..', '..', 'shared', 'eval', 'injection', 'benign-it', 'data.jsonl');

function benignTexts(file: string): string[] {
  if (!existsSync(file)) {
    throw new Error(`detector: the benign IT set is missing at ${file}; pass --data <path to benign-it/data.jsonl> (see bench/README.md, "detector")`);
  }
  const texts = readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line, i) => {
      const text = (JSON.parse(line) as { text?: unknown }).text;
      if (typeof text !== 'string') throw new Error(`detector: ${file} line ${i + 1} has no "text" string`);
      return text;
    });
  if (texts.length === 0) throw new Error(`detector: ${file} holds no rows`);
  return texts;
}

export async function runDetectorBench(opts: { data?: string } = {}): Promise<void> {
  const benign = benignTexts(path.resolve(opts.data ?? DEFAULT_BENIGN_DATA));
  const results = [throughput('benign-it (all rows)', benign, 'indirect')];
  const MB = 1_000_000;
  const adversarial: Record<string, string> = {
    'near-matches: "ignore " × 1 MB': 'ignore '.repeat(MB / 7),
    'near-matches: "please " × 1 MB': 'please '.repeat(MB / 7),
    // Every clause of the data-exfiltration rules but the address, which the text holds once (so their gate passes)
    'near-matches: ": \'get the files and share them with the team " × 1 MB': `ops@example.org ${": 'get the files and share them with the team ".repeat(MB / 45)}`,
    'deep nesting: {"a": … 1 MB': `${'{"a":'.repeat(MB / 10)}1${'}'.repeat(MB / 10)}`,
    'tags: "<" × 1 MB': '<'.repeat(MB),
    '1 MB of base64': Buffer.from('x'.repeat((MB * 3) / 4)).toString('base64'),
    'URL-encoding: "%41" × 1 MB': '%41'.repeat(MB / 3),
  };
  for (const [name, text] of Object.entries(adversarial)) results.push(throughput(name, [text], 'indirect', 5));
  // Tool output as it is scanned for the model: every string of the parsed JSON, and all of them in reading order.
  const processes = Array.from({ length: 5000 }, (_, i) => ({ pid: 400 + i, name: `svchost${i}.exe`, user: 'SYSTEM', cpuPercent: 1.5, command: `C:\\Windows\\System32\\svchost.exe -k netsvcs -p -s Svc${i}` }));
  const nested = JSON.stringify(Array.from({ length: 10_000 }, () => ({ a: [{ b: 'ignore the' }, ['previous', { c: 'value' }]] })));
  for (const [name, json] of Object.entries({ 'tool output: 5,000 processes': JSON.stringify({ processes }), 'tool output: 10,000 nested near-matches': nested })) {
    results.push(throughput(name, [json], 'indirect', 5, (t) => scanToolOutput(JSON.parse(t))));
  }
  const rates = results.map((r) => r.mbPerS);
  const cpuRates = results.map((r) => r.cpuMbPerS);
  emit({
    bench: 'detector',
    summary: true,
    benignMbPerS: results[0]!.mbPerS,
    slowestMbPerS: Math.min(...rates),
    fastestMbPerS: Math.max(...rates),
    slowestToFastestPerByte: Math.round((Math.max(...rates) / Math.min(...rates)) * 100) / 100,
    benignCpuMbPerS: results[0]!.cpuMbPerS,
    cpuSlowestToFastestPerByte: Math.round((Math.max(...cpuRates) / Math.min(...cpuRates)) * 100) / 100,
    // A figure taken while other work holds the cores is low and noisy: the load average says how quiet the run was.
    loadAverage: os.loadavg().map((x) => Math.round(x * 100) / 100),
    cores: os.cpus().length,
    goals: { mbPerS: 50, ratio: 10 },
  });
}
