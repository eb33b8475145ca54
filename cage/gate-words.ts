/**
 * What the words of a gate's match can be: the first one or two runs of word characters (`\w`) a match of each
 * word gate alternative (see injection-rules.ts) starts with. The model's scan reads every word of a text anyway
 * (injection-model.ts, markGateWords); told these, it says whether a plain ASCII text has any place where a word gate
 * may match, and the detector then skips the union of the word gates' expression on most text (a sixth of its time
 * on the benign IT set).
 *
 * Only a superset matters: a gate must never match a text whose scan says it cannot. So everything this reader does
 * not understand in an alternative widens what it reports (a run read as a prefix, a second word dropped) or, at the
 * start of one, makes it give up (undefined: the detector then tests the expression on every text, as before).
 */

/** A gate alternative as the reader sees it: characters, `\b`, runs of non-word characters, groups, and the unknown. */
type Atom = { kind: 'chars'; chars: string[] } | { kind: 'nonword' } | { kind: 'unknown' } | { kind: 'boundary' } | { kind: 'group'; alternatives: Item[][] };
interface Item {
  atom: Atom;
  min: number;
  max: number;
}

const WORD_CHAR = /^\w$/;

/** The alternatives of `source` from `at.i` to the closing parenthesis (or the end), as sequences of items. */
function parse(source: string, at: { i: number }): Item[][] | undefined {
  const alternatives: Item[][] = [[]];
  while (at.i < source.length && source[at.i] !== ')') {
    const c = source[at.i]!;
    if (c === '|') {
      at.i++;
      alternatives.push([]);
      continue;
    }
    let atom: Atom;
    if (c === '(') {
      if (!source.startsWith('(?:', at.i)) return undefined;
      at.i += 3;
      const inner = parse(source, at);
      if (inner === undefined || source[at.i] !== ')') return undefined;
      at.i++;
      atom = { kind: 'group', alternatives: inner };
    } else if (c === '\\') {
      const e = source[at.i + 1] ?? '';
      at.i += 2;
      if (e === 'b') atom = { kind: 'boundary' };
      // (`\s` and `\W` match no word character: which of them, or how many, changes no run.)
      else if (e === 's') atom = { kind: 'chars', chars: [' '] };
      else if (e === 'W') atom = { kind: 'nonword' };
      else if (/^[A-Za-z0-9]$/.test(e) || e === '') atom = { kind: 'unknown' };
      else atom = { kind: 'chars', chars: [e] };
    } else if (c === '[') {
      const close = source.indexOf(']', at.i + 1);
      if (close < 0) return undefined;
      const body = source.slice(at.i + 1, close);
      at.i = close + 1;
      // A class of literal characters (`[eo]`, `[_-]`, `[:!]`); ranges, escapes and negations are unknown.
      atom = /^[^\\^\]-][^\\\]]*$/.test(body) && !/.-./.test(body) ? { kind: 'chars', chars: [...body] } : { kind: 'unknown' };
    } else {
      at.i++;
      atom = '.^$'.includes(c) ? { kind: 'unknown' } : { kind: 'chars', chars: [c] };
    }
    let min = 1;
    let max = 1;
    const q = /^(?:\?|\*|\+|\{(\d+)(?:(,)(\d*))?\})\??/.exec(source.slice(at.i));
    if (q) {
      at.i += q[0].length;
      if (q[0][0] === '?') [min, max] = [0, 1];
      else if (q[0][0] === '*') [min, max] = [0, Infinity];
      else if (q[0][0] === '+') [min, max] = [1, Infinity];
      else [min, max] = [Number(q[1]), q[2] === undefined ? Number(q[1]) : q[3] === '' ? Infinity : Number(q[3])];
    }
    alternatives[alternatives.length - 1]!.push({ atom, min, max });
  }
  return alternatives;
}

/**
 * Every way a match can begin, as a string of symbols: a word character (lower case), ' ' white space, another ASCII
 * character as itself, and four of the reader's own (outside ASCII, where no character of a gate can be: those are all
 * FOREIGN): NONWORD any non-word character, BOUNDARY a `\b`, FOREIGN a
 * character outside ASCII (it matches nothing in plain ASCII text, not even case-insensitively: a case-insensitive
 * expression without the `u` flag folds no other character into ASCII), UNKNOWN anything from there on.
 */
const NONWORD = '\u2401';
const BOUNDARY = '\u2402';
const FOREIGN = '\u2403';
const UNKNOWN = '\u2404';
const symbolOf = (c: string) => (WORD_CHAR.test(c) ? c.toLowerCase() : c.charCodeAt(0) > 0x7f ? FOREIGN : /\s/.test(c) ? ' ' : c);
const MAX_PATHS = 4096;
function paths(items: Item[], from: number, prefix: string, out: string[]): boolean {
  if (out.length > MAX_PATHS) return false;
  if (from === items.length || prefix.endsWith(UNKNOWN)) {
    out.push(prefix);
    return true;
  }
  const { atom, min, max } = items[from]!;
  const next = (p: string) => paths(items, from + 1, p, out);
  const once = (p: string, then: (p: string) => boolean): boolean => {
    if (atom.kind === 'boundary') return then(p + BOUNDARY);
    if (atom.kind === 'nonword') return then(p + NONWORD);
    if (atom.kind === 'unknown') return then(p + UNKNOWN);
    if (atom.kind === 'chars') {
      const symbols = new Set(atom.chars.map(symbolOf));
      return [...symbols].every((s) => then(p + s));
    }
    return atom.alternatives.every((a) => {
      const inner: string[] = [];
      return paths(a, 0, '', inner) && inner.every((s) => then(p + s));
    });
  };
  const wordless = atom.kind === 'nonword' || atom.kind === 'boundary' || (atom.kind === 'chars' && atom.chars.every((c) => !WORD_CHAR.test(c)));
  if (min === 0 && !next(prefix)) return false;
  if (max === 0) return true;
  // Once stands for any number of times for what holds no word character (one space or three split the same runs);
  // anything else repeated is unknown after its first time.
  if (max === 1 || wordless) return once(prefix, next);
  return once(prefix, (p) => next(p + UNKNOWN));
}

export interface GateWords {
  /** A run equal to one of these may start a match. */
  words: string[];
  /** A run starting with one of these may start a match. */
  prefixes: string[];
  /** The first run equal to the first word, the next run equal to the second (`i want`). */
  pairs: [string, string][];
  /** The first run equal to the first word, the next run starting with the second (`your summar`). */
  pairPrefixes: [string, string][];
  /**
   * A run equal to the word, then maybe white space, then the character (`system\s*:`): such a word is not in
   * `words`.
   */
  followed: [string, string][];
}

/**
 * The runs of word characters a match of any of these word gate alternatives (each starting with a letter, or with a
 * group of alternatives that do, as in gateSource) can start with, in plain ASCII text; undefined when one of them
 * is beyond this reader.
 */
export function gateWords(alternatives: string[]): GateWords | undefined {
  const words = new Set<string>();
  const prefixes = new Set<string>();
  const pairs = new Map<string, [string, string]>();
  const pairPrefixes = new Map<string, [string, string]>();
  const followed = new Map<string, [string, string]>();
  for (const alternative of alternatives) {
    const at = { i: 0 };
    const parsed = parse(alternative, at);
    if (parsed === undefined || at.i !== alternative.length) return undefined;
    const starts: string[] = [];
    if (!parsed.every((items) => paths(items, 0, '', starts))) return undefined;
    for (const p of starts) {
      if (p.includes(FOREIGN)) continue;
      const m = /^(\w+)([^\w\u2404]*)(\w*)(.?)/.exec(p);
      if (!m) return undefined;
      const [, first, between, second, after] = m as unknown as [string, string, string, string, string];
      const separator = between.replaceAll(BOUNDARY, '');
      const open = after === '' || after === UNKNOWN;
      // The first run goes on past what the alternative says (it ends there, or the unknown follows).
      if (between === '') prefixes.add(first);
      // White space at most, then a character that is neither: the first run, then that character.
      else if (second === '' && /^ *[^ \w\u2401]$/.test(separator)) followed.set(`${first} ${separator.at(-1)}`, [first, separator.at(-1)!]);
      // Nothing known of the next run, or nothing that separates the two (a `\b` between word characters never
      // matches): the first run alone.
      else if (second === '' || separator === '') words.add(first);
      else if (open) pairPrefixes.set(`${first} ${second}`, [first, second]);
      else pairs.set(`${first} ${second}`, [first, second]);
    }
  }
  // A word that may also be followed by anything is just a word.
  for (const [key, [word]] of followed) if (words.has(word)) followed.delete(key);
  return { words: [...words], prefixes: [...prefixes], pairs: [...pairs.values()], pairPrefixes: [...pairPrefixes.values()], followed: [...followed.values()] };
}
