/**
 * The learned half of the injection detector: a logistic regression over hashed word features, scored per segment
 * (a sentence, a line, a field of a record), the text's score being its most instruction-like segment's. An
 * instruction planted in a document is one sentence among many ordinary ones: averaged over the whole text it would
 * vanish, taken per segment it stands out. Trained by scripts/train-injection-model.ts; the weights, the data's
 * sha256 and the seed are in injection-weights.json.
 *
 * One pass over the characters, no allocation per word or feature (the hashing trick: a feature is an index into the
 * weight table), so the model costs a small, fixed amount per byte whatever the text.
 */
// Not `injection-model.json`: beside this file, Node's own resolution (jest's global setup, which requires through a
// hook) would take `./injection-model` for the JSON, which it tries before `.ts`.
import MODEL_FILE from './injection-weights.json';
import type { GateWords } from './gate-words';

export type ModelChannel = 'direct' | 'indirect';

/** Bits of the hashed feature space: 2^18 weights per channel. */
export const FEATURE_BITS = 18;
const SHIFT = 32 - FEATURE_BITS;
/** A segment shorter than this many words is not scored: too little to read as an instruction. */
export const MIN_WORDS = 3;
/** A longer run without a break is cut into segments of this many words (minified text, one-line dumps). */
export const MAX_WORDS = 48;

// Seeds that keep the kinds of feature apart in the one hashed space.
const BIGRAM = 0x2f6b_1d3b;
const FIRST = 0x51ed_270b;
const SECOND = 0x6c8e_9cf5;
const PREFIX = 0x7a3c_4d1f;
const LENGTH = 0x1b87_3593;
const END = 0x3c6e_f372;
const OPENING = 0x4b9d_2a61;
const SKIP = 0x2545_f491;
const ADDRESS = 0x68e3_1da4;
const LAST = 0x0d1b_54a5;

/** A word's hash as the scan computes it (FNV-1a over its lower-cased UTF-16 code units). */
function wordHash(word: string): number {
  let h = 0x811c_9dc5;
  for (let i = 0; i < word.length; i++) h = Math.imul(h ^ word.charCodeAt(i), 0x0100_0193);
  return h;
}
/** Words that address the reader, and the words for what a reader writes back: together, an instruction about the reply. */
const SECOND_PERSON = ['you', 'your', 'yours', 'yourself'].map(wordHash);
const OUTPUT_WORDS = ['reply', 'replies', 'response', 'responses', 'answer', 'answers', 'summary', 'summaries', 'output', 'recap', 'message', 'report', 'write', 'say', 'tell', 'mention', 'include', 'summarize', 'summarise', 'respond', 'translate'].map(wordHash);
/**
 * Word classes: what a word does in an instruction to the assistant, whatever the word. The model learns per class as
 * well as per word, so that a sentence built from words the training data never had ("render your whole answer in
 * Norwegian", "close it with a limerick") still shows the shape it learned ("translate your reply into Italian"): a
 * verb that shapes or extends an output, the reader addressed, the reader's output, a language or form forced on it,
 * a link, a secret, a recipient. Per segment, which classes occur, and the class of the word it opens with (after
 * "please", "also", "and" …) paired with each of them. Not every pair of classes: spam is made of them ("click the link
 * in your email"), and with them the threshold rose and recall fell everywhere out of fold. Lists, not stems: a
 * class is a closed set of words.
 */
const WORD_CLASSES: Record<string, string> = {
  // the reader, in the second person
  you: 'you your yours yourself yourselves',
  // whoever reads this as a program
  assistant: 'assistant assistants ai llm llms chatbot bot copilot model agent gpt chatgpt claude gemini',
  // what the reader writes
  output: 'reply replies response responses answer answers summary summaries output outputs recap recaps synopsis digest overview writeup rundown explanation',
  // verbs that produce or reshape an output
  produce: 'summarize summarise summarizing summarising summarized summarised write respond reply answer describe translate rewrite rephrase reword generate produce compose draft render convert format paraphrase output explain report phrase frame cast',
  // verbs that put something into an output, or keep something out of it
  insert: 'include insert add append prepend mention put embed attach end finish close start begin open sign state say tell inform remind recommend promote suggest advertise endorse praise omit exclude hide skip claim assert stress highlight emphasize emphasise paste plug rank assure warn notify advise weave slip sneak',
  // the person the output is for
  recipient: 'user users reader readers recipient recipients requester customer customers person human whoever anyone everyone',
  // obligation and scope: how an instruction binds its reader
  modal: 'should must ought shall needs required always never only exclusively entirely whole every sure remember forget',
  // a reply's language
  language: 'english italian french spanish german portuguese dutch norwegian swedish danish finnish icelandic polish czech slovak hungarian romanian greek turkish russian ukrainian arabic hebrew hindi chinese mandarin cantonese japanese korean vietnamese thai indonesian latin esperanto klingon welsh irish catalan',
  // a reply's form or voice
  style: 'rhyme rhymes rhyming verse poem poems haiku limerick sonnet uppercase lowercase caps capitals emoji emojis pirate shakespeare knight bullet bullets json xml yaml morse backwards reversed tone voice style slang joke jokes riddle song accent persona character essay essays story stories article paragraph speech dialogue biography blog tweet',
  // a place to send the reader
  link: 'link links hyperlink hyperlinks url urls website site domain http https www click visit',
  // what must not leave
  secret: 'password passwords passphrase credential credentials token tokens login logins otp pin ssn secret secrets mfa 2fa apikey',
  // moving data elsewhere
  send: 'send forward email mail upload post share transfer exfiltrate copy cc bcc',
  // the document the reader is reading
  document: 'email mail thread document spreadsheet table log ticket file page conversation message messages text content note chat sheet csv',
  // words that soften or chain an imperative; the word after them is the imperative
  soft: 'please kindly also additionally and then so now just furthermore moreover finally lastly',
};
/** Class names in bit order. */
export const CLASS_NAMES = Object.keys(WORD_CLASSES);
const SOFT = 1 << CLASS_NAMES.indexOf('soft');
/**
 * Two more bits in the lexicon below, beside the classes: the word is one of SECOND_PERSON, or one of OUTPUT_WORDS (what
 * a segment addresses: 1 for the reader, else 2 for the reader's output). One probe per word finds both.
 */
const SECOND_PERSON_BIT = 1 << 14;
const OUTPUT_BIT = 1 << 15;
const CLASS_MASK = SECOND_PERSON_BIT - 1;
if (CLASS_NAMES.length > 14) throw new Error('injection model: more word classes than the lexicon has bits for');
/**
 * The classes by word hash, in a small open-addressed table: one probe per word for almost every word, no map or
 * string. A word may be in more than one class ("reply" is an output and a verb that produces one).
 */
const LEXICON_BITS = 12;
const LEXICON_KEYS = new Int32Array(1 << LEXICON_BITS);
const LEXICON_CLASSES = new Uint32Array(1 << LEXICON_BITS);
function addToLexicon(h: number, bits: number): void {
  let i = h >>> (32 - LEXICON_BITS);
  while (LEXICON_KEYS[i] !== 0 && LEXICON_KEYS[i] !== h) i = (i + 1) & ((1 << LEXICON_BITS) - 1);
  LEXICON_KEYS[i] = h;
  LEXICON_CLASSES[i] = LEXICON_CLASSES[i]! | bits;
}
for (const [bit, name] of CLASS_NAMES.entries()) for (const word of WORD_CLASSES[name]!.split(' ')) addToLexicon(wordHash(word) | 0, 1 << bit);
for (const h of SECOND_PERSON) addToLexicon(h | 0, SECOND_PERSON_BIT);
for (const h of OUTPUT_WORDS) addToLexicon(h | 0, OUTPUT_BIT);
/** The classes of the word with hash `h` (0 for most words), and its SECOND_PERSON_BIT and OUTPUT_BIT. */
function classesOf(h: number): number {
  let i = h >>> (32 - LEXICON_BITS);
  for (;;) {
    const k = LEXICON_KEYS[i]!;
    if (k === h) return LEXICON_CLASSES[i]!;
    if (k === 0) return 0;
    i = (i + 1) & ((1 << LEXICON_BITS) - 1);
  }
}
/**
 * Where a word gate of the detector may match (gate-words.ts), told by markGateWords and found by the scan in the
 * words it reads anyway. In the lexicon beside the classes: GATE_WORD for a word a gate starts with, GATE_FIRST for
 * the first of a pair of words one starts with; the pairs in a table of their own, keyed like the model's bigram
 * (`mix(prev, h)`) or by the second word's first five letters (`mix(prev, prefix)`), looked up only after a
 * GATE_FIRST word; and the prefixes a gate's first word may have (few), by their first two letters, then compared.
 * The scan reports a text where none of them occurs (SegmentScore.wordGate), which then skips the expression of the
 * word gates. Words are the gates' runs of `\w` in plain ASCII text, but for an apostrophe inside a word (`let's`):
 * the scan reads one word, the gates' `\b` two runs (JOINED: such text is left to the expression).
 */
const GATE_WORD = 1 << 16;
const GATE_FIRST = 1 << 17;
const JOINED = 1 << 18;
/** A word a gate starts with when white space or nothing, then one of GATE_FOLLOWERS, follows it (`system\s*:`). */
const GATE_FOLLOWED = 1 << 19;
const GATE_FOLLOWERS = new Uint8Array(128);
/** Whether white space or nothing, then one of GATE_FOLLOWERS, comes at `at` (after a GATE_FOLLOWED word). */
function followerAt(text: string, at: number): boolean {
  let c = text.charCodeAt(at);
  // (`\s` in ASCII.)
  while (c === 32 || (c >= 9 && c <= 13)) c = text.charCodeAt(++at);
  return c < 128 && GATE_FOLLOWERS[c] === 1;
}
/**
 * A word that says the text may be respelled rather than written, told by markRespelledWords (the detector then tries
 * reading it back: see respellings in injection-detector.ts); and a word with digits of a shape that says so too (see
 * digitWordSigns). The scan reports either (SegmentScore.respelled), so that text without one pays nothing more.
 */
const RESPELLED = 1 << 20;
/** A word of one letter (told by markRespelledWords too): a sign when two more such words follow it (see spacedLettersAt). */
const SINGLE_LETTER = 1 << 21;
/** The signs apart in the scan's `seen`: letter-spaced text, and a word with digits of respelled text's shape. */
const SPACED_LETTERS = 1 << 22;
const LEET_SHAPE = 1 << 23;
const HEX_BYTES = 1 << 24;
/** A separator of letter-spaced text: a space, a tab, a line break (text written downwards), `.`, `-`, `*`, `|`, `·`. */
const LETTER_SEPARATOR = (c: number) => c === 32 || c === 10 || c === 9 || c === 46 || c === 45 || c === 42 || c === 124 || c === 0xb7;
/**
 * Whether two more one-letter words follow the one that ends at `at`, one separator apart or two of the same (`g n o`,
 * `g.n.o`, `g  n  o`; not the options of a command, `-n 1 -d`).
 */
function spacedLettersAt(text: string, at: number): boolean {
  for (let k = 0; k < 2; k++) {
    const separator = text.charCodeAt(at);
    if (!LETTER_SEPARATOR(separator)) return false;
    if (text.charCodeAt(++at) === separator) at++;
    const c = text.charCodeAt(at++);
    if (c <= 57 || !isWordCode(c)) return false;
  }
  return at >= text.length || !isWordCode(text.charCodeAt(at));
}
/** (A code unit of the text: NaN past its end is none.) */
const isWordCode = (c: number) => (CLASS[c]! & KIND) <= UPPER;
const GATE_PAIR_BITS = 12;
const GATE_PAIRS = new Int32Array(1 << GATE_PAIR_BITS);
/** By a key's top 16 bits: whether a pair may have it (most keys are ruled out here, without a call). */
const GATE_PAIR_FILTER = new Uint8Array(1 << 16);
/**
 * By a word's first code unit (cut to 7 bits), then by its first two (lower-cased, cut to 7 bits): whether a gate
 * prefix may start so.
 */
const GATE_PREFIX_FIRST = new Uint8Array(128);
const GATE_PREFIX_START = new Uint8Array(1 << 14);
const prefixStart = (c0: number, c1: number) => (((c0 | 32) & 127) << 7) | ((c1 | 32) & 127);
const GATE_PREFIXES: string[] = [];
let gateWordsMarked = false;
/** (0 is an empty slot: a key of 0 is stored as 1.) */
function addGatePair(key: number): void {
  const k = key === 0 ? 1 : key | 0;
  GATE_PAIR_FILTER[key >>> 16] = 1;
  GATE_PAIR_FILTER[k >>> 16] = 1;
  let i = k >>> (32 - GATE_PAIR_BITS);
  while (GATE_PAIRS[i] !== 0 && GATE_PAIRS[i] !== k) i = (i + 1) & ((1 << GATE_PAIR_BITS) - 1);
  GATE_PAIRS[i] = k;
}
function isGatePair(key: number): boolean {
  const k = key === 0 ? 1 : key;
  for (let i = k >>> (32 - GATE_PAIR_BITS); ; i = (i + 1) & ((1 << GATE_PAIR_BITS) - 1)) {
    if (GATE_PAIRS[i] === k) return true;
    if (GATE_PAIRS[i] === 0) return false;
  }
}
/** Whether the text at `start` (plain ASCII) starts with one of GATE_PREFIXES, case-insensitively. */
function startsWithGatePrefix(text: string, start: number): boolean {
  next: for (const p of GATE_PREFIXES) {
    for (let j = 0; j < p.length; j++) {
      const c = text.charCodeAt(start + j);
      if ((c >= 65 && c <= 90 ? c | 32 : c) !== p.charCodeAt(j)) continue next;
    }
    return true;
  }
  return false;
}
const WORD_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789_';
/**
 * Where the detector's word gates may match, from gate-words.ts: then a scan of plain ASCII text says whether any such
 * place is in it (SegmentScore.wordGate). Cumulative; without it, every scan says there may be one.
 */
export function markGateWords(g: GateWords): void {
  const add = (word: string, bit: number) => addToLexicon(wordHash(word) | 0, bit);
  for (const w of g.words) add(w, GATE_WORD);
  for (const p of g.prefixes) {
    GATE_PREFIXES.push(p);
    GATE_PREFIX_FIRST[p.charCodeAt(0) & 127] = 1;
    GATE_PREFIX_FIRST[p.toUpperCase().charCodeAt(0) & 127] = 1;
    // (A one-letter prefix: any code unit after it.)
    if (p.length === 1) for (let c = 0; c < 128; c++) GATE_PREFIX_START[prefixStart(p.charCodeAt(0), c)] = 1;
    else GATE_PREFIX_START[prefixStart(p.charCodeAt(0), p.charCodeAt(1))] = 1;
  }
  for (const [word, follower] of g.followed) {
    add(word, GATE_FOLLOWED);
    GATE_FOLLOWERS[follower.charCodeAt(0) & 127] = 1;
  }
  for (const [a, b] of g.pairs) {
    add(a, GATE_FIRST);
    addGatePair(mix(wordHash(a), wordHash(b)));
  }
  for (const [a, b] of g.pairPrefixes) {
    // The scan keys a word of five letters or more by its first five too: a longer prefix is its first five; one of
    // four is itself (the word) or any of its five-letter continuations; a shorter one leaves the first word alone.
    add(a, GATE_FIRST);
    if (b.length >= 5) addGatePair(mix(wordHash(a), wordHash(b.slice(0, 5))));
    else if (b.length === 4) {
      addGatePair(mix(wordHash(a), wordHash(b)));
      for (const c of WORD_CHARS) addGatePair(mix(wordHash(a), wordHash(b + c)));
    } else add(a, GATE_WORD);
  }
  gateWordsMarked = true;
}

export const RESPELLED_WORDS = 1;
export const RESPELLED_SPACED = 4;
export const RESPELLED_LEET = 8;
export const RESPELLED_HEX = 16;
/** Words (letters only: a word with digits hashes as its length) that make a scan report `respelled`. Cumulative. */
export function markRespelledWords(words: Iterable<string>): void {
  for (const w of words) {
    if (/\d/.test(w)) throw new Error(`injection model: cannot mark ${JSON.stringify(w)} as respelled, it has a digit`);
    addToLexicon(wordHash(w) | 0, w.length === 1 ? SINGLE_LETTER : RESPELLED);
  }
}

const CLASS_ONE = 0x3f2a_8b17;
const LEAD_CLASS = 0x19a4_6f2b;

/** Every word with a digit in it hashes as its length alone: numbers, ids, versions and addresses say little. */
const DIGITS = 0x5be0_cd19;

const index = (h: number) => Math.imul(h, 0x9e37_79b1) >>> SHIFT;
const mix = (a: number, b: number) => Math.imul(a ^ Math.imul(b, 0x85eb_ca6b), 0xc2b2_ae35) ^ (b >>> 13);

/** What a character does to the scan: part of a word (upper-case ASCII to fold), an apostrophe, a break, an end. */
const WORD = 0;
const UPPER = 1;
const APOSTROPHE = 2;
const BREAK = 3;
const STOP = 4;
const QUESTION = 5;
const EXCLAMATION = 6;
const OTHER = 7;

/**
 * One entry per UTF-16 code unit: letters (of any script), digits, `_` and marks are word characters; a line or cell
 * end, a record's field or a markup tag ends the segment; `.`, `!` and `?` end it when a sentence ends there.
 * Punctuation blocks, symbols and surrogates (emoji) are neither.
 */
/** In CLASS beside the character's kind (its low three bits): base64's alphabet (URL-safe's too), and `%`. */
const BASE64_CHAR = 8;
const PERCENT = 16;
/**
 * Two more bits for the detector's first look at a text, from the same look-up: a code unit outside printable ASCII,
 * tab and line breaks (the text then needs normalizing, see normalize.ts), and a character the detector asked to be
 * told about (markCharacters: those a symbol gate starts with).
 */
const NOT_PLAIN = 32;
const MARKED = 64;
/** A character of a kind that may end a segment (an apostrophe, a break, `.`, `?`, `!`): most characters between words are none. */
const MAY_END = 128;
const KIND = 7;
const CLASS = (() => {
  const t = new Uint8Array(0x10000).fill(OTHER);
  for (let c = 0xc0; c < 0x10000; c++) {
    if (!((c >= 0x2000 && c <= 0x2bff) || (c >= 0x3000 && c <= 0x303f) || (c >= 0xd800 && c <= 0xdfff) || c === 0xfeff || c === 0xd7 || c === 0xf7)) t[c] = WORD;
  }
  for (let c = 48; c <= 57; c++) t[c] = WORD;
  for (let c = 97; c <= 122; c++) t[c] = WORD;
  // An identifier (`bank_account_number`) is one word, not a phrase.
  t[95] = WORD;
  for (let c = 65; c <= 90; c++) t[c] = UPPER;
  for (const c of '\n\r\t|{}[]<>"`') t[c.charCodeAt(0)] = BREAK;
  t[39] = APOSTROPHE;
  t[46] = STOP;
  t[0x3002] = STOP;
  t[63] = QUESTION;
  t[0xff1f] = QUESTION;
  t[33] = EXCLAMATION;
  t[0xff01] = EXCLAMATION;
  // ASCII characters of encoded text, for the detector's first pass (see injection-detector.ts): a run of base64's
  // alphabet, or `%` (of a URL escape). Read from the same table as the kind: one look-up per character.
  for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+/-') t[c.charCodeAt(0)] = t[c.charCodeAt(0)]! | BASE64_CHAR;
  t[37] = t[37]! | PERCENT;
  // (And the characters escapes start with, `\` and `&`, under the same bit: see `escape` in SegmentScore.)
  t[92] = t[92]! | PERCENT;
  t[38] = t[38]! | PERCENT;
  // Printable ASCII, tab and line breaks are plain (normalize.ts's PLAIN_ASCII): every other code unit is not.
  for (let c = 0; c < 0x10000; c++) if (!((c >= 0x20 && c <= 0x7e) || c === 9 || c === 10 || c === 13)) t[c] = t[c]! | NOT_PLAIN;
  for (let c = 0; c < 0x10000; c++) if ((t[c]! & KIND) >= APOSTROPHE && (t[c]! & KIND) <= EXCLAMATION) t[c] = t[c]! | MAY_END;
  return t;
})();

/**
 * Characters whose presence a scan reports (SegmentScore.marked): the detector's symbol gates start with them, so
 * that text without any of them skips those gates without searching the text for each.
 */
export function markCharacters(chars: Iterable<string>): void {
  for (const c of chars) {
    if (c.length !== 1) throw new Error(`injection model: cannot mark ${JSON.stringify(c)}, not one UTF-16 code unit`);
    CLASS[c.charCodeAt(0)] = CLASS[c.charCodeAt(0)]! | MARKED;
  }
}

const HEX = (c: number) => (c >= 48 && c <= 57) || ((c | 32) >= 97 && (c | 32) <= 102);
/** A separator of hex bytes: a space, `:`, `,`, `-`. */
const BYTE_SEPARATOR = (c: number) => c === 32 || c === 58 || c === 44 || c === 45;
/** How many hex bytes in a row make a sign of hidden text (a MAC address has six; the detector decodes eight or more). */
const SPELLED_BYTES = 8;
/** Whether SPELLED_BYTES hex bytes start at `at`, each maybe written `0x69`, apart by one or two separators. */
function hexBytesAt(text: string, at: number): boolean {
  for (let k = 0; k < SPELLED_BYTES; k++) {
    if (text.charCodeAt(at) === 48 && (text.charCodeAt(at + 1) | 32) === 120) at += 2;
    if (!HEX(text.charCodeAt(at)) || !HEX(text.charCodeAt(at + 1))) return false;
    at += 2;
    if (k === SPELLED_BYTES - 1) return !HEX(text.charCodeAt(at));
    if (!BYTE_SEPARATOR(text.charCodeAt(at))) return false;
    at += BYTE_SEPARATOR(text.charCodeAt(at + 1)) ? 2 : 1;
  }
  return true;
}
const LEET_DIGIT = (c: number) => c === 48 || c === 49 || c === 51 || c === 52 || c === 53 || c === 55;
const LETTER_CODE = (c: number) => (c | 32) >= 97 && (c | 32) <= 122;
/**
 * The signs a word with digits (`len` code units from `start`) gives of respelled text: HEX_BYTES when it is the first
 * of hex bytes spelled apart (`69 67 6e …`, `69:67:6e …`, `0x69, 0x67 …`: every byte of an ASCII letter has a digit);
 * LEET_SHAPE when it is shaped like leetspeak: a letter beyond the hex digits, and one of 0, 1, 3, 4, 5, 7 between two
 * letters (`y0u`, `pr3v10u5`) or two of them with a letter between (`7h3`, `1gn0r3`). Not an ordinal, a size, a
 * version or a hash (`1st`, `100m`, `win10`, `3f2a9c`).
 */
function digitWordSigns(text: string, start: number, len: number): number {
  if (len === 2 || (len === 4 && text.charCodeAt(start) === 48 && (text.charCodeAt(start + 1) | 32) === 120)) return hexBytesAt(text, start) ? HEX_BYTES : 0;
  // (A leet word is a word's length: a longer run, base64 or a hash, is not asked.)
  if (len < 3 || len > 24) return 0;
  let beyondHex = false;
  let between = false;
  let lastLeet = -1;
  let letterSinceLeet = false;
  for (let j = start; j < start + len; j++) {
    const c = text.charCodeAt(j);
    if (LETTER_CODE(c)) {
      beyondHex ||= (c | 32) > 102;
      letterSinceLeet ||= lastLeet >= 0;
    } else if (LEET_DIGIT(c)) {
      between ||= (j > start && LETTER_CODE(text.charCodeAt(j - 1)) && j + 1 < start + len && LETTER_CODE(text.charCodeAt(j + 1))) || letterSinceLeet;
      lastLeet = j;
      letterSinceLeet = false;
    }
  }
  return beyondHex && between && !TECH_TOKEN.test(text.slice(start, start + len)) ? LEET_SHAPE : 0;
}
/**
 * Names with a digit inside that IT text is full of (`md5sum`, `sha1sum`, `ps1xml`, `m4a`, `log4j`), sizes (`428x270`)
 * and character codes (`x4e00`): no sign of leetspeak.
 */
const TECH_TOKEN = /md5|sha1|ps1|m4a|mp3|mp4|log4|x509|ipv4|^\d+x\d+$|^x[0-9a-f]+$/i;
/** The length of a run of base64's alphabet that reads as encoded data (the detector then decodes and reads it). */
export const ENCODED_RUN_LENGTH = 24;
/** The shortest run of hex digits the detector decodes (see injection-detector.ts). */
export const HEX_RUN_LENGTH = 32;

/** After a `.`, `!` or `?`, what makes it a sentence's end: a space, a quote, a break, a bracket (not `example.com`, `3.5`). */
const AFTER_END = (() => {
  const t = new Uint8Array(0x10000);
  for (const c of [32, 39, 34, 10, 13, 9, 41, 0xa0]) t[c] = 1;
  return t;
})();

export interface ChannelWeights {
  weights: Int8Array;
  scale: number;
  bias: number;
  /** The logit at or above which a segment counts as an instruction (tuned on training data only). */
  threshold: number;
}

export interface ModelFile {
  version: string;
  featureBits: number;
  seed: number;
  data: { name: string; sha256: string; rows: number }[];
  /**
   * The sha256 of the features the scan reads from the training texts every clone has (the texts packages ship and the
   * project's synthetic sentences, see scripts/injection-features.ts): a change to normalize.ts or to the scan's
   * features that would make retraining give other weights changes it, and the model's test then says to retrain.
   */
  features: { sha256: string; texts: number };
  /** Per channel; a channel without weights is left to the rules (user messages: see the training script). */
  channels: Partial<Record<ModelChannel, { weights: string; scale: number; bias: number; threshold: number }>>;
}

export function loadChannel(c: NonNullable<ModelFile['channels'][ModelChannel]>): ChannelWeights {
  const bytes = Buffer.from(c.weights, 'base64');
  if (bytes.length !== 1 << FEATURE_BITS) throw new Error(`injection model: ${bytes.length} weights, expected ${1 << FEATURE_BITS}`);
  return { weights: new Int8Array(bytes.buffer, bytes.byteOffset, bytes.length), scale: c.scale, bias: c.bias, threshold: c.threshold };
}

const FILE = MODEL_FILE as ModelFile;
export const MODEL_VERSION = FILE.version;
/** The files the model was trained on (in part), by sha256: the evaluation's held-out rows are the rest of them. */
export const MODEL_TRAINING_DATA = FILE.data;
const CHANNELS: Partial<Record<ModelChannel, ChannelWeights>> = Object.fromEntries(Object.entries(FILE.channels).map(([channel, c]) => [channel, loadChannel(c)]));

export interface SegmentScore {
  /** The logit of the most instruction-like segment (-Infinity when no segment had enough words). */
  logit: number;
  start: number;
  end: number;
  /**
   * Whether the text has a run of ENCODED_RUN_LENGTH characters of base64's alphabet or a `%xx` escape: found in the
   * same pass, so that the detector need not scan every text again for them.
   */
  encodedRun: boolean;
  /**
   * Of those: a run of ENCODED_RUN_LENGTH characters of base64's alphabet (which every longer run of hex digits is
   * too); a `%xx` escape.
   */
  base64Run: boolean;
  urlEscape: boolean;
  /** Whether the text has the start of a character escape (`\x`, `\u`, `%u`, `\0` to `\3`, `&#`): see unescapedText in injection-detector.ts. */
  escape: boolean;
  /**
   * Where the first run of ENCODED_RUN_LENGTH or more characters of base64's alphabet starts (-1 without one), and the
   * first of HEX_RUN_LENGTH or more (every run of that many hex digits is inside one): the detector's decoding scans
   * start there, and without the longer run the hex scan is not run.
   */
  base64At: number;
  longRunAt: number;
  /**
   * Where the last such runs end (0 without one): past the end of the last run of ENCODED_RUN_LENGTH, no run of
   * base64 starts that long (nor past the last of HEX_RUN_LENGTH a hex run that long), so the detector's decoding
   * scans stop there rather than read the rest of the text for nothing.
   */
  base64End: number;
  longRunEnd: number;
  /** Whether every code unit was printable ASCII, a tab or a line break (normalize.ts returns such text as it is). */
  plain: boolean;
  /** Whether the text holds one of the characters given to markCharacters. */
  marked: boolean;
  /**
   * The signs of respelled text the text has, as bits (0 for none): RESPELLED_WORDS, a word given to markRespelledWords;
   * RESPELLED_SPACED, three one-letter words in a row; RESPELLED_LEET and RESPELLED_HEX, a word with digits shaped like
   * leetspeak or hex bytes spelled apart (digitWordSigns).
   */
  respelled: number;
  /**
   * Whether a word gate may match (markGateWords): false only for plain ASCII text without an apostrophe inside a
   * word in which no word, pair of words or prefix a gate starts with occurs.
   */
  wordGate: boolean;
}

/** A segment's first this many words are also scored on their own (see scoreText). */
export const HEAD_WORDS = 8;
/** How a segment's head "ends", for the END feature (0 to 3 are the real ends). */
const HEAD = 4;

/** Words after the first that are also paired with the first (its verb with its object: "translate … reply"). */
export const SKIP_WORDS = 16;

/** At most this many word-class features per segment: each class present, and the opening class with each. */
const CLASS_FEATURES = 2 * CLASS_NAMES.length;
/**
 * The word-class features of a segment (see WORD_CLASSES) written into `features` from `nf` on: each class present,
 * and the class the segment opens with paired with each. Returns the new feature count; their weights' sum is added
 * by the caller.
 */
function classFeatures(present: number, lead: number, nf: number): number {
  for (let a = present; a !== 0; a &= a - 1) {
    const ca = 31 - Math.clz32(a & -a);
    features[nf++] = index(mix(ca, CLASS_ONE));
    features[nf++] = index(mix(lead * 16 + ca, LEAD_CLASS));
  }
  return nf;
}
/** The features of the segment being read (at most MAX_WORDS words of at most 6 features each, 5 for the segment, and its word classes'). */
const features = new Int32Array(MAX_WORDS * 6 + 5 + CLASS_FEATURES);

/**
 * What the scan finds seldom (where the best segment is, where the first long runs start, a `%xx` escape), written
 * here rather than held in the scan's locals: fewer values for its loop to keep in registers (measured: two more
 * locals made the scan a tenth slower).
 */
const BASE64_AT = 0;
const LONG_RUN_AT = 1;
const URL_ESCAPE = 2;
const BEST_START = 3;
const BEST_END = 4;
const ESCAPE = 5;
const BASE64_END = 6;
const LONG_RUN_END = 7;
/** After a `\` at `at - 1`: `x` (or `X`) and two hex digits, `u` and four or `{`, or three octal digits from 0 to 377 (not `\users`, `\x64\`). */
function escapeAt(text: string, at: number, c: number): boolean {
  if (c === 120 || c === 88) return HEX(text.charCodeAt(at + 1)) && HEX(text.charCodeAt(at + 2));
  if (c === 117) return text.charCodeAt(at + 1) === 123 || (HEX(text.charCodeAt(at + 1)) && HEX(text.charCodeAt(at + 2)) && HEX(text.charCodeAt(at + 3)) && HEX(text.charCodeAt(at + 4)));
  return c >= 48 && c <= 51 && OCTAL(text.charCodeAt(at + 1)) && OCTAL(text.charCodeAt(at + 2));
}
const OCTAL = (c: number) => c >= 48 && c <= 55;
const FOUND = new Int32Array(8);
/** A `%xx` escape at `i` (c is `%`), or the start of one of the escapes the detector reads (`\x`, `\u`, octal `\1`, `&#`). */
function noteEscape(text: string, c: number, i: number): void {
  const next = text.charCodeAt(i + 1);
  if (c === 37) {
    if (i + 2 < text.length && HEX(next) && HEX(text.charCodeAt(i + 2))) FOUND[URL_ESCAPE] = 1;
    // (`%u0069`, the escape of old IIS and JavaScript's `escape`, is one the detector unescapes, not a URL escape.)
    else if (next === 117 && HEX(text.charCodeAt(i + 2)) && HEX(text.charCodeAt(i + 3)) && HEX(text.charCodeAt(i + 4)) && HEX(text.charCodeAt(i + 5))) FOUND[ESCAPE] = 1;
  } else if (c === 92 ? escapeAt(text, i + 1, next) : next === 35 && (text.charCodeAt(i + 2) === 120 || text.charCodeAt(i + 2) === 88 || (text.charCodeAt(i + 2) >= 48 && text.charCodeAt(i + 2) <= 57))) {
    FOUND[ESCAPE] = 1;
  }
}
/**
 * Where the first runs of ENCODED_RUN_LENGTH and HEX_RUN_LENGTH of base64's alphabet start, and where the last end, as
 * the scan counts `run` (at least ENCODED_RUN_LENGTH) at `i`.
 */
function noteRun(run: number, i: number): void {
  // (Runs do not overlap: the first to reach a length is the first of that length.)
  if (run === ENCODED_RUN_LENGTH && FOUND[BASE64_AT]! < 0) FOUND[BASE64_AT] = i + 1 - run;
  if (run === HEX_RUN_LENGTH && FOUND[LONG_RUN_AT]! < 0) FOUND[LONG_RUN_AT] = i + 1 - run;
  FOUND[BASE64_END] = i + 1;
  if (run >= HEX_RUN_LENGTH) FOUND[LONG_RUN_END] = i + 1;
}
/**
 * The one scan of the text, for inference (the most instruction-like segment, against `w`) and for training (the
 * features of every segment, through `onSegment`, and of every segment's head, through `onHead`). Per word: its hash, its pair with the word before, the first two
 * words apart (an instruction starts with its verb: "translate", "please send"), the first word with each of the
 * next few (an imperative and what it acts on, wherever that is: "translate … your reply"), and a 5-letter prefix of long
 * words (their stem, so "translating" meets "translate"); per segment: its length in words (capped), how it ends
 * (`?`, `!`, `.`, or otherwise), and its last word with how it ends (a mail line cut by wrapping stops at "a"). A segment's logit is its features' weights summed and scaled by the square root of
 * their count. One loop over a class table, with no closure or allocation per word: it reads everything tools return.
 */
export function scoreText(
  text: string,
  w: ChannelWeights,
  onSegment?: (features: Int32Array, start: number, end: number) => void,
  onHead?: (features: Int32Array, start: number, end: number) => void,
): SegmentScore {
  const weights = w.weights;
  let best = -Infinity;
  let segStart = -1;
  let words = 0;
  let nf = 0;
  let sum = 0;
  let prev = 0;
  let first = 0;
  let address = 0;
  let h = 0;
  // (1: the word has a digit; 3: and a word character after one, `1st`, `6e`, `y0u`: only such a word is asked for signs of respelled text.)
  let digits = 0;
  let len = 0;
  let prefix = 0;
  let run = 0;
  const found = FOUND;
  found[BASE64_AT] = -1;
  found[LONG_RUN_AT] = -1;
  found[BASE64_END] = 0;
  found[LONG_RUN_END] = 0;
  found[URL_ESCAPE] = 0;
  found[ESCAPE] = 0;
  found[BEST_START] = 0;
  found[BEST_END] = 0;
  let present = 0;
  let lead = 0;
  let seen = 0;
  let afterFirst = 0;
  const n = text.length;
  // i === n is one more step that ends the last word and segment.
  for (let i = 0; i <= n; i++) {
    const c = i < n ? text.charCodeAt(i) : 10;
    const t = CLASS[c]!;
    seen |= t;
    let k = t & KIND;
    if (k === APOSTROPHE && len > 0 && i + 1 < n && (CLASS[text.charCodeAt(i + 1)]! & KIND) <= UPPER) {
      k = WORD;
      seen |= JOINED;
    }
    // A run of base64's alphabet is counted on each side of the branch on word characters rather than before it: a
    // word character is nearly always in the alphabet and anything else nearly never, so neither test is a guess the
    // processor gets wrong at every word's start and end (measured: a sixth of the scan's time).
    if (k <= UPPER) {
      run = t & BASE64_CHAR ? run + 1 : 0;
      if (run >= ENCODED_RUN_LENGTH) noteRun(run, i);
      if (len === 0) {
        if (segStart < 0) segStart = i;
        h = 0x811c_9dc5;
        digits = 0;
        // A prefix a gate's first word may have (see markGateWords): all word characters, so the word need not have
        // ended to compare it.
        if (GATE_PREFIX_FIRST[c & 127] === 1 && (seen & GATE_WORD) === 0 && GATE_PREFIX_START[prefixStart(c, text.charCodeAt(i + 1))] === 1 && startsWithGatePrefix(text, i)) {
          seen |= GATE_WORD;
        }
      }
      if (c <= 57) digits |= 1;
      else if (digits !== 0) digits = 3;
      // (An upper-case ASCII letter, k === UPPER, folded to lower case without a branch.)
      h = Math.imul(h ^ (c | (k << 5)), 0x0100_0193);
      if (++len === 5) prefix = h;
      continue;
    }
    if (t & BASE64_CHAR) {
      if (++run >= ENCODED_RUN_LENGTH) noteRun(run, i);
    } else {
      run = 0;
      if (t & PERCENT) noteEscape(text, c, i);
    }
    if (len > 0) {
      // The word ends: its features.
      if (digits) {
        if (digits === 3 && (~seen & (LEET_SHAPE | HEX_BYTES)) !== 0) seen |= digitWordSigns(text, i - len, len);
        h = mix(DIGITS, len > 8 ? 8 : len);
      }
      let f = index(h);
      features[nf++] = f;
      sum += weights[f]!;
      if (words > 0) {
        const pair = mix(prev, h);
        f = index(pair ^ BIGRAM);
        features[nf++] = f;
        sum += weights[f]!;
        if (words === 1) {
          f = index(pair ^ OPENING);
          features[nf++] = f;
          sum += weights[f]!;
        }
      }
      const lexicon = classesOf(h);
      // Most words are in no class and start no gate.
      if (lexicon !== 0) {
        // Where a word gate may match (see markGateWords): at this word, or at the word before it (below), or at its
        // start (above).
        seen |= lexicon & (GATE_WORD | RESPELLED);
        if ((lexicon & SINGLE_LETTER) !== 0 && (seen & SPACED_LETTERS) === 0 && spacedLettersAt(text, i)) seen |= SPACED_LETTERS;
        if ((lexicon & GATE_FOLLOWED) !== 0 && followerAt(text, i)) seen |= GATE_WORD;
        // (1: the reader; else 2: the reader's output.)
        address |= lexicon & SECOND_PERSON_BIT ? 1 : lexicon & OUTPUT_BIT ? 2 : 0;
        present |= lexicon & CLASS_MASK & ~SOFT;
      }
      // (One place is enough: past it, text full of gate words, "ignore ignore …", looks no further.)
      if (afterFirst !== 0 && (seen & GATE_WORD) === 0) {
        const pair = mix(prev, h);
        if (GATE_PAIR_FILTER[pair >>> 16] === 1 && isGatePair(pair)) seen |= GATE_WORD;
        else if (len >= 5) {
          const pairPrefix = mix(prev, prefix);
          if (GATE_PAIR_FILTER[pairPrefix >>> 16] === 1 && isGatePair(pairPrefix)) seen |= GATE_WORD;
        }
      }
      afterFirst = lexicon & GATE_FIRST;
      const cls = lexicon & CLASS_MASK;
      if (words === 0) {
        lead = cls;
        first = h;
        f = index(mix(h, FIRST));
        features[nf++] = f;
        sum += weights[f]!;
      } else if (words === 1) {
        if (lead === SOFT) lead = cls | SOFT;
        f = index(mix(h, SECOND));
        features[nf++] = f;
        sum += weights[f]!;
      } else if (words < SKIP_WORDS) {
        f = index(mix(first, h) ^ SKIP);
        features[nf++] = f;
        sum += weights[f]!;
      }
      if (len >= 7) {
        f = index(mix(prefix, PREFIX));
        features[nf++] = f;
        sum += weights[f]!;
      }
      prev = h;
      words++;
      len = 0;
      if (words === HEAD_WORDS) {
        // The segment's head scored as a segment of its own: an instruction says what it is in its first words, and a
        // long tail of ordinary words ("… the attached invoice is legitimate and should be paid today") dilutes it.
        const wordNf = nf;
        const wordSum = sum;
        f = index(mix(HEAD_WORDS, LENGTH));
        features[nf++] = f;
        sum += weights[f]!;
        f = index(mix(HEAD, END));
        features[nf++] = f;
        sum += weights[f]!;
        f = index(mix(address, ADDRESS));
        features[nf++] = f;
        sum += weights[f]!;
        f = index(mix(first, ADDRESS + address));
        features[nf++] = f;
        sum += weights[f]!;
        if (present !== 0) {
          const from = nf;
          nf = classFeatures(present, lead, nf);
          for (let j = from; j < nf; j++) sum += weights[features[j]!]!;
        }
        const logit = w.bias + (sum * w.scale) / Math.sqrt(nf);
        if (logit > best) {
          best = logit;
          found[BEST_START] = segStart;
          found[BEST_END] = i;
        }
        if (onHead) onHead(features.subarray(0, nf), segStart, i);
        nf = wordNf;
        sum = wordSum;
      }
    }
    if (segStart < 0) continue;
    // (Only such a character, the segment's length or the text's end can end it: the tests below are then all false.)
    if ((t & MAY_END) === 0 && words < MAX_WORDS && i < n) continue;
    let how = -1;
    if (words >= MAX_WORDS || k === BREAK || (k === APOSTROPHE && (i === 0 || (CLASS[text.charCodeAt(i - 1)]! & KIND) > UPPER)) || i === n) how = 0;
    else if (k >= STOP && k <= EXCLAMATION && (i + 1 >= n || AFTER_END[text.charCodeAt(i + 1)] === 1)) how = k - STOP + 1;
    if (how < 0) continue;
    // The segment ends (after its `.`, `!` or `?`).
    const end = how > 0 ? i + 1 : i;
    if (words >= MIN_WORDS) {
      let f = index(mix(words > 24 ? 24 : words, LENGTH));
      features[nf++] = f;
      sum += weights[f]!;
      f = index(mix(how, END));
      features[nf++] = f;
      sum += weights[f]!;
      // The word it ends with, and how: a line that stops at "a", "to" or "please" is a wrapped line of a mail.
      f = index(mix(prev, LAST + how));
      features[nf++] = f;
      sum += weights[f]!;
      // Who the segment speaks to and about what: the reader and the reader's reply, with the verb it opens with.
      f = index(mix(address, ADDRESS));
      features[nf++] = f;
      sum += weights[f]!;
      f = index(mix(first, ADDRESS + address));
      features[nf++] = f;
      sum += weights[f]!;
      if (present !== 0) {
        const from = nf;
        nf = classFeatures(present, lead, nf);
        for (let j = from; j < nf; j++) sum += weights[features[j]!]!;
      }
      const logit = w.bias + (sum * w.scale) / Math.sqrt(nf);
      if (logit > best) {
        best = logit;
        found[BEST_START] = segStart;
        found[BEST_END] = end;
      }
      if (onSegment) onSegment(features.subarray(0, nf), segStart, end);
    }
    segStart = -1;
    address = 0;
    present = 0;
    lead = 0;
    words = 0;
    nf = 0;
    sum = 0;
  }
  const base64Run = found[BASE64_AT]! >= 0;
  const urlEscape = found[URL_ESCAPE] === 1;
  const escape = found[ESCAPE] === 1;
  return { logit: best, start: found[BEST_START]!, end: found[BEST_END]!, encodedRun: base64Run || urlEscape, base64Run, urlEscape, base64At: found[BASE64_AT]!, longRunAt: found[LONG_RUN_AT]!, base64End: found[BASE64_END]!, longRunEnd: found[LONG_RUN_END]!, plain: (seen & NOT_PLAIN) === 0, marked: (seen & MARKED) !== 0, escape, respelled: (seen & (RESPELLED | SPACED_LETTERS | LEET_SHAPE | HEX_BYTES)) >>> 20, wordGate: !gateWordsMarked || (seen & (GATE_WORD | JOINED | NOT_PLAIN)) !== 0 };
}

/**
 * How far below the threshold (in logits) a segment still counts as leaning towards an instruction: half a
 * detection, that a phrase rule or hidden characters can complete (see injection-detector.ts).
 */
export const LEANING_MARGIN = 1.0;
/**
 * The same for text that was encoded (base64, hex, URL-encoding): prose hidden that way is rare in honest output,
 * and hiding is itself a sign, so a weaker lean is enough there.
 */
export const DECODED_MARGIN = 3;
/** The same for a short encoded text (a sentence or three, see injection-detector.ts). */
export const SHORT_DECODED_MARGIN = 4;

/**
 * The most instruction-like segment of the text, when the model reads it as an instruction to the assistant
 * (`confident`) or leans towards it.
 */
export function modelFinding(text: string, channel: ModelChannel, margin = LEANING_MARGIN): (SegmentScore & { confident: boolean }) | undefined {
  const scan = modelScan(text, channel);
  return scan && leaning(scan, channel, margin);
}

/** The one scan of a text (its best segment and whether it holds an encoded run); undefined when the channel has no model. */
export function modelScan(text: string, channel: ModelChannel): SegmentScore | undefined {
  const weights = CHANNELS[channel];
  return weights && scoreText(text, weights);
}

/** Whether a scan's best segment is at least `by` logits past the threshold. */
export function past(best: SegmentScore, channel: ModelChannel, by: number): boolean {
  return best.logit >= CHANNELS[channel]!.threshold + by;
}

/** A scan's best segment when the model reads it as an instruction (`confident`) or leans towards it, by `margin`. */
export function leaning(best: SegmentScore, channel: ModelChannel, margin = LEANING_MARGIN): (SegmentScore & { confident: boolean }) | undefined {
  const threshold = CHANNELS[channel]!.threshold;
  return best.logit >= threshold - margin ? { ...best, confident: best.logit >= threshold } : undefined;
}
