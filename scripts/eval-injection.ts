/**
 * `npm run eval:injection -- <dir> [--json]`: runs the detector over every data.jsonl below <dir> (format:
 * ../shared/eval/injection/README.md) the way production does: `direct` rows as user messages, `indirect` rows
 * as tool output. Prints, per subset, recall (label 1) or false-positive rate (label 0) with counts and a 95%
 * Wilson interval; as a table, or as one JSON object with --json.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DETECTOR_VERSION, detect } from '../cage/injection-detector';

interface Row {
  text: string;
  label: 0 | 1;
  kind: 'direct' | 'indirect';
  subset: string;
}

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) return files(p);
    return name === 'data.jsonl' ? [p] : [];
  });
}

/** Wilson score interval for a proportion, 95%. */
export function wilson(k: number, n: number): [number, number] {
  if (n === 0) return [0, 1];
  const z = 1.96;
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = p + (z * z) / (2 * n);
  const m = z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n));
  const r = (x: number) => Math.round(Math.max(0, Math.min(1, x)) * 10_000) / 10_000;
  return [r((c - m) / d), r((c + m) / d)];
}

function main(): void {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
  const dir = positionals[0];
  if (!dir) throw new Error('usage: npm run eval:injection -- <dir> [--json]');
  const groups = new Map<string, { dataset: string; subset: string; label: 0 | 1; n: number; flagged: number }>();
  for (const file of files(path.resolve(dir)).sort()) {
    const dataset = path.basename(path.dirname(file));
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const row = JSON.parse(line) as Row;
      const key = `${dataset}\t${row.subset}\t${row.label}`;
      const g = groups.get(key) ?? { dataset, subset: row.subset, label: row.label, n: 0, flagged: 0 };
      g.n += 1;
      if (detect(row.text, row.kind).verdict === 'injection') g.flagged += 1;
      groups.set(key, g);
    }
  }
  const subsets = [...groups.values()].map((g) => ({ ...g, rate: Math.round((g.flagged / g.n) * 10_000) / 10_000, ci95: wilson(g.flagged, g.n) }));
  if (values.json) {
    console.log(JSON.stringify({ detector: DETECTOR_VERSION, subsets }));
    return;
  }
  console.log(`detector ${DETECTOR_VERSION}`);
  console.log(['dataset', 'subset', 'measures', 'flagged/n', 'rate', '95% CI'].join('\t'));
  for (const s of subsets) {
    const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
    console.log([s.dataset, s.subset, s.label === 1 ? 'recall' : 'false positives', `${s.flagged}/${s.n}`, pct(s.rate), `${pct(s.ci95[0])}–${pct(s.ci95[1])}`].join('\t'));
  }
}

main();
