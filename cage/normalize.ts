/**
 * Text normalization before injection matching: NFKC, invisible characters (zero-width, Unicode tags, bidi
 * controls) found and removed so they cannot split a trigger word, and a confusables fold of the Cyrillic and
 * Greek letters that look Latin. Linear in the input.
 */
export const ZERO_WIDTH = /[\u200B-\u200D\u2060\uFEFF\u00AD\u180E]/g;
export const TAG_CHARS = /[\u{E0000}-\u{E007F}]/gu;
export const BIDI = /[\u202A-\u202E\u2066-\u2069\u200E\u200F\u061C]/g;

/** Letters that render like Latin ones (Cyrillic, Greek), mapped to the Latin letter. */
const CONFUSABLES: Record<string, string> = {
  а: 'a', в: 'b', е: 'e', к: 'k', м: 'm', н: 'h', о: 'o', р: 'p', с: 'c', т: 't', у: 'y', х: 'x', і: 'i', ј: 'j', ѕ: 's', ԁ: 'd', ɡ: 'g', ո: 'n', ս: 'u',
  А: 'A', В: 'B', Е: 'E', К: 'K', М: 'M', Н: 'H', О: 'O', Р: 'P', С: 'C', Т: 'T', У: 'Y', Х: 'X', І: 'I', Ј: 'J', Ѕ: 'S',
  α: 'a', ο: 'o', ρ: 'p', ν: 'v', ι: 'i', κ: 'k', τ: 't', υ: 'u', χ: 'x', Α: 'A', Β: 'B', Ε: 'E', Ζ: 'Z', Η: 'H', Ι: 'I', Κ: 'K', Μ: 'M', Ν: 'N', Ο: 'O', Ρ: 'P', Τ: 'T', Υ: 'Y', Χ: 'X',
};
const CONFUSABLE_RE = new RegExp(`[${Object.keys(CONFUSABLES).join('')}]`, 'g');

export interface Normalized {
  text: string;
  invisible: number;
  tags: number;
  bidi: number;
  /** Words that mixed Latin letters with look-alikes (a homoglyph attack, not just Russian or Greek text). */
  homoglyphWords: number;
}

/** Printable ASCII, tab and newlines: nothing to normalize, fold or remove. */
const PLAIN_ASCII = /^[\t\n\r\x20-\x7e]*$/;

export function normalize(input: string): Normalized {
  if (PLAIN_ASCII.test(input)) return { text: input, invisible: 0, tags: 0, bidi: 0, homoglyphWords: 0 };
  const invisible = input.match(ZERO_WIDTH)?.length ?? 0;
  const tags = input.match(TAG_CHARS)?.length ?? 0;
  const bidi = input.match(BIDI)?.length ?? 0;
  let text = input.normalize('NFKC').replace(ZERO_WIDTH, '').replace(TAG_CHARS, '').replace(BIDI, '');
  let homoglyphWords = 0;
  if (CONFUSABLE_RE.test(text)) {
    CONFUSABLE_RE.lastIndex = 0;
    text = text.replace(/[\p{L}]+/gu, (word) => {
      if (!/[A-Za-z]/.test(word) || !CONFUSABLE_RE.test(word)) {
        CONFUSABLE_RE.lastIndex = 0;
        return word;
      }
      CONFUSABLE_RE.lastIndex = 0;
      homoglyphWords += 1;
      return word.replace(CONFUSABLE_RE, (c) => CONFUSABLES[c] ?? c);
    });
  }
  return { text, invisible, tags, bidi, homoglyphWords };
}
