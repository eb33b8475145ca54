/**
 * normalize's shortcut for text outside ASCII that needs nothing done (typographic quotes, dashes, Latin-1 letters,
 * CJK): it must give exactly what the full pass gives, for every character of the blocks it looks at, alone, beside
 * ASCII letters and beside each other, and for the ones it must not take (look-alikes, marks, invisible characters).
 */
import { normalize, normalizeFully, UNCHANGED_BLOCKS } from './normalize';

const BLOCK_CHARS = UNCHANGED_BLOCKS.flatMap(([lo, hi]) => Array.from({ length: hi - lo + 1 }, (_, i) => String.fromCharCode(lo + i)));

describe('normalize: the shortcut for text that needs nothing done', () => {
  it('gives what the full pass gives for every character of its blocks, alone and inside words', () => {
    const differ: string[] = [];
    for (const c of BLOCK_CHARS) {
      for (const text of [c, `a${c}b`, `Ign${c}re the ${c}${c} x`]) if (JSON.stringify(normalize(text)) !== JSON.stringify(normalizeFully(text))) differ.push(text);
    }
    expect(differ).toEqual([]);
  });

  it('gives what the full pass gives for random text of ASCII and those characters', () => {
    let seed = 7;
    const rand = (n: number) => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % n);
    const ascii = 'abcdefghijklmnopqrstuvwxyz IGNORE .,!?\'"\n';
    const differ: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      let text = '';
      for (let j = 0, n = 1 + rand(24); j < n; j++) text += rand(3) === 0 ? BLOCK_CHARS[rand(BLOCK_CHARS.length)] : ascii[rand(ascii.length)];
      if (JSON.stringify(normalize(text)) !== JSON.stringify(normalizeFully(text))) differ.push(text);
    }
    expect(differ).toEqual([]);
  });

  it('leaves what needs normalizing to the full pass', () => {
    // Office text as it comes: unchanged, accents read off as before.
    expect(normalize('“Résumé” – ready — 置換 ♠')).toEqual({ text: '“Résumé” – ready — 置換 ♠', unaccented: '“Resume” – ready — 置換 ♠', invisible: 0, tags: 0, bidi: 0, homoglyphWords: 0 });
    // A Cyrillic look-alike, a zero-width space, an ellipsis NFKC spells out, a combining mark on a Latin letter.
    expect(normalize('Ignоre').text).toBe('Ignore');
    expect(normalize('Ign\u200Bore')).toMatchObject({ text: 'Ignore', invisible: 1 });
    expect(normalize('wait…').text).toBe('wait...');
    expect(normalize('I\u0338gnore')).toMatchObject({ text: 'Ignore', homoglyphWords: 1 });
  });
});
