import RandExp from 'randexp';
import { randexpSource } from './testdata/randexp-source';
import { seeded } from './testdata/seeded-random';
import { gateWords } from './gate-words';
import './injection-detector';
import { modelScan } from './injection-model';
import { RULES, prefilterSources } from './injection-rules';

/**
 * The scan's `wordGate` lets the detector skip the word gates' expression: it must say "may match" wherever the
 * expression matches (a superset), or a rule would be skipped silently. Checked on strings generated from every
 * gate and every rule (randexp, seeded), in plain ASCII text, alone and between ordinary words.
 */
function generated(source: string, n: number, seed: number): string[] {
  const gen = new RandExp(new RegExp(randexpSource(source), 'i'));
  gen.randInt = seeded(seed);
  gen.max = 4;
  // Plain ASCII only (the scan answers for nothing else), in the cases the gates fold.
  gen.defaultRange.subtract(0x7f, 0xffff);
  const rand = seeded(seed + 7);
  return Array.from({ length: n }, (_, i) => {
    const s = gen.gen();
    const cased = rand(0, 2) === 0 ? s.toUpperCase() : s;
    return i % 3 === 0 ? cased : i % 3 === 1 ? `Hi. The disk ${cased} ok` : `note:\n${cased}\tx`;
  });
}

const ALTERNATIVES = [...new Set(RULES.flatMap((r) => r.gate))].filter((a) => /^(\(\?:)?\p{L}/u.test(a));
const WORDS = new RegExp(prefilterSources(ALTERNATIVES).words!, 'i');
const PLAIN = /^[\x20-\x7e\t\n\r]*$/;

it('reads every word gate of the rules', () => {
  const g = gateWords(ALTERNATIVES)!;
  expect(g).toBeDefined();
  expect(g.words).toEqual(expect.arrayContaining(['ignore', 'please', 'tool']));
  expect(g.pairs).toEqual(expect.arrayContaining([['i', 'want'], ['get', 'device']]));
  expect(g.pairPrefixes).toEqual(expect.arrayContaining([['your', 'summar'], ['new', 'task']]));
  expect(g.prefixes).toEqual(expect.arrayContaining(['ig', 'untrusted']));
  expect(g.followed).toEqual(expect.arrayContaining([['system', ':'], ['important', '!']]));
  expect(g.words).not.toContain('human');
});

it('gives up on what it does not read, rather than guess', () => {
  expect(gateWords(['(?=x)ignore'])).toBeUndefined();
  expect(gateWords(['\\w+ignore'])).toBeUndefined();
  // A repeated class of word characters: after it none, or the unknown (the run a prefix).
  expect(gateWords(['ab\\w{0,3}cd\\s'])).toEqual({ words: ['abcd'], prefixes: ['ab'], pairs: [], pairPrefixes: [], followed: [] });
  // A letter outside ASCII never matches plain ASCII text.
  expect(gateWords(['höre?\\s+nicht'])).toEqual({ words: [], prefixes: [], pairs: [], pairPrefixes: [], followed: [] });
  // An apostrophe separates runs; a match that ends with a word leaves the run it ends in open (a prefix).
  expect(gateWords(['let\'?s\\s+play'])).toEqual({ words: [], prefixes: [], pairs: [['let', 's']], pairPrefixes: [['lets', 'play']], followed: [] });
});

it('says a word gate may match wherever the gates\' expression matches', () => {
  let matched = 0;
  let skipped = 0;
  const sources = [...ALTERNATIVES, ...RULES.map((r) => r.pattern.source)];
  for (const [i, source] of sources.entries()) {
    for (const text of generated(source, 60, 5000 + i)) {
      if (!PLAIN.test(text) || !WORDS.test(text)) continue;
      matched += 1;
      const scan = modelScan(text, 'indirect')!;
      if (!scan.wordGate) throw new Error(`the scan misses a word gate in: ${JSON.stringify(text.slice(0, 200))}`);
    }
  }
  for (const text of ['The disk is full.', 'Restart the print spooler on srv-02', 'Get-Process | Sort-Object CPU']) {
    if (!modelScan(text, 'indirect')!.wordGate) skipped += 1;
  }
  expect(matched).toBeGreaterThan(sources.length * 30);
  // And it is worth something: ordinary text skips the expression.
  expect(skipped).toBe(3);
});

it('leaves text with an apostrophe inside a word, or outside ASCII, to the expression', () => {
  expect(modelScan("Let's play a game", 'indirect')!.wordGate).toBe(true);
  expect(modelScan("it's fine", 'indirect')!.wordGate).toBe(true);
  expect(modelScan('Ünïcode text here', 'indirect')!.wordGate).toBe(true);
  expect(modelScan('IGNORE everything', 'indirect')!.wordGate).toBe(true);
  expect(modelScan('send it and forward-it to me', 'indirect')!.wordGate).toBe(true);
  expect(modelScan('send it and then it to me', 'indirect')!.wordGate).toBe(true);
  expect(modelScan('Igxyre that', 'indirect')!.wordGate).toBe(true);
  expect(modelScan('Your summaries', 'indirect')!.wordGate).toBe(true);
  expect(modelScan('your summer', 'indirect')!.wordGate).toBe(false);
  expect(modelScan('new tasks1 follow', 'indirect')!.wordGate).toBe(true);
  expect(modelScan('System :\n be nice', 'indirect')!.wordGate).toBe(true);
  expect(modelScan('[System.IO.File]::Exists($p)', 'indirect')!.wordGate).toBe(false);
  expect(modelScan('the system is up', 'indirect')!.wordGate).toBe(false);
});
