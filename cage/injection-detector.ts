/**
 * The prompt-injection detector: pure, deterministic, linear in its input. It normalizes the text (see
 * normalize.ts), runs the phrase rules, looks for invisible and bidi characters and homoglyphs, and decodes
 * base64, hex and URL-encoded runs to scan them again (one level deep, bounded). Output: a verdict, a score and
 * the categories with their matched spans (offsets into the normalized text).
 *
 * `direct` is what a user types; `indirect` is what tools bring back, where instructions planted in data are
 * also looked for.
 */
import { normalize, ZERO_WIDTH, type Normalized } from './normalize';
import { RULES, alternativesOf, gateFirstLetters, prefilterSources, type Category } from './injection-rules';
import { DECODED_MARGIN, HEX_RUN_LENGTH, MODEL_VERSION, SHORT_DECODED_MARGIN, leaning, markCharacters, markGateWords, markRespelledWords, modelScan, RESPELLED_HEX as HEX_SIGN, RESPELLED_LEET as LEET_SIGN, RESPELLED_SPACED as SPACED_SIGN, RESPELLED_WORDS as WORDS_SIGN, past, type SegmentScore } from './injection-model';
import { gateWords } from './gate-words';

export const DETECTOR_VERSION = `rules-11+${MODEL_VERSION}`;
export type Channel = 'direct' | 'indirect';

export interface Span {
  start: number;
  end: number;
  text: string;
}
export interface Finding {
  category: Category;
  weight: number;
  spans: Span[];
}
export interface Detection {
  verdict: 'injection' | 'clean';
  score: number;
  findings: Finding[];
  version: string;
}

/** A score at or above this is a confident detection. */
export const THRESHOLD = 1;
/** What a segment counts for when the model leans towards it but is not confident (see injection-model.ts). */
const LEANING_WEIGHT = 0.5;
const MAX_SPANS = 5;
const MAX_DECODED_RUNS = 32;
const MAX_RUN = 64 * 1024;

/**
 * Encoded prose up to this many words (a sentence or three) is read with the model's widest margin
 * (SHORT_DECODED_MARGIN): an honest document has little reason to encode a sentence, an attacker every reason. Longer
 * decoded text (a mail's MIME body, an attachment) has more sentences that may lean by chance.
 */
const SHORT_PAYLOAD_WORDS = 60;
function wordCount(s: string): number {
  let words = 0;
  for (const _ of s.matchAll(/\S+/g)) if (++words > SHORT_PAYLOAD_WORDS) break;
  return words;
}

function printable(s: string): boolean {
  if (s.length < 8) return false;
  let ok = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 32 && c < 127) || c === 10 || c === 13 || c === 9 || c >= 160) ok++;
  }
  // Fixed-width on both sides of the space: an unbounded run here backtracks quadratically on long words. Scripts
  // written without spaces (Chinese, Japanese) count as text from a few of their characters in a row. Words are
  // looked for without the zero-width characters that may sit between their letters (normalize removes them).
  const words = s.replace(ZERO_WIDTH, '');
  return ok / s.length > 0.95 && (/[a-z]{3}\s[a-z]{2}/i.test(words) || /\p{L}{3}\s\p{L}{2}|[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]{4}/u.test(words));
}

/**
 * A request in the words of a language the model does not read (it learned English n-grams): "please" and its
 * kin at a sentence's start, and the polite imperative endings of Japanese and Korean. Only hidden text is asked
 * this: a Chinese mail that says 请查收附件 ("please find attached") in the open is a person writing to a person,
 * the same words base64-encoded in one piece are text someone chose to hide from whoever reads the mail.
 */
const FOREIGN_REQUEST =
  /(?:^|[\s。！？.!?,，、"“「(（])(?:请|請|麻烦|麻煩|帮我|幫我|给我|給我|你能|您能|你可以|您可以|务必|務必)|(?:ください|下さい|てくれ|お願い|して欲しい|しなさい)|(?:주세요|하십시오|해줘|해 줘|하세요|십시오|바랍니다)|(?<!\p{L})(?:por favor|per favore|s'il (?:te|vous) pla[iî]t|bitte|пожалуйста|lütfen|proszę|alsjeblieft|prosím|vennligst|kérem|παρακαλώ)(?!\p{L})/iu;
const readsAsForeignRequest = (decoded: string) => FOREIGN_REQUEST.test(decoded.slice(0, 4096));

/**
 * The base64 runs in a match that may go on over line breaks: one run when it is wrapped the way MIME and PEM wrap,
 * otherwise each line of its own. A line of base64 put between other lines that merely use its alphabet (a rule of
 * underscores above, a signature's armour below, a name or a word under it) is then read as the sentence it hides,
 * not as garbage around it.
 *
 * Wrapped is: every line but the last as long as the first, the last no longer, at a width the encoders wrap at
 * (MIME's 76, PEM's and OpenPGP's 64, and 60 and 72), and the whole a whole number of base64's 4-character groups.
 * Without the fixed widths and the groups, a hidden line followed by a signature's "Thanks", a rule of dashes or a
 * line of one word ("have") counted as a wrapped body and was read as transport encoding, not as hidden text.
 */
const WRAP_WIDTHS = new Set([60, 64, 72, 76]);
function base64Runs(match: string, declared: boolean): { run: string; wrapped: boolean }[] {
  if (declared) return [{ run: match.replace(/\r?\n/g, ''), wrapped: true }];
  if (!match.includes('\n')) return [{ run: match, wrapped: false }];
  const lines = match.split(/\r?\n/);
  const width = lines[0]!.length;
  const joined = lines.join('');
  const wrapped =
    WRAP_WIDTHS.has(width) && joined.length % 4 === 0 && lines.every((l, i) => (i < lines.length - 1 ? l.length === width : l.length <= width));
  if (wrapped) return [{ run: joined, wrapped: true }];
  return lines.filter((l) => l.length >= 24).map((run) => ({ run, wrapped: false }));
}

/**
 * Whether the run starting at `at` is a MIME part's body declared base64: it starts a line after the part's headers
 * (one of them `Content-Transfer-Encoding: base64`) and the blank line that ends them.
 */
const MIME_BASE64_BODY = /content-transfer-encoding:[ \t]*base64[ \t]*\r?\n(?:[^\r\n]+\r?\n){0,20}\r?\n$/i;
function declaredBase64(text: string, at: number): boolean {
  return at > 0 && text[at - 1] === '\n' && MIME_BASE64_BODY.test(text.slice(Math.max(0, at - 2048), at));
}
/**
 * Whether the hex bytes starting at `at` are a value SNMP prints as a `Hex-STRING` (an agent's description, contact or
 * location with a byte outside ASCII in it): what the device says, read as text, not text someone hid.
 */
const SNMP_HEX = /hex-string:[ \t]*$/i;
function declaredHex(text: string, at: number): boolean {
  return SNMP_HEX.test(text.slice(Math.max(0, at - 32), at));
}

/** The decoding scans' expressions (global, shared: each use starts at a given place and leaves lastIndex at 0). */
const BASE64_RUN = /(?:^|[^A-Za-z0-9+/_-])([A-Za-z0-9+/_-]{24,}={0,2}(?:\r?\n[A-Za-z0-9+/_-]{4,}={0,2}(?=\r?\n|$)){0,2048})/g;
const HEX_RUN = new RegExp(`(?:^|[^0-9a-fA-F])([0-9a-fA-F]{${HEX_RUN_LENGTH},})`, 'g');
/**
 * Text hidden in encoded runs: base64, hex, and URL-encoding. `opaque` when nothing of the text showed before
 * decoding (base64, hex); URL-encoding leaves most letters as they were. `wrapped` when a base64 run went on over
 * line breaks (decoded as one).
 */
type DecodedRun = { text: string; opaque: boolean; wrapped?: boolean };
/**
 * Decoded bytes as text: as they are when they read as text, else (when nothing of them showed before decoding)
 * decoded again (decodedLayers); undefined when they never read as text.
 */
function readable(decoded: string, opaque: boolean): string | undefined {
  const s = withoutUtf16Nuls(decoded);
  return printable(s) ? s : opaque ? decodedLayers(s) : undefined;
}
/** One decoded run into `out` (up to MAX_DECODED_RUNS), when it reads as text. */
// (A module function, not a closure in decodedRuns: a closure is made on every call, and most text with a run has one.)
function pushDecoded(out: DecodedRun[], decoded: string, opaque: boolean, wrapped: boolean): void {
  if (out.length >= MAX_DECODED_RUNS) return;
  const text = readable(decoded, opaque);
  if (text !== undefined) out.push(wrapped ? { text, opaque, wrapped } : { text, opaque });
}
/**
 * Text in UTF-16 (little-endian: PowerShell's `-EncodedCommand` is base64 of it) whose characters are all ASCII
 * decodes as UTF-8 to its characters with a NUL after each: read without them.
 */
function withoutUtf16Nuls(s: string): string {
  if (s.length < 16 || s.charCodeAt(1) !== 0) return s;
  for (let i = 1; i < s.length; i += 2) if (s.charCodeAt(i) !== 0) return s;
  let out = '';
  for (let i = 0; i < s.length; i += 2) out += s[i];
  return out;
}
function decodedRuns(text: string, scan?: SegmentScore): DecodedRun[] {
  const out: DecodedRun[] = [];
  // (`(?:^|[^…])` and a group rather than a lookbehind: the engine rejects a position on its first character.)
  // A run goes on over line breaks into lines of nothing but base64 (MIME and PEM wrap it at 64 or 76 characters):
  // decoded line by line, a mail's body would be fragments cut mid-word, each of them short.
  // The model's scan of the same text says which kinds of run it holds: an expression that cannot match is not run.
  // (Both expressions start where the scan found the first run long enough for them: no match starts before the
  // character in front of it.)
  if (scan === undefined || scan.base64Run) {
    const re = BASE64_RUN;
    re.lastIndex = scan === undefined ? 0 : Math.max(0, scan.base64At - 1);
    // (Past the end of the scan's last run of 24, no match can start: it would start with such a run.)
    const end = scan === undefined ? text.length + 1 : scan.base64End;
    for (let m = re.exec(text); m !== null; m = re.lastIndex >= end ? null : re.exec(text)) {
      if (out.length >= MAX_DECODED_RUNS) break;
      // A part's body that its MIME headers declare base64 is transport encoding too, wrapped or not (a short part
      // fits on one line).
      const declared = declaredBase64(text, m.index + m[0].length - m[1]!.length);
      for (const { run, wrapped } of base64Runs(m[1]!.slice(0, MAX_RUN), declared)) {
        // Paths and identifiers look like base64 but are mostly lower-case words with separators: skip those.
        if (!/[A-Z]/.test(run) || !/[a-z]/.test(run)) continue;
        // (Node's base64 decoder reads the URL-safe alphabet, `-` and `_`, as `+` and `/`.)
        pushDecoded(out, Buffer.from(run, 'base64').toString('utf8'), true, wrapped);
      }
    }
    re.lastIndex = 0;
  }
  // Maximal hex runs (the lookbehinds above and here start a match only where a run starts, so a short run is
  // not rescanned from each of its characters), boundaries checked by hand: `\b(?:xx){16,}\b` would backtrack pair by pair on a long run
  // that ends in a word character.
  // (A run of 32 hex digits is a run of base64's alphabet too: without one of that length, there is none.)
  if (scan === undefined || scan.longRunAt >= 0) {
    const re = HEX_RUN;
    re.lastIndex = scan === undefined ? 0 : Math.max(0, scan.longRunAt - 1);
    // (Past the end of the scan's last run of 32, none can start: a hex run that long is inside such a run.)
    const end = scan === undefined ? text.length + 1 : scan.longRunEnd;
    for (let m = re.exec(text); m !== null; m = re.lastIndex >= end ? null : re.exec(text)) {
      if (out.length >= MAX_DECODED_RUNS) break;
      const hex = m[1]!;
      const at = m.index! + m[0].length - hex.length;
      const before = text[at - 1] ?? ' ';
      const after = text[at + hex.length] ?? ' ';
      // A `0x` in front is how a program writes a hex number (or a byte string) in one piece: a run of its own.
      const prefixed = before === 'x' && text[at - 2] === '0' && !/\w/.test(text[at - 3] ?? ' ');
      if ((/\w/.test(before) && !prefixed) || /\w/.test(after)) continue;
      const even = hex.slice(0, MAX_RUN - (Math.min(hex.length, MAX_RUN) % 2));
      pushDecoded(out, Buffer.from(even, 'hex').toString('utf8'), true, false);
    }
    re.lastIndex = 0;
  }
  // (Three escapes, each within 40 characters of the next: also one escaped letter per word, `%54ranslate %79our`.)
  if ((scan === undefined || scan.urlEscape) && /(%[0-9A-Fa-f]{2}[^%]{0,40}){3,}/.test(text)) pushDecoded(out, urlDecoded(text.slice(0, 4 * MAX_RUN)), false, false);
  return out;
}

/**
 * The text with its runs of `%xx` escapes decoded as UTF-8 bytes, and again while that leaves escapes (double
 * encoding, `%2549` → `%49` → `I`), up to three times. Decoded run by run, leniently: a stray `%` elsewhere ("disk at
 * 93% on web-1") or bytes that are not UTF-8 leave the other runs decoded (decodeURIComponent of the whole text gave
 * up on all of them for one such `%`).
 */
const URL_ESCAPES = /(?:%[0-9A-Fa-f]{2})+/g;
function urlDecoded(text: string): string {
  let s = text;
  for (let layer = 0; layer < 3; layer++) {
    const next = s.replace(URL_ESCAPES, urlRun);
    if (next === s) break;
    s = next;
  }
  return s;
}
const urlRun = (run: string) => Buffer.from(run.replaceAll('%', ''), 'hex').toString('utf8');

/** One decoded text as decodedRuns gives it (see readable). */
function decodedAs(s: string, opaque: boolean): { text: string; opaque: boolean }[] {
  const text = readable(s, opaque);
  return text === undefined ? [] : [{ text, opaque }];
}

/**
 * Encodings inside an encoding (base64 of base64, base64 of hex, hex of base64): what decoded to a run of one alphabet
 * and nothing else is decoded again, up to three layers, until it reads as text. Undefined when it never does.
 */
const ONLY_HEX = /^[0-9a-fA-F]{32,}$/;
const ONLY_BASE64 = /^[A-Za-z0-9+/_-]{24,}={0,2}$/;
function decodedLayers(s: string): string | undefined {
  for (let layer = 0; layer < 3; layer++) {
    const run = s.trim().slice(0, MAX_RUN);
    if (ONLY_HEX.test(run) && run.length % 2 === 0) s = Buffer.from(run, 'hex').toString('utf8');
    else if (ONLY_BASE64.test(run) && /[A-Z]/.test(run) && /[a-z]/.test(run)) s = Buffer.from(run, 'base64').toString('utf8');
    else return undefined;
    if (printable(s)) return s;
  }
  return undefined;
}

/**
 * Escapes that spell characters: `\x69` and octal `\151` (runs of them are UTF-8 bytes), `\u0069`, `\u{69}` and `%u0069`, and HTML's numeric
 * entities `&#105;` and `&#x69;`. Programs escape what they must (quotes, `<`, control bytes, letters outside ASCII),
 * never an ASCII letter: escaped letters are text someone chose to hide.
 */
const BYTE_ESCAPES = /\\[xX][0-9a-fA-F]{2}(?:[ ,]?\\[xX][0-9a-fA-F]{2})*|(?:\\[0-3][0-7]{2}){2,}/g;
const CHAR_ESCAPE = /\\u\{([0-9a-fA-F]{1,6})\}|[\\%]u([0-9a-fA-F]{4})|&#[xX]([0-9a-fA-F]{1,6});?|&#(\d{1,7});?/g;
const ASCII_LETTER_CODE = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
/** Whether the text may hold such escapes (a cheap look before the expressions). */
const ESCAPE_START = /\\[xXu0-3]|%u[0-9a-fA-F]{4}|&#/;
const mayHoldEscapes = (text: string) => ESCAPE_START.test(text);
/**
 * At least this many escaped letters make a text worth reading unescaped (two are enough to break a word out of a
 * rule's reach: `Ign&#111;re … prev&#105;ous`); four times as many ASCII letters, a phrase hidden whole. Escaped
 * letters outside ASCII and invisible characters count towards reading it (JSON written ASCII-only spells look-alikes
 * and zero-width spaces as `\u0430`, `\u200b`: the model reads them as the characters), not towards hiding.
 */
const ESCAPED_LETTERS = 2;
const LETTER_OR_FORMAT = /[\p{L}\p{Cf}]/u;
function unescapedText(text: string): { text: string; opaque: boolean } | undefined {
  let letters = 0;
  let others = 0;
  const count = (decoded: string) => {
    for (let i = 0; i < decoded.length; i++) {
      const c = decoded.charCodeAt(i);
      if (ASCII_LETTER_CODE(c)) letters++;
      else if (c > 127 && LETTER_OR_FORMAT.test(decoded[i]!)) others++;
    }
    return decoded;
  };
  // The lines from the first escape to the last: a hidden payload is read on its own, not as part of the document
  // around it (whose sentences, read with the margin hidden text gets, may lean by chance).
  const first = text.search(ESCAPE_START);
  const last = Math.max(first, text.lastIndexOf('\\'), text.lastIndexOf('&#'), text.lastIndexOf('%u'));
  const lineEnd = text.indexOf('\n', last);
  const lines = text.slice(text.lastIndexOf('\n', first) + 1, lineEnd < 0 ? text.length : lineEnd);
  const unescaped = windowAt(lines, 0)
    .replace(BYTE_ESCAPES, (run) => count(Buffer.from(run[1] === 'x' || run[1] === 'X' ? run.replace(/\\[xX]|[ ,]/g, '') : run.slice(1).split('\\').map((o) => parseInt(o, 8).toString(16).padStart(2, '0')).join(''), 'hex').toString('utf8')))
    .replace(CHAR_ESCAPE, (m, braced?: string, four?: string, hex?: string, dec?: string) => {
      const cp = parseInt(braced ?? four ?? hex ?? dec!, braced ?? four ?? hex ? 16 : 10);
      return cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff && braced !== undefined) ? m : count(String.fromCharCode(...(cp > 0xffff ? [0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff)] : [cp])));
    });
  // (A `\u` pair of surrogates decodes as the two halves, which join into the one character in the string.)
  if (letters + others < ESCAPED_LETTERS) return undefined;
  const read = decodedAs(unescaped, letters >= 4 * ESCAPED_LETTERS);
  return read.length > 0 ? read[0] : undefined;
}

/**
 * Hex bytes spelled apart, as dumps and source code write them: `69 67 6e`, `69:67:6e`, `0x69, 0x67`, at least eight
 * in a row (a MAC address has six; an EUI-64 has eight, and decodes to bytes that are not text).
 */
const SEPARATED_HEX = /(?:^|[^\w])((?:0[xX])?[0-9a-fA-F]{2}(?:[ :,-]{1,2}(?:0[xX])?[0-9a-fA-F]{2}){7,})(?!\w)/g;
function separatedHexRuns(text: string): { text: string; opaque: boolean }[] {
  const out: { text: string; opaque: boolean }[] = [];
  const re = SEPARATED_HEX;
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null && out.length < MAX_DECODED_RUNS; m = re.exec(text)) {
    const bytes = m[1]!.slice(0, 4 * MAX_RUN).replace(/0[xX]/g, '').replace(/[ :,-]/g, '');
    out.push(...decodedAs(Buffer.from(bytes, 'hex').toString('utf8'), !declaredHex(text, m.index + m[0].length - m[1]!.length)));
  }
  re.lastIndex = 0;
  return out;
}

/**
 * Text respelled rather than encoded: rot13, reversed, leetspeak (`1gn0r3 4ll`) and letter-spaced (`i g n o r e`). Each
 * reading is tried only where the text shows its sign: English's commonest words rot13'd (`gur`, `lbh`) or reversed
 * (`eht`, `uoy`), twice; leet words that read back as English words, twice; a run of single letters. The model's scan
 * says whether any sign may be there (SegmentScore.respelled, from the words below and the shapes of words with digits).
 * A reading counts when it reads as an injection: honest text has no reason to write an instruction so, but a reading of
 * honest text (a hash, a hostname, a table of single letters) is noise that no rule or model finds an instruction in.
 */
const COMMON_WORDS = [
  ...['the', 'and', 'you', 'your', 'all', 'for', 'this', 'that', 'with', 'ignore', 'instructions', 'previous', 'system', 'prompt', 'tell', 'must', 'please'],
  ...['what', 'who', 'is', 'me', 'my', 'said', 'say', 'before', 'now', 'from', 'have', 'not', 'are', 'will', 'can', 'was', 'do'],
  // German, French and Spanish, which the rules also read
  ...['der', 'die', 'das', 'und', 'nicht', 'ist', 'mit', 'sie', 'ich', 'alle', 'alles', 'jetzt', 'vergiss', 'les', 'des', 'est', 'pas', 'vous', 'tous', 'toutes', 'que', 'los', 'las', 'todo', 'todas'],
];
const rot13 = (s: string) => s.replace(/[a-z]/gi, (c) => String.fromCharCode(((c.charCodeAt(0) & 31) + 12) % 26 + (c.charCodeAt(0) & 0xe0) + 1));
const reversed = (s: string) => [...s].reverse().join('');
/** The respelled words that are words or names of their own (NER, em, sed, SAP, Tim …): no sign of anything. */
const NOT_A_SIGN = new Set(['ner', 'em', 'won', 'ton', 'era', 'saw', 'od', 'red', 'sad', 'eis', 'tim', 'tse', 'sed', 'sap', 'sol', 'sal', 'ella', 'si', 'dias', 'nac', 'tsi', 'hci', 'sel', 'eid', 'yas']);
const ROT13_WORDS = COMMON_WORDS.map(rot13).filter((w) => !NOT_A_SIGN.has(w));
const REVERSED_WORDS = COMMON_WORDS.map(reversed).filter((w) => !NOT_A_SIGN.has(w));
/** Single letters: letter-spaced text is words of one letter (not a and i, which English has). */
const SINGLE_LETTERS = [...'bcdefghjklmnopqrstuvwxyz'];
markRespelledWords([...ROT13_WORDS, ...REVERSED_WORDS, ...SINGLE_LETTERS]);
const ROT13_SIGN = new RegExp(`\\b(?:${ROT13_WORDS.join('|')})\\b`, 'gi');
const REVERSED_SIGN = new RegExp(`\\b(?:${REVERSED_WORDS.join('|')})\\b`, 'gi');
const LEET_DIGITS: Record<string, string> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '@': 'a', $: 's' };
/** A word of letters and leet digits with at least one of each (or of leet digits alone, once the text is leet). */
const LEET_WORD = /(?<![\w@$])[a-zA-Z013457@$]*[013457@$][a-zA-Z013457@$]*(?![\w@$])/g;
const LEET_CHAR = /[013457@$]/g;
/** A character of a leet word: an ASCII letter, a leet digit, `@` or `$`. */
const leetWordCode = (c: number) => ((c | 32) >= 97 && (c | 32) <= 122) || c === 48 || c === 49 || c === 51 || c === 52 || c === 53 || c === 55 || c === 64 || c === 36;
const unleet = (w: string) => w.replace(/[013457@$]/g, (c) => LEET_DIGITS[c]!);
/** English words a leet word must read back as (two of them) before the text is read as leetspeak. */
const LEET_VOCABULARY = new Set([...COMMON_WORDS, 'alles', 'jetzt', 'vergiss', 'ignoriere', 'anweisungen', 'instruction', 'ignore', 'forget', 'disregard', 'rules', 'password', 'passwords', 'secret', 'reveal', 'print', 'show', 'assistant', 'admin', 'send', 'delete', 'execute', 'tool', 'tools', 'output', 'are', 'now', 'not', 'its', 'it', 'is', 'to', 'at', 'as', 'so', 'also', 'then', 'into', 'access', 'data', 'email', 'transfer', 'account', 'user', 'users', 'instead', 'task', 'tasks', 'mode', 'restrictions', 'safety', 'saying', 'said', 'state', 'text', 'these', 'those', 'above', 'earlier', 'prior', 'stop', 'start', 'list', 'details', 'files', 'sensitive', 'access', 'attacker']);
/**
 * Runs of single letters or digits apart (at least three): `i g n o r e   a l l`, `i.g.n.o.r.e`, `i-g-n-o-r-e`, and
 * one letter a line (text written downwards).
 */
const SPACED_RUN = /(?<![\p{L}\p{N}])[\p{L}\p{N}](?:[ \t\n._*|·-]{1,4}[\p{L}\p{N}](?![\p{L}\p{N}])){2,}/gu;

const NO_MATCH = { first: -1, nth: -1 };
/** Nothing found (shared, never added to). */
const NONE: readonly never[] = Object.freeze([]);
/** The scan's signs (SegmentScore.respelled) as local constants: read through the module's binding, each is a getter call. */
const RESPELLED_WORDS = WORDS_SIGN;
const RESPELLED_SPACED = SPACED_SIGN;
const RESPELLED_LEET = LEET_SIGN;
const RESPELLED_HEX = HEX_SIGN;
const ALL_SIGNS = RESPELLED_WORDS | RESPELLED_SPACED | RESPELLED_LEET | RESPELLED_HEX;
/** Where the `need`th match of `re` in the text starts (-1 when there are fewer), and where the first one does. */
function nthMatch(re: RegExp, text: string, need: number): { first: number; nth: number } {
  re.lastIndex = 0;
  let n = 0;
  let first = -1;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (first < 0) first = m.index;
    if (++n >= need) break;
  }
  re.lastIndex = 0;
  return { first, nth: n >= need ? m!.index : -1 };
}

/**
 * The part of a text a reading covers: all of it up to MAX_RUN characters; of a longer text, MAX_RUN characters from a
 * little before its first sign. (Reading a megabyte twice more over would cost more than the detector's whole budget
 * for it; a payload sits where its sign is.)
 */
function windowAt(text: string, at: number): string {
  if (text.length <= MAX_RUN) return text;
  const start = Math.max(0, at - 4096);
  return text.slice(start, start + MAX_RUN);
}

/** A run of single letters joined into its words: the gap seen most often is the one inside words, any other one ends a word. */
function joinedLetters(run: string): string {
  const gaps = run.match(/[^\p{L}\p{N}]+/gu) ?? [];
  const tally = new Map<string, number>();
  for (const g of gaps) tally.set(g, (tally.get(g) ?? 0) + 1);
  const inWord = [...tally].sort((a, b) => b[1] - a[1])[0]?.[0];
  return run.replace(/[^\p{L}\p{N}]+/gu, (g) => (g === inWord ? '' : ' '));
}

/** How many letters and digits a run has, counted up to `most`. */
function lettersUpTo(run: string, most: number): number {
  let n = 0;
  for (let i = 0; i < run.length && n < most; i++) if (/[\p{L}\p{N}]/u.test(run[i]!)) n++;
  return n;
}

/** `signs`: which signs the scan saw (SegmentScore.respelled): only the readings they point to are tried. */
function respellings(text: string, signs: number): { how: string; text: string }[] {
  const out: { how: string; text: string }[] = [];
  const rot = signs & RESPELLED_WORDS ? nthMatch(ROT13_SIGN, text, 1) : NO_MATCH;
  if (rot.nth >= 0) out.push({ how: 'rot13', text: rot13(windowAt(text, rot.first)) });
  const back = signs & RESPELLED_WORDS ? nthMatch(REVERSED_SIGN, text, 1) : NO_MATCH;
  if (back.nth >= 0) {
    const window = windowAt(text, back.first);
    out.push({ how: 'reversed', text: reversed(window) }, { how: 'each word reversed', text: window.replace(/[\p{L}\p{M}]+/gu, reversed) });
  }
  let known = 0;
  let firstKnown = -1;
  if (signs & RESPELLED_LEET) {
    // The words around each leet character (not an expression tried at every place of the text).
    LEET_CHAR.lastIndex = 0;
    for (let m = LEET_CHAR.exec(text); m !== null && known < 2; m = LEET_CHAR.exec(text)) {
      let start = m.index;
      let end = m.index + 1;
      let letters = false;
      for (let c = text.charCodeAt(start - 1); start > 0 && leetWordCode(c); c = text.charCodeAt(--start - 1)) letters ||= (c | 32) >= 97;
      for (let c = text.charCodeAt(end); end < text.length && leetWordCode(c); c = text.charCodeAt(++end)) letters ||= (c | 32) >= 97;
      if (letters && end - start <= 24 && LEET_VOCABULARY.has(unleet(text.slice(start, end)).toLowerCase()) && known++ === 0) firstKnown = start;
      LEET_CHAR.lastIndex = end;
    }
    LEET_CHAR.lastIndex = 0;
  }
  if (known >= 2) out.push({ how: 'leetspeak', text: windowAt(text, firstKnown).replace(LEET_WORD, (w) => (w.length <= 4 || /[a-z]/i.test(w) ? unleet(w) : w)) });
  // One run of six letters (a word spelled out), or twelve in shorter runs (short words each spelled out on its own).
  let letters = 0;
  let firstRun = -1;
  let enough = false;
  SPACED_RUN.lastIndex = 0;
  for (let m = signs & RESPELLED_SPACED ? SPACED_RUN.exec(text) : null; m !== null && !enough; m = SPACED_RUN.exec(text)) {
    const n = lettersUpTo(m[0], 12);
    if (firstRun < 0) firstRun = m.index;
    letters += n;
    enough = n >= 6 || letters >= 12;
  }
  SPACED_RUN.lastIndex = 0;
  if (enough) {
    const window = windowAt(text, firstRun);
    out.push({ how: 'letter-spaced', text: window.replace(SPACED_RUN, joinedLetters) });
  }
  return out;
}

/**
 * Prefilters per channel: the union of all rules' gates, and the rules in groups of GROUP with the union of their
 * gates. Most text matches no gate at all; otherwise only groups whose gate matched test their rules' gates, and
 * only rules whose own gate matched run their full pattern.
 */
const GROUP = 6;
function compile(channel: Channel) {
  const rules = RULES.filter((r) => channel === 'indirect' || !r.indirectOnly).map((r) => {
    const letters = gateFirstLetters(r.gate);
    const gateRe = prefilter(r.gate);
    return { ...r, gateRe, letters: letters === undefined ? ANY_LETTER : lettersMask(letters) };
  });
  const groups = [];
  for (let i = 0; i < rules.length; i += GROUP) {
    const members = rules.slice(i, i + GROUP);
    groups.push({ gateRe: prefilter(members.flatMap((r) => r.gate)), rules: members });
  }
  const { words } = prefilterSources(rules.flatMap((r) => r.gate));
  // The union of the word gates, global: where it matches, and so which letters the rules' gates can start at.
  const wordsAll = words === undefined ? undefined : new RegExp(words, 'gi');
  return { gateRe: prefilter(rules.flatMap((r) => r.gate)), groups, rules, wordsAll };
}
/**
 * A set of letters as a bit mask: a to z a bit each, every other letter the one bit after them (a superset is enough:
 * gatedRules may return rules whose gates then do not match). ANY_LETTER: every bit.
 */
const ANY_LETTER = -1;
const OTHER_LETTER = 1 << 26;
const letterBit = (letter: string) => {
  const c = letter.charCodeAt(0);
  return letter.length === 1 && c >= 97 && c <= 122 ? 1 << (c - 97) : OTHER_LETTER;
};
function lettersMask(letters: Iterable<string>): number {
  let mask = 0;
  for (const l of letters) mask |= letterBit(l);
  return mask;
}
/**
 * Beyond this many places where a word gate matches, the letters found are not worth collecting (a megabyte of
 * near-matches): the group gates decide instead.
 */
const MAX_GATE_HITS = 64;

/**
 * The union of gates, as one test over the text (see prefilterSources). `scan`, the model's scan of the same text,
 * says whether it holds any character a symbol gate starts with (see markCharacters below); without it, `includes`.
 * Also the two halves apart: the word gates as a sticky expression, to test at a given place (see gatedRules), and
 * the symbol gates' test.
 */
interface Prefilter {
  test(text: string, scan?: SegmentScore): boolean;
  wordsAt: RegExp | undefined;
  symbolTest(text: string, scan?: SegmentScore): boolean;
  /** Whether there are symbol gates (symbolTest is false for every text without them). */
  symbols: boolean;
}
/** Whether the text holds any of the characters (a loop, not `some`: no callback made per text). */
function includesAny(text: string, chars: string[]): boolean {
  for (let i = 0; i < chars.length; i++) if (text.includes(chars[i]!)) return true;
  return false;
}
function prefilter(alternatives: string[]): Prefilter {
  const { words, symbols } = prefilterSources(alternatives);
  const w = words === undefined ? undefined : new RegExp(words, 'i');
  const s = symbols === undefined ? undefined : new RegExp(symbols, 'i');
  const starts = symbols === undefined ? undefined : symbolStarts(symbols);
  if (starts !== undefined) markCharacters(starts);
  // Most text holds none of the characters a symbol gate starts with: `indexOf` says so faster than the expression.
  // (The scan's `marked` covers the starts of every channel's gates: when it is set, `includes` says which.)
  const mayHoldSymbol = (text: string, scan: SegmentScore | undefined) => starts === undefined || ((scan === undefined || scan.marked) && includesAny(text, starts));
  const symbolTest = (text: string, scan?: SegmentScore) => s !== undefined && mayHoldSymbol(text, scan) && s.test(text);
  return {
    // (The scan's `wordGate` covers the word gates of every channel: when it is set, the expression says which.)
    test: (text, scan) => (w !== undefined && (scan === undefined || scan.wordGate) && w.test(text)) || symbolTest(text, scan),
    wordsAt: words === undefined ? undefined : new RegExp(words, 'iy'),
    symbolTest,
    symbols: s !== undefined,
  };
}

/**
 * The characters the alternatives of a symbol gate start with, when each starts with one literal character that no
 * case folding changes (`<`, `@`, `\[`, `=`) and that no quantifier makes optional; otherwise undefined (no shortcut).
 */
export function symbolStarts(source: string): string[] | undefined {
  const starts = new Set<string>();
  for (const a of alternativesOf(source)) {
    const m = /^(?:\\([^\w\s])|([^\w\s\\()[\].*+?^${}|]))(?![?*{])/.exec(a);
    if (!m) return undefined;
    starts.add(m[1] ?? m[2]!);
  }
  return [...starts];
}
type Compiled = ReturnType<typeof compile>;
const COMPILED: Record<Channel, Compiled> = { direct: compile('direct'), indirect: compile('indirect') };
/**
 * The words every word gate (of both channels) can start with, told to the model's scan: plain ASCII text where none
 * occurs (most text) is not searched with the gates' expression (see gate-words.ts). When an alternative is beyond
 * what gate-words.ts reads, nothing is told and every text is searched, as before.
 */
const WORD_GATES = gateWords([...new Set(RULES.flatMap((r) => r.gate))].filter((a) => /^(\(\?:)?\p{L}/u.test(a)));
if (WORD_GATES !== undefined) markGateWords(WORD_GATES);
/**
 * The model's functions as local bindings, read once: a call through the imported module's binding goes through a
 * getter on every call once the module is compiled to CommonJS (tsx, ts-jest), a few per text on the hot path.
 */
const scanOf = modelScan;
const leaningOf = leaning;
const pastOf = past;
const normalized = normalize;

/**
 * The first pass over every text: any gate, a `%xx` escape or the start of a 24-character base64 run. Text that
 * matches none of them (most text) is left to the model alone. Two expressions, not one alternation of both: joined,
 * the run's alternative is tried at every position and the whole takes 2.5 times as long as the two apart.
 */
// (`(?:^|[^…])` rather than a lookbehind: the engine rejects a position on its first character, twice as fast.)
const ENCODED_RUN = /%[0-9a-f]{2}|(?:^|[^\w+/-])[\w+/-]{24}/i;
const suspect = (text: string, channel: Channel) => COMPILED[channel].gateRe.test(text) || ENCODED_RUN.test(text);

/**
 * A log record's start: a timestamp (syslog's `Dec  5 09:14:02`, ISO 8601's `2026-12-05T09:14:02`, or a bracketed
 * one) and, for syslog, the host and the program's name with its pid (`mbp-07 softwareupdated[412]:`).
 */
const LOG_RECORD = /^\s{0,4}(?:\[?(?:\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d)?|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\s{1,2}\d{1,2}\s\d\d:\d\d:\d\d)\S{0,16}\]?\s+\S{1,64}(?:\s+[\w.()-]{1,64}\[\d{1,7}\]:|\s))/i;
/** How far past its threshold (in logits) the model must be on a log record's line. */
const LOG_RECORD_MARGIN = 2;
function onLogRecord(text: string, at: number): boolean {
  const start = text.lastIndexOf('\n', at) + 1;
  return LOG_RECORD.test(text.slice(start, Math.min(at, start + 160)));
}

/** Where the union of the word gates matched (see wordGateHits): reused, so that no array is made per text. */
const HITS = new Int32Array(MAX_GATE_HITS + 1);
/** The letters the union of the word gates matched at, as wordGateHits last found them (see lettersMask). */
let hitLetters = 0;
/**
 * The places where the union of the word gates matches the text, into HITS (from the first, up to one past
 * MAX_GATE_HITS), and the letters there into hitLetters: how many places. -1 when the channel has no union of word
 * gates (every rule is then tested by its group's gate).
 */
function wordGateHits(text: string, compiled: Compiled, scan?: SegmentScore): number {
  const re = compiled.wordsAll;
  if (re === undefined) return -1;
  // (The scan's `wordGate` covers the word gates of every channel: when it is not set, none matches.)
  if (scan !== undefined && !scan.wordGate) {
    hitLetters = 0;
    return 0;
  }
  let letters = 0;
  let hits = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    letters |= letterBit(text[m.index]!.toLowerCase());
    HITS[hits] = m.index;
    // From the next character, not past the match: another gate may start inside this one ("the output" / "output").
    re.lastIndex = m.index + 1;
    if (++hits > MAX_GATE_HITS) break;
  }
  re.lastIndex = 0;
  hitLetters = letters;
  return hits;
}
/** The rules whose gates match, found by testing each group's gate and then its rules' gates over the whole text. */
function rulesByGroups(text: string, compiled: Compiled, multiline: boolean): Compiled['rules'] {
  const out: Compiled['rules'] = [];
  for (const g of compiled.groups) {
    if (!g.gateRe.test(text)) continue;
    for (const r of g.rules) if ((multiline || !r.multiline) && r.gateRe.test(text)) out.push(r);
  }
  return out;
}
/**
 * The rules whose gates may match the text, in the rules' order (a superset: each is then tested on its own gate).
 * Short text, most of what passes the union gate, has a word gate matching in one to three places: the letters
 * there leave only the rules whose gates start with one of them, and those that start with a symbol. Testing the
 * fifteen group gates over the text instead cost a fifth of the detector's time on the benign IT set.
 * `hits`: what wordGateHits returned for this text, the places and letters still in HITS and hitLetters.
 */
function gatedRules(text: string, compiled: Compiled, multiline: boolean, hits: number, scan: SegmentScore | undefined) {
  if (hits < 0 || hits > MAX_GATE_HITS) return rulesByGroups(text, compiled, multiline);
  const letters = hitLetters;
  // Whether the union of the symbol gates matches: tested once, when the first rule with a symbol gate needs it (a
  // rule's symbol gate searches the whole text; where the union does not match, none of them can).
  let symbols: boolean | undefined;
  // Every place where a rule's word gate matches is one where the union matched, and all of those were found: a rule's
  // word gate is tried at those places only (sticky), not searched for over the whole text again.
  const out: Compiled['rules'] = [];
  for (const r of compiled.rules) {
    if (!(r.letters === ANY_LETTER || (r.letters & letters) !== 0) || !(multiline || !r.multiline)) continue;
    const at = r.gateRe.wordsAt;
    let match = false;
    if (at !== undefined) {
      for (let j = 0; j < hits && !match; j++) {
        at.lastIndex = HITS[j]!;
        match = at.test(text);
      }
    }
    if (match) out.push(r);
    else if (r.gateRe.symbols && (symbols ??= compiled.gateRe.symbolTest(text, scan)) && r.gateRe.symbolTest(text, scan)) out.push(r);
  }
  return out;
}

/**
 * `matched`: whether the union of the gates matches the text, with `hits`, where its word gates do (wordGateHits), and
 * the text's scan, when the caller has found them already (apart, not as one object: no allocation per text).
 */
function runRules(text: string, channel: Channel, matched?: boolean, hits = -1, scan?: SegmentScore): Map<Category, Finding> {
  const found = new Map<Category, Finding>();
  const compiled = COMPILED[channel];
  if (matched === undefined) {
    hits = wordGateHits(text, compiled);
    matched = hits > 0 || compiled.gateRe.symbolTest(text);
  }
  if (!matched) return found;
  const multiline = text.includes('\n');
  // The rules whose own gates match, in the rules' order.
  const candidates = gatedRules(text, compiled, multiline, hits, scan);
  for (const rule of candidates) {
    // exec on the rule's own global expression, not matchAll: matchAll copies the expression on every call.
    const re = rule.pattern;
    re.lastIndex = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      if (m[0].length === 0) re.lastIndex++;
      // A half-weight request ("please use …") on a log record's line is a program talking to its operator.
      if (rule.category === 'embedded_instruction' && rule.weight < 1 && onLogRecord(text, m.index)) continue;
      const f = found.get(rule.category) ?? { category: rule.category, weight: 0, spans: [] };
      f.weight = Math.max(f.weight, rule.weight);
      if (f.spans.length < MAX_SPANS) f.spans.push({ start: m.index, end: m.index + m[0].length, text: m[0].slice(0, 200) });
      found.set(rule.category, f);
      if (f.spans.length >= MAX_SPANS) break;
    }
    // Left where it stopped, the shared expression would start its next use (anywhere) part-way through.
    re.lastIndex = 0;
  }
  return found;
}

function add(found: Map<Category, Finding>, category: Category, weight: number, note: string): void {
  const f = found.get(category) ?? { category, weight: 0, spans: [] };
  f.weight = Math.max(f.weight, weight);
  if (f.spans.length < MAX_SPANS) f.spans.push({ start: 0, end: 0, text: note });
  found.set(category, f);
}

/**
 * The learned model's verdict (injection-model.ts): the segment that reads most like an instruction to the assistant,
 * as a finding of the category the console already shows for it (in data: an embedded instruction; from a user: an
 * attempt to override the instructions).
 */
function addModelFinding(found: Map<Category, Finding>, text: string, channel: Channel, scan: SegmentScore | undefined): void {
  const best = scan && leaningOf(scan, channel);
  // Leaning alone is nothing to report: it only completes another signal.
  if (!best || (!best.confident && found.size === 0)) return;
  // A log record's message is a program talking to its operator ("Please use the App Store to install this update"):
  // there the model counts only well past its threshold, and a lean not at all.
  if (onLogRecord(text, best.start) && !past(best, channel, LOG_RECORD_MARGIN)) return;
  const category: Category = channel === 'indirect' ? 'embedded_instruction' : 'instruction_override';
  const f = found.get(category) ?? { category, weight: 0, spans: [] };
  // A segment the model leans towards reading as an instruction is half a detection (a phrase rule's half makes it
  // whole); past its threshold, or in text disguised with invisible, look-alike or reordering characters, a whole one.
  const disguised = found.has('invisible_characters') || found.has('homoglyphs') || found.has('bidi_override');
  const weight = best.confident || disguised ? 1 : LEANING_WEIGHT;
  // The same category's weights add up here: a rule's half and the model's half on one sentence make a detection.
  f.weight = f.weight > 0 && f.weight < 1 ? Math.min(1, f.weight + weight) : Math.max(f.weight, weight);
  if (f.spans.length < MAX_SPANS) f.spans.push({ start: best.start, end: best.end, text: text.slice(best.start, Math.min(best.end, best.start + 200)) });
  found.set(category, f);
}

export function detect(input: string, channel: Channel = 'direct', depth = 0): Detection {
  return inspect(input, channel, depth).detection;
}

/** The detection, and the model's scan of the normalized text (so that a caller need not scan it again). */
function inspect(input: string, channel: Channel, depth: number): { detection: Detection; scan: SegmentScore | undefined } {
  // The model reads every text once; its scan also tells whether the text holds an encoded run to decode, and whether
  // it is plain ASCII (most text), which normalizing returns as it is: such text is scanned as it came and not
  // searched for anything to normalize first. Other text is normalized, and scanned again only if that changed it.
  let scan = scanOf(input, channel);
  let n: Normalized;
  if (scan !== undefined && scan.plain) n = { text: input, invisible: 0, tags: 0, bidi: 0, homoglyphWords: 0 };
  else {
    n = normalized(input);
    if (scan !== undefined && n.text !== input) scan = scanOf(n.text, channel);
  }
  // The gates are tested once here; runRules is told the answer rather than scanning the text for them again. The
  // places where the word gates match are the union's test (without one, only a symbol gate can match) and, when the
  // rules run, where each rule's own word gate is tried (see gatedRules).
  // (HITS and hitLetters hold the places until runRules reads them below: nothing in between searches the gates.)
  const compiled = COMPILED[channel];
  const hits = wordGateHits(n.text, compiled, scan);
  const gate = hits > 0 || compiled.gateRe.symbolTest(n.text, scan);
  const encoded = scan ? scan.encodedRun : ENCODED_RUN.test(n.text);
  // Respelled or escaped text (see respellings, unescapedText, separatedHexRuns): read back only where the scan saw a
  // sign of it, and only what reads as something (most text with a sign, a lone letter or a `\`, has no such reading).
  const respelled = depth > 0 ? 0 : scan ? scan.respelled : ALL_SIGNS;
  const readings = respelled ? respellings(n.text, respelled) : NONE;
  const revealed = respelled & RESPELLED_HEX ? separatedHexRuns(n.text) : NONE;
  const unescaped = depth === 0 && (scan ? scan.escape : mayHoldEscapes(n.text)) ? unescapedText(n.text) : undefined;
  if (
    n.invisible + n.tags + n.bidi + n.homoglyphWords === 0 &&
    n.visual === undefined &&
    !gate &&
    !encoded &&
    readings.length === 0 &&
    revealed.length === 0 &&
    unescaped === undefined &&
    !(n.unaccented !== undefined && suspect(n.unaccented, channel))
  ) {
    // Nothing for the rules: only a confident model can make this text an injection (most text ends here).
    // (Confident: past the threshold by nothing; `leaning` would also copy the scan to say so.)
    if (!(scan && pastOf(scan, channel, 0))) return { detection: { verdict: 'clean', score: 0, findings: [], version: DETECTOR_VERSION }, scan };
    const found = new Map<Category, Finding>();
    addModelFinding(found, n.text, channel, scan);
    return { detection: verdict(found), scan };
  }
  const found = runRules(n.text, channel, gate, hits, scan);
  if (n.unaccented !== undefined) {
    for (const [category, f] of runRules(n.unaccented, channel)) {
      const known = found.get(category);
      if (!known) found.set(category, f);
      else known.weight = Math.max(known.weight, f.weight);
    }
  }
  if (n.tags > 0) add(found, 'invisible_characters', 1, `${n.tags} Unicode tag characters${n.hidden ? `: ${n.hidden.slice(0, 120)}` : ''}`);
  else if (n.invisible > 0) add(found, 'invisible_characters', 0.3, `${n.invisible} zero-width characters`);
  if (n.bidi > 0) add(found, 'bidi_override', 0.6, `${n.bidi} bidirectional control characters`);
  if (n.homoglyphWords > 0) add(found, 'homoglyphs', found.size > 0 ? 0.5 : 0.3, `${n.homoglyphWords} words with look-alike letters`);
  if (depth === 0) {
    // What a right-to-left override displays, reversed back into reading order: read as the model would read it.
    if (n.visual !== undefined && inspect(n.visual, channel, 1).detection.verdict === 'injection') add(found, 'bidi_override', 1, `displayed as: ${n.visual.slice(0, 120)}`);
    // Encoded text is read as what it says: a hidden instruction is flagged when the rules or the model would flag it
    // in the open, and also when the model only leans towards it (encoding prose is itself a way to hide it).
    // Base64 wrapped over lines (MIME, PEM) is a transport encoding: its text is read like any other. A run in one
    // piece is text someone chose to hide.
    // (Every run decodedRuns looks for, base64, hex or `%xx`, is one the model's scan reports: without one, none.)
    // (Hex bytes spelled apart and escaped characters are read like the runs decodedRuns finds.)
    const runs: { text: string; opaque: boolean; wrapped?: boolean }[] = [...(scan && !scan.encodedRun ? NONE : decodedRuns(n.text, scan)), ...revealed, ...(unescaped === undefined ? NONE : [unescaped])];
    for (const { text: decoded, opaque, wrapped } of runs) {
      const hidden = opaque && !wrapped;
      // (The decoded text's own scan, from its detection, says how far the model leans: it is not read twice.)
      const inner = inspect(decoded, channel, 1);
      const margin = wordCount(decoded) <= SHORT_PAYLOAD_WORDS ? SHORT_DECODED_MARGIN : DECODED_MARGIN;
      if (inner.detection.verdict === 'injection' || (hidden && ((inner.scan && leaningOf(inner.scan, channel, margin)) || readsAsForeignRequest(decoded)))) {
        add(found, 'encoded_payload', 1, `decoded: ${decoded.slice(0, 120)}`);
      } else if (hidden) {
        // Respelled, then encoded (base64 of reversed text): the decoded text's readings, as the text's own are read.
        for (const { how, text: reading } of respellings(decoded, inner.scan ? inner.scan.respelled : ALL_SIGNS)) {
          if (inspect(reading, channel, 1).detection.verdict === 'injection') add(found, 'encoded_payload', 1, `decoded, ${how}: ${reading.slice(0, 120)}`);
        }
      }
    }
    // Respelled text (rot13, reversed, leetspeak, letter-spaced) counts when its reading reads as an injection.
    for (const { how, text: reading } of readings) {
      if (inspect(reading, channel, 1).detection.verdict === 'injection') add(found, 'encoded_payload', 1, `${how}: ${reading.slice(0, 120)}`);
    }
  }
  addModelFinding(found, n.text, channel, scan);
  // Letters decorated with marks that words do not carry (Zalgo text: é̖́ on every letter) read to the model as the
  // plain letters: in text disguised so, the model reads it without them too.
  if (n.unaccented !== undefined && n.homoglyphWords > 0) addModelFinding(found, n.unaccented, channel, scanOf(n.unaccented, channel));
  return { detection: verdict(found), scan };
}

function verdict(found: Map<Category, Finding>): Detection {
  const findings = [...found.values()];
  const score = Math.round(Math.min(3, findings.reduce((s, f) => s + f.weight, 0)) * 100) / 100;
  return { verdict: score >= THRESHOLD ? 'injection' : 'clean', score, findings, version: DETECTOR_VERSION };
}
