/**
 * The tool catalog: the single source of truth for what the copilot may do. Each entry tells the model what the
 * tool is for, gives the zod schema of its input, names the devices it targets and what it runs (a database
 * operation, or one command per target device), and its per-user rate limit. Tiers come from
 * `default-policy.ts`. Anthropic tool definitions, authorization, the agent command mapping and the documented
 * tier table are all derived from here; a test fails if they drift.
 */
import { z } from 'zod';
import { DEFAULT_POLICY, Tier, type PolicyToolName } from './default-policy';
import { Interpreter, ServiceName, MAX_FULL_OUTPUT_BYTES, MAX_SCRIPT_BYTES, OutputStream, type CommandKind } from './protocol';

export { Tier } from './default-policy';

const DeviceId = z.uuid().describe('Device id as returned by list_devices');
const DeviceIds = z.array(z.uuid()).min(1).max(500).describe('Device ids as returned by list_devices');
const Reason = z.string().max(500).optional().describe('Why, for the audit log and the approver');

export const ToolInput = {
  list_devices: z
    .object({
      site: z.string().max(100).optional().describe('Only devices of the site with this name'),
      online: z.boolean().optional().describe('Only devices that are (or are not) connected now'),
    })
    .strict(),
  get_device_info: z.object({ device_id: DeviceId }).strict(),
  get_device_metrics: z.object({ device_id: DeviceId }).strict(),
  list_services: z.object({ device_id: DeviceId, name_filter: z.string().max(100).optional() }).strict(),
  list_processes: z
    .object({
      device_id: DeviceId,
      sort_by: z.enum(['cpu', 'memory']).default('cpu'),
      limit: z.number().int().min(1).max(200).default(25),
    })
    .strict(),
  get_event_logs: z
    .object({
      device_id: DeviceId,
      log: z.string().max(64).default('System').describe('System, Application, Security, or a journal unit on Linux'),
      level: z.enum(['error', 'warning', 'info']).optional(),
      limit: z.number().int().min(1).max(200).default(50),
      since_hours: z.number().int().min(1).max(720).default(24),
    })
    .strict(),
  list_installed_software: z.object({ device_id: DeviceId, name_filter: z.string().max(100).optional() }).strict(),
  list_alerts: z
    .object({ device_id: DeviceId.optional(), status: z.enum(['open', 'acknowledged', 'all']).default('open') })
    .strict(),
  get_command_result: z
    .object({
      command_id: z.string().min(1).max(200).describe('A command id from an earlier tool result'),
      stream: OutputStream.optional().describe("Page through this stream's full output instead of returning the stored result"),
      offset: z.number().int().min(0).max(MAX_FULL_OUTPUT_BYTES).optional().describe('Byte offset in the stream to read from (default 0; each answer gives the next one)'),
    })
    .strict()
    .refine((i) => i.offset === undefined || i.stream !== undefined, { message: 'offset needs a stream', path: ['offset'] }),
  list_discovered_hosts: z
    .object({ cidr: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'an IPv4 CIDR such as 192.168.1.0/24').optional().describe('Only this range; every scanned range when omitted') })
    .strict(),
  manage_service: z
    .object({ device_id: DeviceId, service: ServiceName.describe('Service name, e.g. Spooler'), action: z.enum(['status', 'start', 'stop', 'restart']) })
    .strict(),
  acknowledge_alert: z.object({ alert_id: z.uuid(), note: z.string().max(500).optional() }).strict(),
  add_device_note: z.object({ device_id: DeviceId, text: z.string().min(1).max(2000) }).strict(),
  refresh_inventory: z.object({ device_ids: DeviceIds }).strict(),
  network_discovery: z
    .object({
      device_id: DeviceId.describe('The device that scans its network'),
      cidr: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'an IPv4 CIDR such as 192.168.1.0/24'),
      ports: z.array(z.number().int().min(1).max(65_535)).min(1).max(64).default([22, 80, 443, 445, 3389]),
    })
    .strict(),
  kill_process: z
    .object({ device_id: DeviceId, pid: z.number().int().min(1), name: z.string().max(256).optional().describe('Expected process name, checked before killing') })
    .strict(),
  run_library_script: z
    .object({
      device_ids: DeviceIds,
      script: z.string().min(1).max(100).describe("Name of a script in the organization's script library"),
      parameters: z.record(z.string().max(64), z.string().max(1000)).default({}),
    })
    .strict(),
  install_updates: z.object({ device_ids: DeviceIds, category: z.enum(['security', 'all']).default('security') }).strict(),
  execute_script: z
    .object({
      device_id: DeviceId,
      interpreter: Interpreter,
      script: z.string().min(1).max(MAX_SCRIPT_BYTES),
      timeout_seconds: z.number().int().min(1).max(600).default(60),
    })
    .strict(),
  restart_device: z.object({ device_id: DeviceId, reason: Reason }).strict(),
  shutdown_device: z.object({ device_id: DeviceId, reason: Reason }).strict(),
  uninstall_software: z.object({ device_id: DeviceId, name: z.string().min(1).max(200) }).strict(),
  run_remediation: z
    .object({
      target: z
        .union([
          z.object({ device_ids: DeviceIds }).strict(),
          z.object({ group: z.string().min(1).max(100).describe('Device group name') }).strict(),
          z.object({ site: z.string().min(1).max(100).describe('Site name') }).strict(),
        ])
        .describe('Exactly one of: device_ids, group, site'),
      action: z.discriminatedUnion('type', [
        z.object({ type: z.literal('service'), service: ServiceName, action: z.enum(['start', 'stop', 'restart']) }).strict(),
        z.object({ type: z.literal('library_script'), script: z.string().min(1).max(100), parameters: z.record(z.string().max(64), z.string().max(1000)).default({}) }).strict(),
      ]),
      batch_size: z.number().int().min(1).max(100).default(10).describe('How many devices run at once'),
      max_failures: z.number().int().min(0).max(1000).default(0).describe('Stop starting devices once more than this many have failed'),
    })
    .strict(),
} as const satisfies Record<PolicyToolName, z.ZodType>;

export type ToolName = keyof typeof ToolInput;
export const TOOL_NAMES = Object.keys(ToolInput) as ToolName[];
export type ToolInputOf<N extends ToolName> = z.output<(typeof ToolInput)[N]>;

export interface DeviceCommandPlan {
  deviceId: string;
  kind: CommandKind;
  params: Record<string, unknown>;
}

/** A command run on many devices by the `remediation` child workflow, a window of devices at a time. */
export interface RemediationPlan {
  devices: string[];
  kind: CommandKind;
  params: Record<string, unknown>;
  batchSize: number;
  maxFailures: number;
}

/**
 * What executing a tool means: an operation on our database, one command per target device, or a remediation
 * (the same command over many devices in a sliding window, stopping at a failure threshold).
 */
export type ToolExecution =
  | { type: 'database' }
  | { type: 'devices'; commands: DeviceCommandPlan[] }
  | ({ type: 'remediation' } & RemediationPlan);

export interface RateLimit {
  max: number;
  windowSeconds: number;
}

export interface ToolSpec<N extends ToolName> {
  name: N;
  description: string;
  /** For tools with per-action tiers: the action this call performs. */
  action?(input: ToolInputOf<N>): string;
  /** Every device this call touches (checked against the session's org and the user's scope). */
  targets(input: ToolInputOf<N>): string[];
  execution(input: ToolInputOf<N>): ToolExecution;
  /** Per user; enforced by the rate limiter. */
  rateLimit: RateLimit;
}

const db = (): ToolExecution => ({ type: 'database' });
const one = (deviceId: string, kind: CommandKind, params: Record<string, unknown> = {}): ToolExecution => ({
  type: 'devices',
  commands: [{ deviceId, kind, params }],
});
const each = (deviceIds: string[], kind: CommandKind, params: Record<string, unknown> = {}): ToolExecution => ({
  type: 'devices',
  commands: [...new Set(deviceIds)].map((deviceId) => ({ deviceId, kind, params })),
});
const reads: RateLimit = { max: 120, windowSeconds: 60 };
const changes: RateLimit = { max: 30, windowSeconds: 600 };

type Catalog = { [N in ToolName]: ToolSpec<N> };

export const TOOL_CATALOG: Catalog = {
  list_devices: {
    name: 'list_devices',
    description: "List the organization's devices: id, name, hostname, OS, site, group, and whether each is online now. Use it to find device ids.",
    targets: () => [],
    execution: db,
    rateLimit: reads,
  },
  get_device_info: {
    name: 'get_device_info',
    description: 'Read a device live: hostname, operating system, uptime, CPU, memory and disks.',
    targets: (i) => [i.device_id],
    execution: (i) => one(i.device_id, 'system_info'),
    rateLimit: reads,
  },
  get_device_metrics: {
    name: 'get_device_metrics',
    description: 'Current CPU, memory and disk utilisation of a device, in percent.',
    targets: (i) => [i.device_id],
    execution: (i) => one(i.device_id, 'get_metrics'),
    rateLimit: reads,
  },
  list_services: {
    name: 'list_services',
    description: 'List the services of a device with their status, optionally filtered by name.',
    targets: (i) => [i.device_id],
    execution: (i) => one(i.device_id, 'list_services', i.name_filter ? { filter: i.name_filter } : {}),
    rateLimit: reads,
  },
  list_processes: {
    name: 'list_processes',
    description: 'List the running processes of a device, busiest first (by CPU or memory).',
    targets: (i) => [i.device_id],
    execution: (i) => one(i.device_id, 'list_processes', { sortBy: i.sort_by, limit: i.limit }),
    rateLimit: reads,
  },
  get_event_logs: {
    name: 'get_event_logs',
    description: 'Recent event log entries of a device (Windows event logs, or the journal/syslog on Linux).',
    targets: (i) => [i.device_id],
    execution: (i) => one(i.device_id, 'get_event_logs', { log: i.log, level: i.level, limit: i.limit, sinceHours: i.since_hours }),
    rateLimit: reads,
  },
  list_installed_software: {
    name: 'list_installed_software',
    description: 'List the software installed on a device, optionally filtered by name.',
    targets: (i) => [i.device_id],
    execution: (i) => one(i.device_id, 'list_software', i.name_filter ? { filter: i.name_filter } : {}),
    rateLimit: reads,
  },
  list_alerts: {
    name: 'list_alerts',
    description: 'List monitoring alerts of the organization, or of one device.',
    targets: (i) => (i.device_id ? [i.device_id] : []),
    execution: db,
    rateLimit: reads,
  },
  list_discovered_hosts: {
    name: 'list_discovered_hosts',
    description: "Hosts and open TCP ports found by the organization's network discovery scans (the latest scan of each range).",
    targets: () => [],
    execution: db,
    rateLimit: reads,
  },
  get_command_result: {
    name: 'get_command_result',
    description:
      "The stored result of an earlier device command (tool output shown to you may be truncated). With stream ('stdout' or 'stderr'), a page of that stream's full output as the device produced it instead, with the offset of the next page.",
    targets: () => [],
    execution: db,
    rateLimit: reads,
  },
  manage_service: {
    name: 'manage_service',
    description: 'Check (status), start, stop or restart a service on a device. Changing a service needs a human approval.',
    action: (i) => i.action,
    targets: (i) => [i.device_id],
    execution: (i) => one(i.device_id, 'manage_service', { service: i.service, action: i.action }),
    rateLimit: changes,
  },
  acknowledge_alert: {
    name: 'acknowledge_alert',
    description: 'Acknowledge an open alert, with an optional note.',
    targets: () => [],
    execution: db,
    rateLimit: changes,
  },
  add_device_note: {
    name: 'add_device_note',
    description: "Add a note to a device's record, for the next technician.",
    targets: (i) => [i.device_id],
    execution: db,
    rateLimit: changes,
  },
  refresh_inventory: {
    name: 'refresh_inventory',
    description: 'Ask devices to report their hardware and software inventory again.',
    targets: (i) => i.device_ids,
    execution: (i) => each(i.device_ids, 'inventory'),
    rateLimit: changes,
  },
  network_discovery: {
    name: 'network_discovery',
    description: 'Scan a private IPv4 range (at most a /22) from a device for hosts with open TCP ports.',
    targets: (i) => [i.device_id],
    execution: (i) => one(i.device_id, 'network_discovery', { cidr: i.cidr, ports: i.ports }),
    rateLimit: { max: 2, windowSeconds: 600 },
  },
  kill_process: {
    name: 'kill_process',
    description: 'Terminate a process on a device by pid (optionally checking its name first). Needs a human approval.',
    targets: (i) => [i.device_id],
    execution: (i) => one(i.device_id, 'kill_process', { pid: i.pid, ...(i.name ? { name: i.name } : {}) }),
    rateLimit: changes,
  },
  run_library_script: {
    name: 'run_library_script',
    description: "Run a vetted script from the organization's script library on devices. Needs a human approval.",
    targets: (i) => i.device_ids,
    // The script body comes from the library when the call is authorized (see authorizeToolCall).
    execution: (i) => each(i.device_ids, 'run_script', { name: i.script, parameters: i.parameters }),
    rateLimit: changes,
  },
  install_updates: {
    name: 'install_updates',
    description: 'Install pending operating system updates on devices. Needs a human approval.',
    targets: (i) => i.device_ids,
    execution: (i) => each(i.device_ids, 'install_updates', { category: i.category }),
    rateLimit: changes,
  },
  execute_script: {
    name: 'execute_script',
    description: 'Run an arbitrary bash or PowerShell script on one device. Always needs an approval with typed confirmation.',
    targets: (i) => [i.device_id],
    execution: (i) => one(i.device_id, 'run_script', { interpreter: i.interpreter, script: i.script, timeoutSeconds: i.timeout_seconds }),
    rateLimit: { max: 5, windowSeconds: 600 },
  },
  restart_device: {
    name: 'restart_device',
    description: 'Reboot a device. Always needs an approval with typed confirmation.',
    targets: (i) => [i.device_id],
    execution: (i) => one(i.device_id, 'restart', i.reason ? { reason: i.reason } : {}),
    rateLimit: changes,
  },
  shutdown_device: {
    name: 'shutdown_device',
    description: 'Shut a device down. Always needs an approval with typed confirmation.',
    targets: (i) => [i.device_id],
    execution: (i) => one(i.device_id, 'shutdown', i.reason ? { reason: i.reason } : {}),
    rateLimit: changes,
  },
  run_remediation: {
    name: 'run_remediation',
    description:
      'Run one service action or library script on many devices (a list, a device group or a site), a batch at a time, stopping when failures pass a threshold. One approval lists every device.',
    action: (i) => (i.action.type === 'service' ? `manage_service:${i.action.action}` : 'run_library_script'),
    // Groups and sites are resolved to their devices when the call is authorized.
    targets: (i) => ('device_ids' in i.target ? i.target.device_ids : []),
    execution: (i) => ({
      type: 'remediation',
      devices: 'device_ids' in i.target ? [...new Set(i.target.device_ids)] : [],
      ...(i.action.type === 'service'
        ? { kind: 'manage_service' as const, params: { service: i.action.service, action: i.action.action } }
        : { kind: 'run_script' as const, params: { name: i.action.script, parameters: i.action.parameters } }),
      batchSize: i.batch_size,
      maxFailures: i.max_failures,
    }),
    rateLimit: changes,
  },
  uninstall_software: {
    name: 'uninstall_software',
    description: 'Remove installed software from a device. Always needs an approval with typed confirmation.',
    targets: (i) => [i.device_id],
    execution: (i) => one(i.device_id, 'uninstall_software', { name: i.name }),
    rateLimit: changes,
  },
};

export function isToolName(name: string): name is ToolName {
  return Object.prototype.hasOwnProperty.call(ToolInput, name);
}

/**
 * The default tier of a call: the tool's tier, or its action's tier. Undefined for an action the policy does
 * not list, which callers must treat as a denial.
 */
export function defaultTier(name: ToolName, action: string | undefined): Tier | undefined {
  const entry = DEFAULT_POLICY[name] as Tier | Record<string, Tier> | 'tier of its action';
  if (typeof entry === 'number') return entry;
  if (entry === 'tier of its action') {
    // The action names the tool (and its action) it runs: "manage_service:restart", "run_library_script".
    const [tool, sub] = (action ?? '').split(':');
    return tool === 'manage_service' || tool === 'run_library_script' ? defaultTier(tool, sub) : undefined;
  }
  if (action === undefined || !Object.prototype.hasOwnProperty.call(entry, action)) return undefined;
  return entry[action];
}

/**
 * The tools whose calls become each agent command kind (a run_remediation runs manage_service or a library script).
 * The agent reads it: a command whose kind is T3/T4 by default for every tool that sends it must carry the digest
 * of an approval (see commandNeedsApproval). The catalog drift test checks it against every tool's execution.
 */
export const COMMAND_KIND_TOOLS: Record<CommandKind, ToolName[]> = {
  system_info: ['get_device_info'],
  get_metrics: ['get_device_metrics'],
  list_services: ['list_services'],
  list_processes: ['list_processes'],
  get_event_logs: ['get_event_logs'],
  list_software: ['list_installed_software'],
  manage_service: ['manage_service'],
  inventory: ['refresh_inventory'],
  network_discovery: ['network_discovery'],
  kill_process: ['kill_process'],
  run_script: ['run_library_script', 'execute_script'],
  install_updates: ['install_updates'],
  restart: ['restart_device'],
  shutdown: ['shutdown_device'],
  uninstall_software: ['uninstall_software'],
};

/**
 * Whether a command of this kind can only have come from a call that needed a human approval: its default tier
 * is T3 or more for every tool that sends it (per action for manage_service). An action the policy does not know
 * needs one too. Org overrides are not known on the endpoint; a default can only be lowered by an admin, and then
 * the agent still asks for the approval the default asks for.
 */
export function commandNeedsApproval(kind: CommandKind, params: Record<string, unknown>): boolean {
  const tools = COMMAND_KIND_TOOLS[kind] ?? [];
  const action = typeof params.action === 'string' ? params.action : undefined;
  const tiers = tools.map((t) => defaultTier(t, t === 'manage_service' ? action : undefined));
  return tiers.length === 0 || tiers.every((t) => t === undefined || t >= Tier.T3);
}

type ToolDefinition = { name: string; description: string; input_schema: Record<string, unknown> };
let definitions: ToolDefinition[] | undefined;

/** Anthropic `tools` definitions, generated from the catalog (once: the catalog does not change at run time). */
export function anthropicToolDefinitions(): ToolDefinition[] {
  definitions ??= TOOL_NAMES.map((name) => {
    const schema = z.toJSONSchema(ToolInput[name], { io: 'input' }) as Record<string, unknown>;
    delete schema.$schema;
    return { name, description: TOOL_CATALOG[name].description, input_schema: schema };
  });
  return definitions;
}

const tierLabel = (t: Tier) => `T${t}`;

/** The tier table of docs/tools-and-tiers.md, generated from the catalog and the default policy. */
export function tierTableMarkdown(): string {
  const rows = TOOL_NAMES.map((name) => {
    const entry = DEFAULT_POLICY[name] as Tier | Record<string, Tier> | string;
    const tier =
      typeof entry === 'number'
        ? tierLabel(entry)
        : typeof entry === 'string'
          ? `${entry}, raised by blast radius`
          : Object.entries(entry).map(([a, t]) => `${a} ${tierLabel(t)}`).join(' · ');
    const limit = TOOL_CATALOG[name].rateLimit;
    return `| \`${name}\` | ${tier} | ${limit.max} per ${limit.windowSeconds / 60} min |`;
  });
  return ['| tool | tier | rate limit per user |', '| --- | --- | --- |', ...rows].join('\n');
}

export const TIER_NAMES: Record<Tier, string> = {
  [Tier.T1]: 'read-only',
  [Tier.T2]: 'low-risk change',
  [Tier.T3]: 'needs approval',
  [Tier.T4]: 'needs approval with typed confirmation',
};
