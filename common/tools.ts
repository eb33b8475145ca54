/**
 * The tool catalog: the single source of truth for what the copilot may do. Each entry names the tool, tells the
 * model what it is for, gives the zod schema of its input, its tier, and what it runs: a database read, or a
 * command on the devices it targets. Anthropic tool definitions, authorization and the agent command mapping
 * are all derived from this file.
 */
import { z } from 'zod';
import { CommandKind } from './protocol';

/** T1 read-only; T2 low-risk, logged; T3 needs a human's approval; T4 approval with explicit confirmation. */
export const Tier = { T1: 1, T2: 2, T3: 3, T4: 4 } as const;
export type Tier = (typeof Tier)[keyof typeof Tier];

const DeviceId = z.uuid().describe('Device id as returned by list_devices');

export const ToolInput = {
  list_devices: z
    .object({
      site: z.string().max(100).optional().describe('Only devices of the site with this name'),
      online: z.boolean().optional().describe('Only devices that are (or are not) connected now'),
    })
    .strict(),
  get_device_info: z.object({ device_id: DeviceId }).strict(),
  list_processes: z
    .object({
      device_id: DeviceId,
      sort_by: z.enum(['cpu', 'memory']).default('cpu'),
      limit: z.number().int().min(1).max(200).default(25),
    })
    .strict(),
} as const;
export type ToolName = keyof typeof ToolInput;
export const TOOL_NAMES = Object.keys(ToolInput) as ToolName[];

export type ToolInputOf<N extends ToolName> = z.infer<(typeof ToolInput)[N]>;

/** What executing a tool means: a read in our database, or one command on one device. */
export type ToolExecution =
  | { type: 'database' }
  | { type: 'device'; deviceId: string; kind: CommandKind; params: Record<string, unknown> };

export interface ToolSpec<N extends ToolName> {
  name: N;
  description: string;
  tier: Tier;
  /** The device ids this call touches (checked against the session's org and the user's scope). */
  targets(input: ToolInputOf<N>): string[];
  execution(input: ToolInputOf<N>): ToolExecution;
}

type Catalog = { [N in ToolName]: ToolSpec<N> };

export const TOOL_CATALOG: Catalog = {
  list_devices: {
    name: 'list_devices',
    description:
      "List the organization's managed devices with their id, name, hostname, OS, site, group and whether they are online now. Use it to find a device id.",
    tier: Tier.T1,
    targets: () => [],
    execution: () => ({ type: 'database' }),
  },
  get_device_info: {
    name: 'get_device_info',
    description:
      'Read a device live: hostname, operating system, uptime, CPU, memory and disks. Needs a device id from list_devices.',
    tier: Tier.T1,
    targets: (input) => [input.device_id],
    execution: (input) => ({ type: 'device', deviceId: input.device_id, kind: CommandKind.SystemInfo, params: {} }),
  },
  list_processes: {
    name: 'list_processes',
    description: 'List the running processes of a device, busiest first (by CPU or memory).',
    tier: Tier.T1,
    targets: (input) => [input.device_id],
    execution: (input) => ({
      type: 'device',
      deviceId: input.device_id,
      kind: CommandKind.ListProcesses,
      params: { sortBy: input.sort_by, limit: input.limit },
    }),
  },
};

export function isToolName(name: string): name is ToolName {
  return Object.prototype.hasOwnProperty.call(ToolInput, name);
}

/** Anthropic `tools` definitions, generated from the catalog. */
export function anthropicToolDefinitions(): { name: string; description: string; input_schema: Record<string, unknown> }[] {
  return TOOL_NAMES.map((name) => {
    const schema = z.toJSONSchema(ToolInput[name], { io: 'input' }) as Record<string, unknown>;
    delete schema.$schema;
    return { name, description: TOOL_CATALOG[name].description, input_schema: schema };
  });
}
