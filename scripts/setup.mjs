#!/usr/bin/env node
// Bootstrap shared by `npm start` and `npm test`. Plain Node with no dependencies, because it runs before
// node_modules exists: it installs the npm packages when they are missing or stale, then hands over to
// scripts/setup.ts (TypeScript, run with tsx) for everything else.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 10)) {
  console.error(`setup: Node ${process.versions.node} is too old; Gatehouse needs Node 20.10 or newer (https://nodejs.org).`);
  process.exit(1);
}

const lock = path.join(root, 'package-lock.json');
const installed = path.join(root, 'node_modules', '.package-lock.json');
const stale = !existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs;
if (stale) {
  console.log('setup: installing npm dependencies…');
  // Not `npm ci`: npm 11 writes a lock file without other platforms' optional packages (@swc/core-darwin-*, …)
  // and then `npm ci` refuses that same lock file. `install --no-save` installs the locked tree and leaves it as is.
  try {
    execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: root, stdio: 'inherit' });
  } catch {
    console.error('setup: `npm install` failed; check that the npm registry is reachable and run it by hand to see why.');
    process.exit(1);
  }
}

const tsx = path.join(root, 'node_modules', '.bin', 'tsx');
const result = spawnSync(tsx, [path.join(root, 'scripts', 'setup.ts'), ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
