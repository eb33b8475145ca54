/**
 * The tool catalog: the list of tool definitions (one file each in this folder), in the order the model sees them,
 * and the lookups every other part of the system uses instead of naming a tool.
 */
import type { z } from 'zod';
import type { Tier } from '../tier';
import { TIER_OF_ITS_ACTION, type Tool } from './define-tool';
import { acknowledgeAlert } from './acknowledge-alert';
import { addDeviceNote } from './add-device-note';
import { executeScript } from './execute-script';
import { getCommandResult } from './get-command-result';
import { getDeviceInfo } from './get-device-info';
import { getDeviceMetrics } from './get-device-metrics';
import { getEventLogs } from './get-event-logs';
import { installUpdates } from './install-updates';
import { killProcess } from './kill-process';
import { listAlerts } from './list-alerts';
import { listDevices } from './list-devices';
import { listDiscoveredHosts } from './list-discovered-hosts';
import { listInstalledSoftware } from './list-installed-software';
import { listProcesses } from './list-processes';
import { listServices } from './list-services';
import { manageService } from './manage-service';
import { networkDiscovery } from './network-discovery';
import { refreshInventory } from './refresh-inventory';
import { restartDevice } from './restart-device';
import { runLibraryScript } from './run-library-script';
import { runRemediation } from './run-remediation';
import { shutdownDevice } from './shutdown-device';
import { uninstallSoftware } from './uninstall-software';

/** Every tool, reads first: the order of the model's tool list, the policy table and the docs. */
export const TOOLS = [
  listDevices,
  getDeviceInfo,
  getDeviceMetrics,
  listServices,
  listProcesses,
  getEventLogs,
  listInstalledSoftware,
  listAlerts,
  getCommandResult,
  listDiscoveredHosts,
  manageService,
  acknowledgeAlert,
  addDeviceNote,
  refreshInventory,
  networkDiscovery,
  killProcess,
  runLibraryScript,
  installUpdates,
  executeScript,
  restartDevice,
  shutdownDevice,
  uninstallSoftware,
  runRemediation,
] as const;

type AnyTool = (typeof TOOLS)[number];
export type ToolName = AnyTool['name'];
export type ToolOf<N extends ToolName> = Extract<AnyTool, { name: N }>;
export type ToolInputOf<N extends ToolName> = z.output<ToolOf<N>['input']>;
/** The tools that run on our database: each has a handler in activities/tools/handlers.ts. */
export type DatabaseToolName = Extract<AnyTool, { runs: 'database' }>['name'];

const byName = <V>(value: (tool: AnyTool) => V) => Object.fromEntries(TOOLS.map((t) => [t.name, value(t)]));

export const TOOL_CATALOG = byName((t) => t) as { [N in ToolName]: ToolOf<N> };
/** The zod schema of each tool's input: the model's input is parsed with it before anything looks at it. */
export const ToolInput = byName((t) => t.input) as { [N in ToolName]: ToolOf<N>['input'] };
export const TOOL_NAMES: ToolName[] = TOOLS.map((t) => t.name);

export function isToolName(name: string): name is ToolName {
  return Object.prototype.hasOwnProperty.call(TOOL_CATALOG, name);
}

/** A tool by name with its input widened to what the model sent: callers parse with its `input` first. */
export function toolOf(name: ToolName): Tool {
  return TOOL_CATALOG[name] as unknown as Tool;
}

export function isDatabaseTool(name: ToolName): name is DatabaseToolName {
  return toolOf(name).executes === 'database';
}

/** How a recorded invocation's tool runs, by its stored name; undefined for a name that is not a tool. */
export function executionTypeOf(name: string): Tool['executes'] | undefined {
  return isToolName(name) ? toolOf(name).executes : undefined;
}

/** The tools that run as a remediation (a child workflow over many devices, at /v1/remediations/:invocationId). */
export const REMEDIATION_TOOLS: ToolName[] = TOOL_NAMES.filter((n) => toolOf(n).executes === 'remediation');

/** The tools whose default tier is the tier of the tool/action they run (run_remediation). */
export const EFFECT_RUNNERS: ToolName[] = TOOL_NAMES.filter((n) => toolOf(n).tier === TIER_OF_ITS_ACTION);

/** The actions an org may set a tier for: those of a per-action tier, or the effects a runner can run. */
export function tierActions(name: ToolName): string[] {
  const { tier, effects } = toolOf(name);
  if (typeof tier === 'number') return [];
  return tier === TIER_OF_ITS_ACTION ? [...(effects ?? [])] : Object.keys(tier);
}

/** The tool and action an effect names ("manage_service:stop"), when a runner of `name` can run it. */
export function effectOf(name: ToolName, action: string | undefined): { tool: ToolName; action: string | undefined } | undefined {
  if (toolOf(name).tier !== TIER_OF_ITS_ACTION) return undefined;
  const [tool, sub] = (action ?? '').split(':');
  const runnable = tierActions(name).map((e) => e.split(':')[0]);
  return tool !== undefined && tool !== name && isToolName(tool) && runnable.includes(tool) ? { tool, action: sub } : undefined;
}

/**
 * The default tier of a call: the tool's tier, its action's tier, or the tier of the effect it runs. Undefined for
 * an action the definition does not list, which callers must treat as a denial.
 */
export function defaultTier(name: ToolName, action: string | undefined): Tier | undefined {
  const { tier } = toolOf(name);
  if (typeof tier === 'number') return tier;
  if (tier === TIER_OF_ITS_ACTION) {
    const effect = effectOf(name, action);
    return effect ? defaultTier(effect.tool, effect.action) : undefined;
  }
  if (action === undefined || !Object.prototype.hasOwnProperty.call(tier, action)) return undefined;
  return tier[action];
}
