/**
 * The catalog as an MCP server lists it (`tools/list` at /mcp): the same names, descriptions and input schemas as
 * the model's tool list, each tool's default tier in its description and in MCP's annotations (`readOnlyHint` for
 * T1 reads, `destructiveHint` for anything that can need an approval).
 */
import { TIER_NAMES, Tier } from '../tier';
import { anthropicToolDefinitions } from './model-tools';
import { TOOLS } from './catalog';
import { TIER_OF_ITS_ACTION, type Tool } from './define-tool';
import { tierCell } from './tier-table';

export interface McpToolDefinition {
  name: string;
  title: string;
  description: string;
  inputSchema: { type: 'object'; [key: string]: unknown };
  annotations: { title: string; readOnlyHint: boolean; destructiveHint: boolean; idempotentHint: boolean; openWorldHint: boolean };
}

/** Every tier a call of the tool can start at (its effect's for a remediation: anything up to T4). */
function tiersOf({ tier }: Tool): Tier[] {
  if (typeof tier === 'number') return [tier];
  if (tier === TIER_OF_ITS_ACTION) return [Tier.T2, Tier.T3, Tier.T4];
  return Object.values(tier);
}

function tierSentence(tool: Tool): string {
  const tiers = tiersOf(tool);
  const words = tiers.length === 1 ? `T${tiers[0]}, ${TIER_NAMES[tiers[0]!]}` : tierCell(tool);
  return `Gatehouse tier: ${words}. T3 and T4 calls wait until an approver of the organization approves; the organization's policy, the number of devices and flagged output can raise a tier.`;
}

/** The lowest tier a call of the named built-in tool can start at (undefined: not a built-in tool). */
export function lowestTierOf(name: string): Tier | undefined {
  const tool = (TOOLS as readonly Tool[]).find((t) => t.name === name);
  return tool ? (Math.min(...tiersOf(tool)) as Tier) : undefined;
}

let definitions: McpToolDefinition[] | undefined;

/** Made once: the catalog does not change at run time. */
export function mcpToolDefinitions(): McpToolDefinition[] {
  definitions ??= (TOOLS as readonly Tool[]).map((tool) => {
    const model = anthropicToolDefinitions().find((d) => d.name === tool.name)!;
    const tiers = tiersOf(tool);
    const title = tool.name.replace(/_/g, ' ');
    return {
      name: tool.name,
      title,
      description: `${model.description}\n\n${tierSentence(tool)}`,
      inputSchema: { ...model.input_schema, type: 'object' },
      annotations: {
        title,
        readOnlyHint: tiers.every((t) => t === Tier.T1),
        destructiveHint: tiers.some((t) => t >= Tier.T3),
        idempotentHint: false,
        // Devices and their output are outside Gatehouse.
        openWorldHint: true,
      },
    };
  });
  return definitions;
}
