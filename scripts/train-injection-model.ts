/**
 * `node --import tsx scripts/train-injection-model.ts [--data <dir>] [--out <file>] [--refresh-readmes]`: trains the injection model
 * (cage/injection-model.ts) and writes its weights to cage/injection-weights.json. Deterministic: the same data and
 * seed give the same file, byte for byte; the file records the sha256 of every file read and the seed.
 *
 * What it learns, per channel, is which segments of a text read as an instruction to the assistant:
 * - `indirect` (tool output): injections planted in data (InjecAgent, deepset's), and anything addressed to an
 *   assistant as a request (deepset's ordinary questions, NotInject, WildGuard): in data, a request to the
 *   assistant is out of place, whatever it asks. Against clean tool outputs, IT commands, scripts, their output and
 *   the READMEs of the npm packages installed here (prose written for a person, full of "run", "use", "please").
 * - `direct` (user messages): hijacks and jailbreaks (deepset's injections) against ordinary requests (the rest).
 * Only the training rows (scripts/injection-data.ts) are read; the held-out rows are for eval-injection.ts.
 *
 * The label is the text's, not a segment's: an injected document is mostly ordinary sentences. Training is
 * multiple-instance: first every segment of a positive text is a (down-weighted) positive; then, each round, only
 * the segment the model finds most instruction-like. Every segment of a negative text is negative.
 * The threshold is chosen on out-of-fold scores of the training rows (3 folds), as the lowest logit that keeps every
 * group of negatives within its false-positive budget (chooseThreshold); held-out rows never influence it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { FEATURE_BITS, type ModelChannel, type ModelFile } from '../cage/injection-model';
import { dataFiles, heldOutGroup, isHeldOut, packageTexts, readmePackages, readRows, sha256, type Row } from './injection-data';
import { SYNTHETIC_DESCRIPTIVE, SYNTHETIC_INSTRUCTIONS, cloneTrainingTexts, featuresDigest, featurize } from './injection-features';
import { syntheticDescriptive, syntheticInstructions } from './injection-synthetic';

const SEED = 20_261_205;
/**
 * The channels the model serves. Trained on `direct` (deepset's 203 training injections against ordinary prompts),
 * it catches under 5% of them at a 1% false-positive rate, less than the rules: user messages are left to the rules.
 */
const SHIPPED: ModelChannel[] = ['indirect'];
const DIM = 1 << FEATURE_BITS;
const ROUNDS = 3;
const EPOCHS = 6;
const FOLDS = 3;
const L2 = 1e-5;
const RATE = 0.2;

/** mulberry32: a small seeded generator, so the shuffles (and so the weights) are the same on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

interface Doc {
  /** Where the text came from, for the report and the per-subset false-positive targets. */
  subset: string;
  label: 0 | 1;
  /** The features of each segment of at least MIN_WORDS words. */
  segs: Int32Array[];
  /** Of a positive text, the segments that may be its instruction (all of them, unless told otherwise). */
  candidates?: Int32Array[];
  fold: number;
}

/**
 * InjecAgent plants each attacker instruction in the outputs of many tools, and each tool's output wraps many
 * instructions. A segment found with two different instructions is wrapper ("Dell Inspiron Laptop"), never the
 * instruction: as a positive it would teach the model the wrapper's words.
 */
function plantedSegments(docs: { segs: Int32Array[]; attacker: string }[]): Int32Array[][] {
  const seenWith = new Map<string, Set<string>>();
  const key = (seg: Int32Array) => seg.join(',');
  for (const d of docs) for (const seg of d.segs) seenWith.set(key(seg), (seenWith.get(key(seg)) ?? new Set()).add(d.attacker));
  return docs.map((d) => {
    const planted = d.segs.filter((seg) => seenWith.get(key(seg))!.size === 1);
    return planted.length > 0 ? planted : d.segs;
  });
}


/** Which texts each channel learns from, and as what. */
function channelLabel(channel: ModelChannel, row: Row): 0 | 1 | undefined {
  if (channel === 'indirect') {
    if (row.dataset === 'injecagent' || row.dataset === 'benign-it') return row.label;
    if (row.label === 1) return 1;
    // deepset's ordinary prompts, NotInject, WildGuard: requests to an assistant, out of place in data. Not the bare
    // questions: documents ask their readers questions all the time (a mailing list is made of them).
    return /\?\s*$/.test(row.text) ? undefined : 1;
  }
  if (row.dataset === 'injecagent') return undefined;
  return row.label;
}

interface Trained {
  w: Float64Array;
  bias: number;
}

function logit(m: Trained, seg: Int32Array): number {
  let s = 0;
  for (let i = 0; i < seg.length; i++) s += m.w[seg[i]!]!;
  return m.bias + s / Math.sqrt(seg.length);
}

export function docLogit(m: Trained, d: Doc): number {
  let best = -Infinity;
  for (const seg of d.segs) best = Math.max(best, logit(m, seg));
  return best;
}

/** Logistic regression with AdaGrad over (segment, label, weight) instances, multiple-instance for positive texts. */
function train(docs: Doc[], seed: number): Trained {
  const rand = random(seed);
  let model: Trained = { w: new Float64Array(DIM), bias: 0 };
  for (let round = 0; round < ROUNDS; round++) {
    const inst: { seg: Int32Array; y: number; weight: number }[] = [];
    let pos = 0;
    let neg = 0;
    for (const d of docs) {
      if (d.segs.length === 0) continue;
      if (d.label === 1) {
        const candidates = d.candidates ?? d.segs;
        if (round === 0) for (const seg of candidates) inst.push({ seg, y: 1, weight: 1 / candidates.length });
        else {
          let best = candidates[0]!;
          for (const seg of candidates) if (logit(model, seg) > logit(model, best)) best = seg;
          inst.push({ seg: best, y: 1, weight: 1 });
        }
        pos += 1;
      } else {
        for (const seg of d.segs) inst.push({ seg, y: 0, weight: 1 });
        neg += d.segs.length;
      }
    }
    // The classes weigh the same in total.
    const negWeight = pos / neg;
    for (const i of inst) if (i.y === 0) i.weight *= negWeight;
    const next: Trained = { w: new Float64Array(DIM), bias: 0 };
    const g2 = new Float64Array(DIM);
    let b2 = 0;
    const order = inst.map((_, i) => i);
    for (let epoch = 0; epoch < EPOCHS; epoch++) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      for (const k of order) {
        const { seg, y, weight } = inst[k]!;
        const z = logit(next, seg);
        const g = (1 / (1 + Math.exp(-z)) - y) * weight;
        const gs = g / Math.sqrt(seg.length);
        for (let f = 0; f < seg.length; f++) {
          const idx = seg[f]!;
          const grad = gs + L2 * next.w[idx]!;
          g2[idx] = g2[idx]! + grad * grad;
          next.w[idx] = next.w[idx]! - (RATE * grad) / Math.sqrt(g2[idx]! + 1e-8);
        }
        b2 += g * g;
        next.bias -= (RATE * g) / Math.sqrt(b2 + 1e-8);
      }
    }
    model = next;
  }
  return model;
}

/** The benign IT subsets the evaluation reads on each channel (their rows' `kind`). */
const IT_SUBSETS: Record<ModelChannel, string[]> = {
  direct: ['benign-it/nl2bash_request', 'benign-it/powershell_example_title'],
  indirect: ['benign-it/nl2bash_command', 'benign-it/powershell_script', 'benign-it/powershell_output'],
};

/**
 * False-positive targets per negative subset, with a margin under the goals: the IT text of the channel is checked
 * at 0.1% (the goal), clean tool output at 0.4%, spam at 2%, the rest (mail, prose, READMEs, prompts) at 0.5% (the
 * goal is 2%).
 */
function target(channel: ModelChannel, subset: string): number {
  if (IT_SUBSETS[channel].includes(subset)) return 0.001;
  if (subset === 'injecagent/simulated_tool_output_clean') return 0.004;
  // Spam is made of requests to its reader ("click", "reply now", "tell a friend") and is no document the goals name:
  // held at the goal itself (2%), not under it. At 1% it set the threshold alone, with every other subset far under
  // its own target (rules-8).
  if (subset === 'mail/spam') return 0.02;
  // Written to look as much like the instructions as a document can: they teach, but do not set, the threshold.
  if (subset === 'synthetic/descriptive') return 0.05;
  // A quarter of the goal: the goal is checked on mail, tables and code answers nobody here has seen, and the first
  // such check found 4.5% on mail the development set held to under 2%. Through rules-9 a single IT row (below) kept
  // the threshold about this high by chance; the margin is now said, not inherited.
  return 0.005;
}

/**
 * Which negatives share one false-positive budget. The benign IT subsets answer to one goal (IT text at 0.1%), and
 * two of the three are too small to measure 0.1% alone: the 640 training rows of PowerShell output allow no false positive, so
 * their single highest out-of-fold score was the threshold, and it moved by half a logit between grammar variants
 * that changed nothing about PowerShell. Pooled, their 10,637 rows allow ten.
 */
function budgetGroup(channel: ModelChannel, subset: string): string {
  if (IT_SUBSETS[channel].includes(subset)) return 'benign IT';
  // The other channel's IT text, checked like prose: pooled too (PowerShell output is as small on either channel).
  if (subset.startsWith('benign-it/')) return "the other channel's IT text";
  // Negatives only on the direct channel (ordinary requests): a few hundred rows per set, one kind of text.
  if (subset.startsWith('deepset-prompt-injections/') || subset.startsWith('piguard-notinject/')) return 'ordinary requests';
  return subset;
}

/**
 * A group whose budget is fewer rows than this cannot set a threshold: an order statistic that few rows from the top
 * is noise (one row decides it). Training fails rather than fall back to it.
 */
const MIN_BUDGET = 5;

/**
 * The lowest logit at which every budget group lets through no more of its out-of-fold negatives than its budget
 * (the sum of its subsets' targets times their sizes). Each group's cut rests on at least MIN_BUDGET rows above it,
 * so resampling the training rows moves the threshold by about 0.08 logits (sd, bootstrap over rows), where the
 * per-subset cut of rules-9 moved by 0.27.
 */
function chooseThreshold(channel: ModelChannel, scored: { subset: string; label: 0 | 1; logit: number }[]): number {
  const groups = new Map<string, { logits: number[]; budget: number }>();
  for (const s of scored) {
    if (s.label === 1) continue;
    const key = budgetGroup(channel, s.subset);
    const g = groups.get(key) ?? { logits: [], budget: 0 };
    g.logits.push(s.logit);
    g.budget += target(channel, s.subset);
    groups.set(key, g);
  }
  let threshold = -Infinity;
  let binding = '';
  for (const [group, { logits, budget }] of groups) {
    // The budget is a sum of fractions: rounded first, so that 5,000 rows at 0.001 allow 5, not 4 (4.99999…).
    const allowed = Math.floor(Number(budget.toFixed(6)));
    if (allowed < MIN_BUDGET) throw new Error(`train-injection-model: ${group} allows ${allowed} false positives out of fold, fewer than ${MIN_BUDGET}: too few rows to set a threshold on`);
    logits.sort((a, b) => b - a);
    const t = (logits[allowed] ?? -Infinity) + 1e-6;
    if (t > threshold) [threshold, binding] = [t, `${group} (${allowed} of ${logits.length} rows above it)`];
  }
  console.log(`\n${channel}: the threshold is set by ${binding}`);
  return threshold;
}

/** Recall of all positives pooled, at the logit that keeps each of the prose subsets at a given false-positive rate. */
function curve(scored: { subset: string; label: 0 | 1; logit: number }[]): void {
  const pos = scored.filter((s) => s.label === 1).map((s) => s.logit);
  const line = [];
  for (const fpr of [0.002, 0.005, 0.01, 0.02]) {
    let t = -Infinity;
    for (const subset of ['brown', 'mail/easy-ham', 'mail/hard-ham', 'mail/spam', 'readme', 'sentences']) {
      const neg = scored.filter((s) => s.subset === subset && s.label === 0).map((s) => s.logit).sort((a, b) => b - a);
      t = Math.max(t, neg[Math.floor(fpr * neg.length)] ?? -Infinity);
    }
    line.push(`FPR ${fpr * 100}%: recall ${((100 * pos.filter((x) => x > t).length) / pos.length).toFixed(1)}%`);
  }
  console.log(`  prose FPR/recall: ${line.join(', ')}`);
}

function report(title: string, scored: { subset: string; label: 0 | 1; logit: number }[], threshold: number): void {
  const groups = new Map<string, { n: number; flagged: number }>();
  for (const s of scored) {
    const key = `${s.subset}\t${s.label === 1 ? 'recall' : 'false positives'}`;
    const g = groups.get(key) ?? { n: 0, flagged: 0 };
    g.n += 1;
    if (s.logit >= threshold) g.flagged += 1;
    groups.set(key, g);
  }
  console.log(`\n${title} (threshold ${threshold.toFixed(3)})`);
  for (const [key, g] of [...groups].sort()) console.log(`  ${key}\t${g.flagged}/${g.n}\t${((100 * g.flagged) / g.n).toFixed(1)}%`);
}

function quantize(m: Trained): { weights: string; scale: number } {
  let max = 0;
  for (const x of m.w) max = Math.max(max, Math.abs(x));
  const scale = max / 127 || 1;
  const q = new Int8Array(DIM);
  for (let i = 0; i < DIM; i++) q[i] = Math.round(m.w[i]! / scale);
  return { weights: Buffer.from(q.buffer).toString('base64'), scale: Number(scale.toPrecision(8)) };
}

function dequantized(q: { weights: string; scale: number }, bias: number): Trained {
  const bytes = new Int8Array(Buffer.from(q.weights, 'base64'));
  return { w: Float64Array.from(bytes, (x) => x * q.scale), bias };
}

function main(): void {
  const root = path.resolve(__dirname, '..');
  const { values } = parseArgs({ options: { data: { type: 'string' }, out: { type: 'string' }, channel: { type: 'string' }, 'refresh-readmes': { type: 'boolean', default: false } } });
  // --refresh-readmes: read the READMEs of the packages installed now, and list them for the next run
  if (values['refresh-readmes']) readmePackages(root, true);
  const dataDir = path.resolve(values.data ?? path.join(root, '..', 'shared', 'eval', 'injection'));
  const out = path.resolve(values.out ?? path.join(root, 'cage', 'injection-weights.json'));
  const data: ModelFile['data'] = [];
  const rows: Row[] = [];
  for (const file of dataFiles(dataDir)) {
    const fileRows = readRows(file);
    data.push({ name: path.relative(dataDir, file), sha256: sha256(readFileSync(file)), rows: fileRows.length });
    rows.push(...fileRows);
  }
  if (rows.length === 0) throw new Error(`train-injection-model: no data.jsonl under ${dataDir}`);
  const shipped = packageTexts(root);
  data.push(...shipped.data);
  const synthetic = cloneTrainingTexts([], SEED);
  data.push({ name: 'scripts/injection-synthetic.ts', sha256: sha256(synthetic.join('\n')), rows: synthetic.length });
  console.log(`read ${rows.length} rows and ${shipped.texts.length} texts that packages ship`);

  const trainingRows = rows.filter((r) => !isHeldOut(r));
  // A file is held out whole, like a group of rows.
  const trainingTexts = shipped.texts.filter((t) => !heldOutGroup(t.group));
  const features = new Map<string, Int32Array[]>();
  const feats = (text: string) => {
    let f = features.get(text);
    if (!f) features.set(text, (f = featurize(text)));
    return f;
  };
  const channels: ModelFile['channels'] = {};
  // --channel: train and report that channel (for experiments; the file is written only with the shipped channels)
  for (const channel of values.channel ? [values.channel as ModelChannel] : SHIPPED) {
    const docs: Doc[] = [];
    const foldOf = (key: string) => parseInt(sha256(key).slice(0, 8), 16) % FOLDS;
    const planted: { doc: Doc; attacker: string }[] = [];
    for (const r of trainingRows) {
      const label = channelLabel(channel, r);
      if (label === undefined) continue;
      const doc: Doc = { subset: `${r.dataset}/${r.subset}`, label, segs: feats(r.text), fold: foldOf(r.dataset === 'injecagent' && r.label === 1 ? String(r.meta?.attacker_tool) : r.id) };
      docs.push(doc);
      if (r.dataset === 'injecagent' && r.label === 1) planted.push({ doc, attacker: String(r.meta?.attacker_tool) });
    }
    plantedSegments(planted.map((p) => ({ segs: p.doc.segs, attacker: p.attacker }))).forEach((candidates, i) => (planted[i]!.doc.candidates = candidates));
    for (const t of trainingTexts) docs.push({ subset: t.subset, label: 0, segs: feats(t.text), fold: foldOf(t.group) });
    if (channel === 'indirect') {
      for (const text of syntheticInstructions(SYNTHETIC_INSTRUCTIONS, SEED)) docs.push({ subset: 'synthetic/instruction', label: 1, segs: feats(text), fold: foldOf(text) });
      for (const text of syntheticDescriptive(SYNTHETIC_DESCRIPTIVE, SEED)) docs.push({ subset: 'synthetic/descriptive', label: 0, segs: feats(text), fold: foldOf(text) });
    }
    const oof: { subset: string; label: 0 | 1; logit: number }[] = [];
    for (let fold = 0; fold < FOLDS; fold++) {
      const m = train(
        docs.filter((d) => d.fold !== fold),
        SEED + fold,
      );
      for (const d of docs.filter((x) => x.fold === fold)) oof.push({ subset: d.subset, label: d.label, logit: docLogit(m, d) });
    }
    const threshold = chooseThreshold(channel, oof);
    report(`${channel}: out-of-fold on training rows`, oof, threshold);
    curve(oof);
    const final = train(docs, SEED);
    const q = quantize(final);
    const m = dequantized(q, final.bias);
    report(
      `${channel}: texts of packages that training never saw`,
      shipped.texts.filter((t) => heldOutGroup(t.group)).map((t) => ({ subset: t.subset, label: 0 as const, logit: docLogit(m, { subset: '', label: 0, segs: feats(t.text), fold: 0 }) })),
      threshold,
    );
    channels[channel] = { ...q, bias: Number(final.bias.toPrecision(8)), threshold: Number(threshold.toPrecision(8)) };
  }
  if (values.channel && !SHIPPED.includes(values.channel as ModelChannel)) return;
  // What the model read, where every clone can read it again (the model's test compares): the texts packages ship and
  // the synthetic sentences, through the same features (cached above).
  const read = featuresDigest(cloneTrainingTexts(shipped.texts, SEED), feats);
  const file: ModelFile = { version: `hashed-lr-${FEATURE_BITS}-${read.sha256.slice(0, 8)}-${SEED}`, featureBits: FEATURE_BITS, seed: SEED, data, features: read, channels };
  writeFileSync(out, `${JSON.stringify(file, null, 1)}\n`);
  console.log(`\nwrote ${out}`);
}

main();
