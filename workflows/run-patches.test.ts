/**
 * A session asks for its patches in its first workflow task (`Patch.PatchesAtStart`, ./run-patches.ts). A patch the
 * session's code asks for that is missing from SESSION_PATCHES would be asked where its branch is, the hazard the
 * patch removed (its marker in whichever task the run first got there): every `isPatched` of the code a session runs
 * must name a patch of the list, and that code asks no patch past `isPatched`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Patch, SESSION_PATCHES } from './patches';

// The code a session runs: every workflow module but the remediation (a run of its own) and the frozen branches
// (histories from before, which ask where their branches are).
const sessionCode = readdirSync(__dirname)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.startsWith('remediation') && f !== 'run-patches.ts' && f !== 'patches.ts')
  .map((f) => [f, readFileSync(path.join(__dirname, f), 'utf8')] as const);

it('asks for every patch of a session at its start', () => {
  const asked = sessionCode.flatMap(([, source]) => [...source.matchAll(/isPatched\(Patch\.(\w+)\)/g)].map((m) => m[1]!));
  expect(asked.length).toBeGreaterThan(8);
  const missing = asked.filter((name) => !(SESSION_PATCHES as readonly string[]).includes(Patch[name as keyof typeof Patch]));
  expect(missing).toEqual([]);
});

it('asks no patch of a session past isPatched', () => {
  const bare = sessionCode.filter(([, source]) => /[^\w]patched\(/.test(source.replace(/isPatched\(/g, ''))).map(([f]) => f);
  expect(bare).toEqual([]);
});
