/**
 * Which tools send each agent command kind, derived from the definitions (a remediation runs another tool's
 * command, so it is not listed). The agent reads it: a command whose kind is T3/T4 by default for every tool that
 * sends it must carry the digest of an approval.
 */
import { COMMAND_KINDS, type CommandKind } from '../protocol';
import { Tier } from '../tier';
import { defaultTier, TOOL_NAMES, toolOf, type ToolName } from './catalog';

export const COMMAND_KIND_TOOLS = Object.fromEntries(
  COMMAND_KINDS.map((kind) => [kind, TOOL_NAMES.filter((n) => { const { runs } = toolOf(n); return typeof runs === 'object' && 'command' in runs && runs.command === kind; })]),
) as Record<CommandKind, ToolName[]>;

/**
 * Whether a command of this kind can only have come from a call that needed a human approval: its default tier
 * is T3 or more for every tool that sends it (per action where the tier is per action, read from the command's
 * `action`). An action the definition does not know needs one too. Org overrides are not known on the endpoint; a
 * default can only be lowered by an admin, and then the agent still asks for the approval the default asks for.
 */
export function commandNeedsApproval(kind: CommandKind, params: Record<string, unknown>): boolean {
  const tools = COMMAND_KIND_TOOLS[kind] ?? [];
  const action = typeof params.action === 'string' ? params.action : undefined;
  const tiers = tools.map((t) => defaultTier(t, typeof toolOf(t).tier === 'object' ? action : undefined));
  return tiers.length === 0 || tiers.every((t) => t === undefined || t >= Tier.T3);
}
