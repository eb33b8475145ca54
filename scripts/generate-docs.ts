/**
 * `npm run docs`: rewrites the generated documentation — docs/configuration.md from lib/env.ts and the tool table
 * of docs/tools-and-tiers.md from the catalog (scripts/generate-docs.test.ts fails when either is stale).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CONFIGURATION_DOC, configurationMarkdown, REPO_ROOT, TOOLS_DOC, withToolTable } from './docs';

writeFileSync(CONFIGURATION_DOC, configurationMarkdown());
writeFileSync(TOOLS_DOC, withToolTable(readFileSync(TOOLS_DOC, 'utf8')));
console.log(`updated ${path.relative(REPO_ROOT, CONFIGURATION_DOC)} and the tool table of ${path.relative(REPO_ROOT, TOOLS_DOC)}`);
