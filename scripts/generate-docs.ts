/**
 * `npm run docs`: rewrites the generated documentation — docs/configuration.md from lib/env.ts and the tool table
 * of docs/tools-and-tiers.md from the catalog, and the console's event names in web/lib/events.js from the `/console`
 * catalog, and the table of audit actions in docs/audit.md (scripts/generate-docs.test.ts fails when any of them is
 * stale).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { AUDIT_DOC, CONFIGURATION_DOC, configurationMarkdown, REPO_ROOT, TOOLS_DOC, withAuditActions, withToolTable } from './docs';
import { WEB_EVENTS_FILE, webEventsModule } from './web-events';

writeFileSync(CONFIGURATION_DOC, configurationMarkdown());
writeFileSync(TOOLS_DOC, withToolTable(readFileSync(TOOLS_DOC, 'utf8')));
writeFileSync(WEB_EVENTS_FILE, webEventsModule());
writeFileSync(AUDIT_DOC, withAuditActions(readFileSync(AUDIT_DOC, 'utf8')));
console.log(`updated ${path.relative(REPO_ROOT, CONFIGURATION_DOC)}, the tool table of ${path.relative(REPO_ROOT, TOOLS_DOC)}, ${path.relative(REPO_ROOT, WEB_EVENTS_FILE)} and the audit actions of ${path.relative(REPO_ROOT, AUDIT_DOC)}`);
