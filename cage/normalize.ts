/**
 * Text normalization before injection matching: NFKC, invisible characters (zero-width, Unicode tags, bidi
 * controls) found and removed so they cannot split a trigger word, and a fold of the letters that look Latin but
 * that NFKC leaves alone (Cyrillic, Greek, Cherokee, Lisu, dotless ı, small capitals, …). Linear in the input.
 */
import UNICODE_CONFUSABLES from 'unhomoglyph/data.json';

export const ZERO_WIDTH = /[\u200B-\u200D\u2060\uFEFF\u00AD\u180E]/g;
/** A zero-width joiner between emoji (👩‍💻, 👨‍👩‍👧) is how those are spelled, not hiding. */
const EMOJI_JOINER = /(?<=[\uD800-\uDFFF]|\uFE0F)\u200D(?=[\uD800-\uDFFF])/g;
export const TAG_CHARS = /[\u{E0000}-\u{E007F}]/gu;
/**
 * An emoji tag sequence: the black flag and a region's code in tag letters, closed by CANCEL TAG (England is
 * 🏴 + "gbeng" + U+E007F). That is how those flags are spelled (Unicode TS #51), not hidden text.
 */
const EMOJI_TAG_SEQUENCE = /\u{1F3F4}[\u{E0030}-\u{E0039}\u{E0061}-\u{E007A}]{2,7}\u{E007F}/gu;
export const BIDI = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;
/** A right-to-left override up to its pop (or the line's end): its letters display in reverse order. */
const RTL_OVERRIDE = /\u202E([^\u202C\n]*)\u202C?/g;

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
  bidi: number;
  /** What the tag characters spell, as ASCII (they are an invisible copy of it), when there are any. */
  hidden?: string;
  /** The text as displayed, when a right-to-left override reverses a run of it (what a reader, and a model, sees). */
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
function foldWord(word: string): { text: string; disguised: boolean } {
  let ascii = false;
  let latinLookalike = false;
  let odd = false;
  let foreign = false;
  let unfoldable = false;
  const chars = [...word];
  for (const c of chars) {
    const fold = FOLD.get(c);
    if (c < '\u0080') ascii = true;
    else if (!fold) unfoldable = true;
    else if (fold.foreign) foreign = true;
    else {
      latinLookalike = true;
      odd ||= fold.odd;
    }
  }
  if (unfoldable && !(ascii && foreign)) return { text: word, disguised: false };
  return { text: chars.map((c) => FOLD.get(c)?.to ?? c).join(''), disguised: odd || (foreign && (ascii || latinLookalike)) };
}

/** Combining marks right after a Latin letter (one run counts once). */
const STRAY_MARKS = /(?<=\p{Script=Latin})\p{M}+/gu;
/** Latin letters with a diacritic that decomposes (é, ï, ñ, ǧ …), and the letter without it. */
const UNACCENTED = new Map<string, string>();
for (let cp = 0xc0; cp <= 0x1eff; cp++) {
  const c = String.fromCodePoint(cp);
  const base = c.normalize('NFD').replace(/\p{M}/gu, '');
  if (base !== c && ASCII_LETTER.test(base)) UNACCENTED.set(c, base);
}
const ACCENTED = new RegExp(`[${[...UNACCENTED.keys()].join('')}]`, 'gu');

/** Printable ASCII, tab and newlines: nothing to normalize, fold or remove. */
const PLAIN_ASCII = /^[\t\n\r\x20-\x7e]*$/;

export function normalize(input: string): Normalized {
  if (PLAIN_ASCII.test(input)) return { text: input, invisible: 0, tags: 0, bidi: 0, homoglyphWords: 0 };
  const invisible = (input.match(ZERO_WIDTH)?.length ?? 0) - (input.match(EMOJI_JOINER)?.length ?? 0);
  const tagged = input.includes('\u{1F3F4}') ? input.replace(EMOJI_TAG_SEQUENCE, '\u{1F3F4}') : input;
  const tagChars = tagged.match(TAG_CHARS);
  const tags = tagChars?.length ?? 0;
  const hidden = tagChars ? tagChars.map((c) => String.fromCharCode(c.codePointAt(0)! - 0xe0000)).join('') : undefined;
  const bidi = input.match(BIDI)?.length ?? 0;
  const visual = input.includes('\u202E') ? normalize(input.replace(RTL_OVERRIDE, (_m, run: string) => [...run].reverse().join(''))).text : undefined;
  let text = input.normalize('NFKC').replace(ZERO_WIDTH, '').replace(TAG_CHARS, '').replace(BIDI, '');
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
  }
  const unaccented = text.replace(ACCENTED, (c) => UNACCENTED.get(c) ?? c);
  return { text, ...(unaccented !== text ? { unaccented } : {}), invisible, tags, bidi, homoglyphWords, ...(hidden ? { hidden } : {}), ...(visual !== undefined ? { visual } : {}) };
}
