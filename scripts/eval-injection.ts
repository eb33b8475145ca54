/**
 * `npm run eval:injection -- <dir> [--json]`: runs the detector over every data.jsonl below <dir> (format:
 * ../shared/eval/injection/README.md) the way production does: `direct` rows as user messages, `indirect` rows
 * as tool output. Prints, per subset, recall (label 1) or false-positive rate (label 0) with counts and a 95%
 * Wilson interval, twice: over every row, and over the rows the learned model never saw in training (deepset's
 * `test`, the held-out fifth of the other sets it read, and every row of a file it did not read: see
 * scripts/injection-data.ts). A file counts as read in training when its sha256 is one the model records. As a
 * table, or as one JSON object with --json.
 *
 * With --package-texts, also the held-out part of the clean texts that packages ship (mail, prose, READMEs: the
 * training script's negatives), and documents made from them the way an attacker would: a held-out mail with one
 * held-out prompt (an injection or an ordinary request to an assistant) put in at a line of its own, as it is and
 * base64-encoded.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DETECTOR_VERSION, detect } from '../cage/injection-detector';
import { MODEL_TRAINING_DATA } from '../cage/injection-model';
import { dataFiles, heldOutGroup, isHeldOut, packageTexts, readRows, sha256, type Row } from './injection-data';

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

interface Count {
  n: number;
  flagged: number;
}
const rate = (c: Count) => (c.n === 0 ? 0 : Math.round((c.flagged / c.n) * 10_000) / 10_000);

/** The held-out clean texts of packages, and held-out mails with a held-out prompt planted in them. */
function packageRows(rows: Row[]): Row[] {
  const texts = packageTexts(path.resolve(__dirname, '..')).texts.filter((t) => heldOutGroup(t.group));
  const out: Row[] = texts.map((t, i) => ({ dataset: 'package-texts', subset: t.subset, label: 0, kind: 'indirect', text: t.text, id: `package-${i}` }));
  const mails = texts.filter((t) => t.subset === 'mail/easy-ham').map((t) => t.text.split('\n'));
  const prompts = rows.filter((r) => r.dataset !== 'injecagent' && r.dataset !== 'benign-it' && isHeldOut(r) && (r.label === 1 || !/\?\s*$/.test(r.text)));
  prompts.forEach((p, i) => {
    const lines = mails[i % mails.length]!;
    const at = parseInt(sha256(p.id).slice(0, 8), 16) % (lines.length + 1);
    const plant = (payload: string) => [...lines.slice(0, at), payload, ...lines.slice(at)].join('\n');
    const what = p.label === 1 ? 'injection' : 'ordinary request';
    out.push({ dataset: 'package-texts', subset: `mail + ${what}`, label: 1, kind: 'indirect', text: plant(p.text), id: `${p.id}-plain` });
    out.push({ dataset: 'package-texts', subset: `mail + ${what}, base64`, label: 1, kind: 'indirect', text: plant(Buffer.from(p.text).toString('base64')), id: `${p.id}-base64` });
  });
  return out;
}

const USAGE = `usage: npm run eval:injection -- <dir> [--json] [--package-texts]
  <dir>            a folder with data.jsonl files below it (../shared/eval/injection for the development set)
  --json           one JSON object: per subset, recall (label 1) or false-positive rate (label 0) over all rows and
                   over the held-out rows (heldOut), with counts and 95% Wilson intervals
  --package-texts  also the held-out clean texts that packages ship (mail, prose, READMEs) and held-out prompts
                   planted in held-out mails, plain and base64-encoded (the stand-in for embedded instructions)`;

function main(): void {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { json: { type: 'boolean', default: false }, 'package-texts': { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } } });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const dir = positionals[0];
  if (!dir) throw new Error(USAGE);
  const trainedOn = new Set(MODEL_TRAINING_DATA.map((d) => d.sha256));
  const groups = new Map<string, { dataset: string; subset: string; label: 0 | 1; all: Count; heldOut: Count }>();
  const sources = dataFiles(path.resolve(dir)).map((file) => ({ read: trainedOn.has(sha256(readFileSync(file))), rows: readRows(file) }));
  if (values['package-texts']) sources.push({ read: false, rows: packageRows(sources.flatMap((s) => s.rows)) });
  for (const { read, rows } of sources) {
    for (const row of rows) {
      const key = `${row.dataset}\t${row.subset}\t${row.label}`;
      const g = groups.get(key) ?? { dataset: row.dataset, subset: row.subset, label: row.label, all: { n: 0, flagged: 0 }, heldOut: { n: 0, flagged: 0 } };
      const hit = detect(row.text, row.kind).verdict === 'injection' ? 1 : 0;
      g.all.n += 1;
      g.all.flagged += hit;
      if (!read || isHeldOut(row)) {
        g.heldOut.n += 1;
        g.heldOut.flagged += hit;
      }
      groups.set(key, g);
    }
  }
  const subsets = [...groups.values()].map((g) => ({
    dataset: g.dataset,
    subset: g.subset,
    label: g.label,
    n: g.all.n,
    flagged: g.all.flagged,
    rate: rate(g.all),
    ci95: wilson(g.all.flagged, g.all.n),
    heldOut: { n: g.heldOut.n, flagged: g.heldOut.flagged, rate: rate(g.heldOut), ci95: wilson(g.heldOut.flagged, g.heldOut.n) },
  }));
  if (values.json) {
    console.log(JSON.stringify({ detector: DETECTOR_VERSION, subsets }));
    return;
  }
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  console.log(`detector ${DETECTOR_VERSION}`);
  console.log('"all rows" includes the rows the model was trained on; "held out" is only the rows it never saw.');
  console.log(['dataset', 'subset', 'measures', 'all rows', 'rate', 'held out', 'rate', '95% CI (held out)'].join('\t'));
  for (const s of subsets) {
    const h = s.heldOut;
    console.log([s.dataset, s.subset, s.label === 1 ? 'recall' : 'false positives', `${s.flagged}/${s.n}`, pct(s.rate), `${h.flagged}/${h.n}`, h.n ? pct(h.rate) : '—', h.n ? `${pct(h.ci95[0])}–${pct(h.ci95[1])}` : '—'].join('\t'));
  }
}

main();
