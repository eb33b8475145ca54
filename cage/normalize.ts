/**
 * Text normalization before injection matching: NFKC, invisible characters (zero-width, Unicode tags, bidi
 * controls) found and removed so they cannot split a trigger word, and a fold of the letters that look Latin but
 * that NFKC leaves alone (Cyrillic, Greek, Cherokee, Lisu, dotless ı, small capitals, …). Linear in the input.
 */
import UNICODE_CONFUSABLES from 'unhomoglyph/data.json';

export const ZERO_WIDTH = /[\u200B-\u200D\u2060\uFEFF\u00AD\u180E]/g;
/**
 * The other characters Unicode says display as nothing (Default_Ignorable_Code_Point, bidi controls and tag characters
 * apart: they have their own handling): invisible operators, the combining grapheme joiner, variation selectors,
 * Mongolian and Khmer format characters, shorthand and musical format controls, and the code points Unicode keeps
 * for more of them, unassigned yet ignorable already (U+2065, U+FFF0–FFF8, the rest of plane 14's block). They are
 * part of some spellings (a variation selector after an emoji or a CJK ideograph, a Mongolian letter's form), so they
 * count as hiding only right after a Latin letter or a digit, where no spelling needs them; they are removed
 * everywhere.
 */
const OTHER_INVISIBLE_CLASS = String.raw`[\u034F\u17B4\u17B5\u180B-\u180D\u180F\u2061-\u2065\u206A-\u206F\uFE00-\uFE0F\uFFF0-\uFFF8\u{1BCA0}-\u{1BCA3}\u{1D173}-\u{1D17A}\u{E0080}-\u{E00FF}\u{E0100}-\u{E01EF}\u{E01F0}-\u{E0FFF}]`;
// (The class lists marks and selectors each alone on purpose: a mark joined to the character before it, the lint's
// concern, is what it finds.)
// eslint-disable-next-line no-misleading-character-class
const OTHER_INVISIBLE = new RegExp(OTHER_INVISIBLE_CLASS, 'gu');
// eslint-disable-next-line no-misleading-character-class
const OTHER_INVISIBLE_IN_LATIN = new RegExp(`(?<=[A-Za-z0-9])${OTHER_INVISIBLE_CLASS}`, 'gu');
/** Hangul fillers: blank, and standing for a space between Latin words (they are no part of a Latin spelling). */
const FILLER_IN_LATIN = /(?<=[A-Za-z0-9.,!?;:'"])[\u115F\u1160\u3164\uFFA0]|[\u115F\u1160\u3164\uFFA0](?=[A-Za-z0-9])/g;
/** A zero-width joiner between emoji (👩‍💻, 👨‍👩‍👧) is how those are spelled, not hiding. */
const EMOJI_JOINER = /(?<=[\uD800-\uDFFF]|\uFE0F)\u200D(?=[\uD800-\uDFFF])/g;
export const TAG_CHARS = /[\u{E0000}-\u{E007F}]/gu;
/**
 * An emoji tag sequence: the black flag and a region's code in tag letters, closed by CANCEL TAG (England is
 * 🏴 + "gbeng" + U+E007F). That is how those flags are spelled (Unicode TS #51), not hidden text.
 */
const EMOJI_TAG_SEQUENCE = /\u{1F3F4}[\u{E0030}-\u{E0039}\u{E0061}-\u{E007A}]{2,7}\u{E007F}/gu;
export const BIDI = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;
/**
 * A directional run: an embedding (LRE, RLE), an override (LRO, RLO) or an isolate (LRI, RLI, FSI) up to its close
 * (PDF, PDI) or the line's end, innermost first. An override displays its letters in reverse order; an attacker who
 * writes reversed text inside an embedding or an isolate means the same (and a model reads whichever it is given), so
 * every such run is also read reversed.
 */
const DIRECTIONAL_RUN = /[\u202A\u202B\u202D\u202E\u2066-\u2068]([^\u202A-\u202E\u2066-\u2069\n]*)[\u202C\u2069]?/g;
const DIRECTIONAL_OPEN = /[\u202A\u202B\u202D\u202E\u2066-\u2068]/;
/** Letters of the scripts written right to left (Hebrew, Arabic, Syriac, Thaana, N'Ko, …). */
const RTL_LETTER = /[\u0590-\u08FF\uFB1D-\uFDFF\uFE70-\uFEFF]|\uD802[\uDC00-\uDFFF]|\uD83A[\uDC00-\uDD5F]/;
/**
 * The bidi controls that hide rather than lay out. In text with right-to-left letters: overrides, and right-to-left
 * embeddings and isolates around a run with none (an embedding or isolate around Hebrew or Arabic, and a left-to-right
 * one around a file name or a number in Hebrew or Arabic, is how such text is laid out; marks, LRM, RLM and ALM, too).
 * In text with none, every control: nothing there needs laying out.
 */
function hidingBidi(input: string, all: number): number {
  if (!RTL_LETTER.test(input)) return all;
  let hiding = 0;
  for (const m of input.matchAll(DIRECTIONAL_RUN)) {
    const opener = m[0]![0];
    if (opener === '\u202D' || opener === '\u202E' || ((opener === '\u202B' || opener === '\u2067') && !RTL_LETTER.test(m[1]!))) hiding += 1;
  }
  return hiding;
}

/**
 * The Latin small capitals (Unicode names "LATIN LETTER SMALL CAPITAL x"). confusables.txt maps only those that
 * look like a lower-case letter (ᴄ ᴏ ꜱ …): the others differ from the capital in size alone, which is no
 * disguise at all to a reader, nor to a model.
 */
const SMALL_CAPITALS: Record<string, string> = {
  ᴀ: 'a', ʙ: 'b', ᴄ: 'c', ᴅ: 'd', ᴇ: 'e', ꜰ: 'f', ɢ: 'g', ʜ: 'h', ɪ: 'i', Ɪ: 'I', ᴊ: 'j', ᴋ: 'k', ʟ: 'l', ᴍ: 'm',
  ɴ: 'n', ᴏ: 'o', ᴘ: 'p', ꞯ: 'q', ʀ: 'r', ꜱ: 's', ᴛ: 't', ᴜ: 'u', ᴠ: 'v', ᴡ: 'w', ʏ: 'y', ᴢ: 'z',
};

const ASCII_LETTER = /^[A-Za-z]$/;

/**
 * Greek and Cyrillic letters that a reader takes for a Latin one but that confusables.txt maps elsewhere or not at all
 * (ε to ꞓ, κ to ĸ, χ nowhere) or leaves out for their accent (ά, ё). An attacker mixes them into English words as much as
 * those it does map. Folded only in a word that also has ASCII letters: a Greek or Russian word, and a formula's ε or χ
 * on its own, are left as written. (Not a second table from npm: `confusables` maps by loose likeness, λ to A and д to
 * A, which would count formulas like λmax or Δt as disguised words; `decancer` is a native binary.)
 */
const MIXED_ONLY: Record<string, string> = {
  ε: 'e', ϵ: 'e', έ: 'e', ἐ: 'e', ἑ: 'e', ὲ: 'e', κ: 'k', ϰ: 'k', χ: 'x', ω: 'w', ώ: 'w', ὠ: 'w', ά: 'a', ὰ: 'a', ί: 'i', ϊ: 'i', ΐ: 'i', ὶ: 'i', ό: 'o', ὸ: 'o',
  ύ: 'u', ϋ: 'u', ΰ: 'u', ὺ: 'u', ή: 'n', ὴ: 'n', Ά: 'A', Έ: 'E', Ή: 'H', Ί: 'I', Ϊ: 'I', Ό: 'O', Ύ: 'Y', Ϋ: 'Y',
  к: 'k', ќ: 'k', м: 'm', п: 'n', ѐ: 'e', ё: 'e', є: 'e', ї: 'i', ў: 'y', ӯ: 'y', ӱ: 'y', Ѐ: 'E', Ё: 'E', Є: 'E', Ї: 'I', Ќ: 'K', Ў: 'Y',
};

/**
 * Every letter outside ASCII that reads as one Latin letter, from Unicode's confusables.txt (through the
 * `unhomoglyph` package) and the small capitals. confusables.txt maps to a "skeleton" meant for comparing two
 * strings, not for reading: its prototype of I is l and of m is rn, and some chains end in another look-alike
 * (τ → ᴛ). Those are turned back into the letter a reader sees.
 */
interface Fold {
  to: string;
  /** Not a Latin letter (Cyrillic, Greek, Cherokee, …). */
  foreign: boolean;
  /** A Latin letter no orthography writes words with (IPA letters, small capitals; ı is Turkish, ɑ is not). */
  odd: boolean;
  /** Folded only in a word with ASCII letters (MIXED_ONLY). */
  mixedOnly?: boolean;
}

function foldTable(): Map<string, Fold> {
  const skeleton = UNICODE_CONFUSABLES as Record<string, string>;
  const step = (c: string) => SMALL_CAPITALS[c] ?? skeleton[c];
  const letters = new Map<string, string>();
  for (const [from, prototype] of Object.entries(skeleton)) {
    // Letters with diacritics (ç, ǧ) are orthography, not disguise: the rules match them as written.
    if ([...from].length !== 1 || from.charCodeAt(0) < 0x80 || !/\p{L}/u.test(from) || from.normalize('NFD') !== from) continue;
    let to = prototype;
    for (let hops = 0; hops < 3 && !ASCII_LETTER.test(to) && step(to) !== undefined; hops++) to = step(to)!;
    to = to.normalize('NFD').replace(/\p{M}/gu, '');
    if (to === 'rn') to = 'm';
    if (to === 'l' && /\p{Lu}|\p{Lt}/u.test(from)) to = 'I';
    if (ASCII_LETTER.test(to)) letters.set(from, to);
  }
  for (const [from, to] of Object.entries(SMALL_CAPITALS)) letters.set(from, to);
  const table = new Map<string, Fold>();
  for (const [from, to] of letters) {
    const latin = LATIN.test(from);
    // Latin-1 and Latin Extended-A/B are the letters of real orthographies.
    table.set(from, { to, foreign: !latin, odd: latin && (from.codePointAt(0)! < 0xc0 || from.codePointAt(0)! > 0x24f) });
  }
  for (const [from, to] of Object.entries(MIXED_ONLY)) if (!table.has(from)) table.set(from, { to, foreign: true, odd: false, mixedOnly: true });
  return table;
}

const LATIN = /\p{Script=Latin}/u;
const FOLD = foldTable();
const FOLDABLE = new RegExp(`[${[...FOLD.keys()].join('')}]`, 'u');

export interface Normalized {
  text: string;
  /**
   * The text with the accents of Latin letters taken off, when it had any (`ìgnörè` reads as `ignore`); the rules
   * run on `text` too, where the words of French, German and Spanish rules keep their accents.
   */
  unaccented?: string;
  invisible: number;
  /** Unicode tag characters outside emoji tag sequences. */
  tags: number;
  /** Bidi controls that hide (see hidingBidi), not those that lay out right-to-left text. */
  bidi: number;
  /** What the tag characters spell, as ASCII (they are an invisible copy of it), when there are any. */
  hidden?: string;
  /**
   * The text with each directional run (override, embedding, isolate) read reversed, when it has one: what an override
   * displays, and what reversed text wrapped in any of them is meant to say.
   */
  visual?: string;
  /**
   * Words that mixed Latin letters with look-alikes, or were written in small capitals, or carried stray combining
   * marks (a homoglyph attack, not just Russian or Greek text).
   */
  homoglyphWords: number;
}

/**
 * Folds one word. A word is folded when it mixes Latin letters with look-alikes, or when every letter of it reads
 * as Latin: Russian and Greek words, which have letters with no Latin twin, stay as they are. It counts as a
 * disguise only when it mixes scripts or uses letters no orthography writes words with.
 */
function foldWord(word: string, amongDisguised = false): { text: string; disguised: boolean } {
  let ascii = false;
  let latinLookalike = false;
  let odd = false;
  let foreign = false;
  let unfoldable = false;
  const chars = [...word];
  // (MIXED_ONLY letters fold in a word with ASCII letters, or in any word of a text where other words are disguised.)
  const hasAscii = amongDisguised || /[A-Za-z]/.test(word);
  const foldOf = (c: string) => {
    const fold = FOLD.get(c);
    return fold?.mixedOnly && !hasAscii ? undefined : fold;
  };
  for (const c of chars) {
    const fold = foldOf(c);
    if (c < '\u0080') ascii = true;
    else if (!fold) unfoldable = true;
    else if (fold.foreign) foreign = true;
    else {
      latinLookalike = true;
      odd ||= fold.odd;
    }
  }
  if (unfoldable && !(ascii && foreign)) return { text: word, disguised: false };
  return { text: chars.map((c) => foldOf(c)?.to ?? c).join(''), disguised: odd || (foreign && (ascii || latinLookalike)) };
}

/** Combining marks right after a Latin letter, a space or punctuation (one run counts once): no spelling puts them there. */
const STRAY_MARKS = /(?<=[\p{Script=Latin}\s\p{P}])\p{M}+/gu;
/** Latin letters with a diacritic that decomposes (é, ï, ñ, ǧ …), and the letter without it. */
const UNACCENTED = new Map<string, string>();
for (let cp = 0xc0; cp <= 0x1eff; cp++) {
  const c = String.fromCodePoint(cp);
  const base = c.normalize('NFD').replace(/\p{M}/gu, '');
  if (base !== c && ASCII_LETTER.test(base)) UNACCENTED.set(c, base);
}
const ACCENTED = new RegExp(`[${[...UNACCENTED.keys()].join('')}]`, 'gu');
const unaccentedOf = (text: string) => text.replace(ACCENTED, (c) => UNACCENTED.get(c) ?? c);

/**
 * The mathematical letters (bold, italic, script, fraktur, double-struck …: 52 to a style, A to Z then a to z) that NFKC
 * leaves as they are: the holes of the block, where the letter was encoded earlier (ℯ, ℊ, ℴ, ℎ). Text that fills them
 * by offset, as a converter does, shows a box to a reader but the letter to a model.
 */
const MATH_LETTER_HOLE = /[\u{1D400}-\u{1D6A3}]/u;
const MATH_LETTER_HOLES = /[\u{1D400}-\u{1D6A3}]/gu;
const mathLetter = (offset: number) => (offset % 52 < 26 ? 65 + (offset % 52) : 97 + (offset % 52) - 26);

/** Printable ASCII, tab and newlines: nothing to normalize, fold or remove. */
const PLAIN_ASCII = /^[\t\n\r\x20-\x7e]*$/;

/**
 * The characters outside ASCII that normalizing leaves as they are, counts nothing for and folds nothing of: the
 * typographic quotes, dashes and bullets of office documents and mail, symbols and box drawing, Latin-1 letters, CJK
 * and Hangul. Found once, by asking each step below about every character of the blocks where ordinary text writes
 * them, so the set follows the steps when they change. Each is unchanged by NFKC and none is a combining mark or a
 * Hangul jamo, so no two of them compose into something else either (cage/normalize.test.ts checks the fast path
 * against the full one).
 */
export const UNCHANGED_BLOCKS: [number, number][] = [
  [0x00a0, 0x024f], // Latin-1 Supplement, Latin Extended-A and -B
  [0x0370, 0x03ff], // Greek
  [0x0400, 0x04ff], // Cyrillic
  [0x2010, 0x205e], // General Punctuation (quotes, dashes, bullets)
  [0x20a0, 0x20bf], // currency
  [0x2100, 0x214f], // letterlike symbols
  [0x2190, 0x22ff], // arrows, mathematical operators
  [0x2300, 0x27bf], // technical symbols, box drawing, shapes, dingbats
  [0x3000, 0x30ff], // CJK punctuation, kana
  [0x4e00, 0x9fff], // CJK ideographs
  [0xac00, 0xd7a3], // Hangul syllables
];
function unchangedCharacters(): RegExp {
  const steps = [ZERO_WIDTH, OTHER_INVISIBLE, OTHER_INVISIBLE_IN_LATIN, FILLER_IN_LATIN, EMOJI_JOINER, TAG_CHARS, BIDI, DIRECTIONAL_OPEN, MATH_LETTER_HOLE, STRAY_MARKS, FOLDABLE, /\p{M}/u].map(
    (re) => new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`),
  );
  const ranges: string[] = [];
  const hex = (cp: number) => `\\u${cp.toString(16).padStart(4, '0')}`;
  for (const [lo, hi] of UNCHANGED_BLOCKS) {
    const chars = Array.from({ length: hi - lo + 1 }, (_, i) => String.fromCharCode(lo + i));
    const kept = chars.map((c) => c.normalize('NFKC') === c);
    // Every step over the block's characters at once, each alone between ASCII letters and each doubled: a character
    // inside any match is left out (more than needed for a step that matches by context: that only costs speed).
    for (const text of [`a${chars.join('a')}a`, `a${chars.map((c) => c + c).join('a')}a`]) {
      const width = text.length === 2 * chars.length + 1 ? 2 : 3;
      for (const re of steps) {
        for (const m of text.matchAll(re)) {
          for (let at = m.index; at < m.index + Math.max(1, m[0].length); at++) if (at % width !== 0) kept[Math.floor(at / width)] = false;
        }
      }
    }
    for (let i = 0, from = -1; i <= chars.length; i++) {
      if (i < chars.length && kept[i]) from = from < 0 ? i : from;
      else if (from >= 0) {
        ranges.push(from === i - 1 ? hex(lo + from) : `${hex(lo + from)}-${hex(lo + i - 1)}`);
        from = -1;
      }
    }
  }
  return new RegExp(`^[\\t\\n\\r\\x20-\\x7e${ranges.join('')}]*$`);
}
/**
 * Printable ASCII, tab, newlines and the characters above: nothing to remove, fold or recompose. Made when the first
 * text outside ASCII comes (about 25 ms), not when the module loads.
 */
let unchangedText: RegExp | undefined;

export function normalize(input: string): Normalized {
  if (PLAIN_ASCII.test(input)) return { text: input, invisible: 0, tags: 0, bidi: 0, homoglyphWords: 0 };
  if ((unchangedText ??= unchangedCharacters()).test(input)) {
    const unaccented = unaccentedOf(input);
    return { text: input, ...(unaccented !== input ? { unaccented } : {}), invisible: 0, tags: 0, bidi: 0, homoglyphWords: 0 };
  }
  return normalizeFully(input);
}

/** normalize without the shortcut for text of UNCHANGED_BLOCKS' characters that change nothing (exported for its test). */
export function normalizeFully(input: string): Normalized {
  const invisible =
    (input.match(ZERO_WIDTH)?.length ?? 0) - (input.match(EMOJI_JOINER)?.length ?? 0) + (input.match(OTHER_INVISIBLE_IN_LATIN)?.length ?? 0) + (input.match(FILLER_IN_LATIN)?.length ?? 0);
  const tagged = input.includes('\u{1F3F4}') ? input.replace(EMOJI_TAG_SEQUENCE, '\u{1F3F4}') : input;
  const tagChars = tagged.match(TAG_CHARS);
  const tags = tagChars?.length ?? 0;
  const hidden = tagChars ? tagChars.map((c) => String.fromCharCode(c.codePointAt(0)! - 0xe0000)).join('') : undefined;
  const bidiControls = input.match(BIDI)?.length ?? 0;
  const bidi = bidiControls > 0 ? hidingBidi(input, bidiControls) : 0;
  const visual = DIRECTIONAL_OPEN.test(input) ? normalize(input.replace(DIRECTIONAL_RUN, (_m, run: string) => [...run].reverse().join(''))).text : undefined;
  let text = input.normalize('NFKC').replace(ZERO_WIDTH, '').replace(OTHER_INVISIBLE, '').replace(FILLER_IN_LATIN, ' ').replace(TAG_CHARS, '').replace(BIDI, '');
  if (MATH_LETTER_HOLE.test(text)) text = text.replace(MATH_LETTER_HOLES, (c) => String.fromCharCode(mathLetter(c.codePointAt(0)! - 0x1d400)));
  let homoglyphWords = 0;
  // Marks that NFKC could not compose onto a Latin letter (I̸g̸n̸o̸r̸e̸, i̇) are decoration that splits words: gone,
  // and the words they sat on count as disguised. Marks on other scripts' letters are part of their spelling.
  text = text.replace(STRAY_MARKS, () => {
    homoglyphWords += 1;
    return '';
  });
  if (FOLDABLE.test(text)) {
    text = text.replace(/\p{L}+/gu, (word) => {
      if (!FOLDABLE.test(word)) return word;
      const folded = foldWord(word);
      if (folded.disguised) homoglyphWords += 1;
      return folded.text;
    });
    // In text already disguised, a word of look-alikes only (`τεχτ` beside `Ιgnοrε`) is one more: Greek or Russian
    // prose has no disguised word, and is not read so.
    if (homoglyphWords > 0 && FOLDABLE.test(text)) text = text.replace(/\p{L}+/gu, (word) => (FOLDABLE.test(word) ? foldWord(word, true).text : word));
  }
  const unaccented = unaccentedOf(text);
  return { text, ...(unaccented !== text ? { unaccented } : {}), invisible, tags, bidi, homoglyphWords, ...(hidden ? { hidden } : {}), ...(visual !== undefined ? { visual } : {}) };
}
