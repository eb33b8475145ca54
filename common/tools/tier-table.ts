/** The table of docs/tools-and-tiers.md (`npm run docs`), generated from the definitions. */
import type { Tier } from '../tier';
import { TOOLS } from './catalog';
import { TIER_OF_ITS_ACTION, type Tool } from './define-tool';

const tierLabel = (t: Tier) => `T${t}`;

/** A tool's default tier in words: `T3`, `status T1 · restart T3`, or `tier of its action, raised by blast radius`. */
export function tierCell({ tier }: Tool): string {
  if (typeof tier === 'number') return tierLabel(tier);
  if (tier === TIER_OF_ITS_ACTION) return `${tier}, raised by blast radius`;
  return Object.entries(tier).map(([a, t]) => `${a} ${tierLabel(t)}`).join(' · ');
}

function runsCell({ runs }: Tool): string {
  if (runs === 'database') return 'our database';
  if ('command' in runs) return `agent command \`${runs.command}\` per device`;
  return 'a `remediation` workflow, its action per device';
}

export function tierTableMarkdown(): string {
  const rows = (TOOLS as readonly Tool[]).map((tool) => {
    const { max, windowSeconds } = tool.rateLimit;
    return `| \`${tool.name}\` | ${tierCell(tool)} | ${max} per ${windowSeconds / 60} min | ${runsCell(tool)} |`;
  });
  return ['| tool | tier | rate limit per user | runs as |', '| --- | --- | --- | --- |', ...rows].join('\n');
}
