/**
 * The generated documentation must match its sources: a variable added to lib/env.ts, or a tool or tier changed
 * in the catalog, fails here until `npm run docs` is run and its output committed.
 */
import { readFileSync } from 'node:fs';
import { Env } from '../lib/env';
import { AUDIT_DOC, CONFIGURATION_DOC, configurationMarkdown, TOOLS_DOC, withAuditActions, withToolTable } from './docs';
import { WEB_EVENTS_FILE, webEventsModule } from './web-events';

it('keeps docs/configuration.md generated from the env schema (npm run docs)', () => {
  expect(readFileSync(CONFIGURATION_DOC, 'utf8')).toBe(configurationMarkdown());
});

it('documents every variable of the env schema, with its default', () => {
  const doc = readFileSync(CONFIGURATION_DOC, 'utf8');
  for (const name of Object.keys(Env.shape)) expect(doc).toContain(`| \`${name}\` |`);
  expect(doc).toContain('| `PORT` | `3000` |');
  expect(doc).toContain('| `DATA_DIR` | `./data` |');
});

it('keeps the tool table of docs/tools-and-tiers.md generated from the catalog (npm run docs)', () => {
  const doc = readFileSync(TOOLS_DOC, 'utf8');
  expect(doc).toBe(withToolTable(doc));
});

it("keeps the console's event names in web/lib/events.js generated from the /console catalog (npm run docs)", () => {
  expect(readFileSync(WEB_EVENTS_FILE, 'utf8')).toBe(webEventsModule());
});

it('keeps the table of audit actions in docs/audit.md generated from audit/actions.ts (npm run docs)', () => {
  const doc = readFileSync(AUDIT_DOC, 'utf8');
  expect(doc).toBe(withAuditActions(doc));
});
