/**
 * The generated parts of the documentation, rendered from their sources of truth: docs/configuration.md from the env
 * schema in lib/env.ts, the tool table in docs/tools-and-tiers.md from the catalog, and the table of audit actions in
 * docs/audit.md from audit/actions.ts. `npm run docs` writes them;
 * scripts/generate-docs.test.ts fails when the committed files are stale.
 */
import path from 'node:path';
import type { z } from 'zod';
import { AUDIT_ACTIONS } from '../audit/actions';
import { tierTableMarkdown } from '../common/tools';
import { Env } from '../lib/env';

export const REPO_ROOT = path.resolve(__dirname, '..');
export const CONFIGURATION_DOC = path.join(REPO_ROOT, 'docs', 'configuration.md');
export const TOOLS_DOC = path.join(REPO_ROOT, 'docs', 'tools-and-tiers.md');
export const AUDIT_DOC = path.join(REPO_ROOT, 'docs', 'audit.md');

const TOOLS_START = '<!-- tools:start -->';
const TOOLS_END = '<!-- tools:end -->';
const ACTIONS_START = '<!-- audit-actions:start -->';
const ACTIONS_END = '<!-- audit-actions:end -->';

type Schema = z.ZodType;

/** The default a variable takes when unset, as shown to a reader (paths inside the clone relative to it). */
function defaultOf(schema: Schema): string {
  const def = schema.def as { type: string; defaultValue?: unknown; in?: Schema };
  if (def.type === 'default') {
    const value = String(def.defaultValue);
    return `\`${value.startsWith(REPO_ROOT) ? `.${value.slice(REPO_ROOT.length)}` : value}\``;
  }
  if (def.type === 'pipe' && def.in) return defaultOf(def.in);
  return 'unset';
}

/** The values an enum variable accepts, looking through its default and transform. */
function choicesOf(schema: Schema): string[] | undefined {
  const def = schema.def as { type: string; entries?: Record<string, unknown>; innerType?: Schema; in?: Schema };
  if (def.type === 'enum' && def.entries) return Object.values(def.entries).map(String);
  if (def.type === 'default' && def.innerType) return choicesOf(def.innerType);
  if (def.type === 'pipe' && def.in) return choicesOf(def.in);
  return undefined;
}

/** A table cell: no pipe may end the cell early, no newline may end the row. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
}

/** docs/configuration.md, whole. Every variable must carry a `.describe()` text: a missing one stops the generator. */
export function configurationMarkdown(): string {
  const rows = Object.entries(Env.shape).map(([name, schema]) => {
    const description = schema.description;
    if (!description) throw new Error(`lib/env.ts: ${name} has no .describe() text; add one (it is what docs/configuration.md says)`);
    const choices = choicesOf(schema);
    const accepts = choices ? ` One of ${choices.map((c) => `\`${c}\``).join(', ')}.` : '';
    return `| \`${name}\` | ${cell(defaultOf(schema))} | ${cell(description + accepts)} |`;
  });
  return [
    '# Configuration',
    '',
    '<!-- Generated from the env schema in lib/env.ts by `npm run docs`; edit the schema, not this file. -->',
    '',
    'Every variable is read once, by `lib/env.ts` (one zod schema), when a process starts; a bad value stops the',
    'process with a message naming the variable. Outside production every variable has a working local default or',
    'may stay unset. An empty value counts as unset.',
    '',
    '| variable | default | meaning |',
    '| --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}

/** `text` with its tool table (between the tools markers) rendered from the catalog. */
export function withToolTable(text: string): string {
  const pattern = new RegExp(`${TOOLS_START}[\\s\\S]*?${TOOLS_END}`);
  if (!pattern.test(text)) throw new Error(`${path.relative(REPO_ROOT, TOOLS_DOC)} has no ${TOOLS_START} … ${TOOLS_END} section`);
  return text.replace(pattern, () => `${TOOLS_START}\n${tierTableMarkdown()}\n${TOOLS_END}`);
}

/** `text` with its table of audit actions (between the audit-actions markers) rendered from audit/actions.ts. */
export function withAuditActions(text: string): string {
  const pattern = new RegExp(`${ACTIONS_START}[\\s\\S]*?${ACTIONS_END}`);
  if (!pattern.test(text)) throw new Error(`${path.relative(REPO_ROOT, AUDIT_DOC)} has no ${ACTIONS_START} … ${ACTIONS_END} section`);
  const rows = Object.entries(AUDIT_ACTIONS).map(([action, what]) => `| \`${action}\` | ${cell(what)} |`);
  return text.replace(pattern, () => [ACTIONS_START, '| action | what it records |', '| --- | --- |', ...rows, ACTIONS_END].join('\n'));
}
