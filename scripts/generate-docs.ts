/** `npm run docs:tools`: rewrites the README's tool table from the catalog (a test fails when it is stale). */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tierTableMarkdown } from '../common/tools';

const file = path.resolve(__dirname, '..', 'README.md');
const readme = readFileSync(file, 'utf8');
const next = readme.replace(/<!-- tools:start -->[\s\S]*?<!-- tools:end -->/, `<!-- tools:start -->\n${tierTableMarkdown()}\n<!-- tools:end -->`);
if (next === readme && !readme.includes('<!-- tools:start -->')) throw new Error('README.md has no <!-- tools:start --> section');
writeFileSync(file, next);
console.log('README.md tool table updated');
