/**
 * The tool catalog, the single source of truth for what the copilot may do: one definition per tool in this
 * folder (`defineTool`), listed in `catalog.ts`. From it: the model's tool list (`model-tools.ts`), authorization
 * (activities/authorize-tool-call.ts), the default policy table (common/default-policy.ts), the agent command each
 * tool sends (`agent-commands.ts`) and the documented table (`tier-table.ts`). common/tools.test.ts fails if they drift.
 */
export { Tier, TIER_NAMES } from '../tier';
export * from './define-tool';
export * from './catalog';
export * from './agent-commands';
export * from './model-tools';
export * from './tier-table';
export * from './mcp-tools';
