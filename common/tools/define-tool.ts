/**
 * What a tool is, in one object: `defineTool({ name, description, input, tier, rateLimit, targets, runs, … })`.
 * Each tool has its own file in this folder and `catalog.ts` lists them; the model's tool list, authorization, the
 * default policy table, the agent command each tool sends and the documented table are all derived from that list.
 * What differs between tools is a field of their definition, so no code outside a tool's file names a tool.
 */
import type { z } from 'zod';
import type { CommandKind } from '../protocol';
import type { Tier } from '../tier';

export interface RateLimit {
  max: number;
  windowSeconds: number;
}

/** Per user: reads are cheap, changes are few. */
export const READS: RateLimit = { max: 120, windowSeconds: 60 };
export const CHANGES: RateLimit = { max: 30, windowSeconds: 600 };

export interface DeviceCommandPlan {
  deviceId: string;
  kind: CommandKind;
  params: Record<string, unknown>;
}

/** How a canary device's read-back is judged from its result: a service in a state, or a check script exiting 0. */
export type CanaryExpectation = { service: string; status: 'Running' | 'Stopped' } | { exitCode: 0 };

export interface CanaryCommand {
  kind: CommandKind;
  params: Record<string, unknown>;
}

/**
 * A remediation's canary: these devices run the action first, then the read-back its action declares (`check`);
 * the other devices wait until every canary passes. `undo` (when the action has one) is what a roll back runs on
 * them. The check and the undo are part of the approved call: the command authority lets them through on the
 * canary devices only.
 */
export interface CanaryPlan {
  devices: string[];
  check?: CanaryCommand & { expect: CanaryExpectation };
  undo?: CanaryCommand;
}

/** A canary as the call asks for it, before authorization picks its devices among the resolved targets. */
export interface CanaryRequest extends Omit<CanaryPlan, 'devices'> {
  pick: { count: number } | { devices: string[] };
}

/** A command run on many devices by the `remediation` child workflow, a window of devices at a time. */
export interface RemediationPlan {
  /** The approved devices, in order. On the invocation's record always; empty in what the workflows carry when `deviceCount` is set. */
  devices: string[];
  /**
   * Set where the list is left out (the authorization the workflow receives, the remediation's input): how many
   * devices the record approved. The remediation reads them from the record a page at a time.
   */
  deviceCount?: number;
  kind: CommandKind;
  params: Record<string, unknown>;
  batchSize: number;
  maxFailures: number;
  /** Devices that run first and must pass their read-back before the rest starts. */
  canary?: CanaryPlan;
}

/**
 * What executing a call means: an operation on our database, one command per target device, or a remediation
 * (the same command over many devices in a sliding window, stopping at a failure threshold). Recorded on the
 * invocation when it is authorized; every device command created later must match it.
 */
export type ToolExecution =
  | { type: 'database' }
  | { type: 'devices'; commands: DeviceCommandPlan[] }
  | ({ type: 'remediation' } & RemediationPlan)
  | UpstreamExecution;

/**
 * A tool of an upstream MCP server the org registered (`upstream.<server>.<tool>`): one call of that tool, by the
 * worker's `callUpstreamTool` activity, only while the upstream still announces the definition pinned by `sha256`.
 */
export interface UpstreamExecution {
  type: 'upstream';
  upstreamId: string;
  /** The upstream's own name of the tool. */
  tool: string;
  sha256: string;
}

/** A tool's default tier takes the tier of the tool (and action) it runs on each device: run_remediation. */
export const TIER_OF_ITS_ACTION = 'tier of its action';

/** One tier; one per action (the call's `action` picks it, an action not listed is denied); or the tier of its effect. */
export type DefaultTier = Tier | Readonly<Record<string, Tier>> | typeof TIER_OF_ITS_ACTION;

/**
 * How a call runs: on our database (activities/tools/handlers.ts has its handler), as one agent command of `command`
 * kind per target device, or as a remediation child workflow over its targets.
 */
export type Runs<I> =
  | 'database'
  | { command: CommandKind; params?(input: I): Record<string, unknown> }
  | { remediation(input: I): Omit<RemediationPlan, 'devices' | 'canary'> & { canary?: CanaryRequest } };

/** Devices a call names through something else, looked up (in the session's org and the user's sites) when it is authorized. */
export type TargetReference = { alert: string } | { group: string } | { site: string };

export interface ToolDefinition<N extends string, S extends z.ZodType, R extends Runs<z.output<S>>> {
  name: N;
  /** What the model reads to choose the tool. */
  description: string;
  input: S;
  tier: DefaultTier;
  /** For a tool whose tier depends on what the call does: the action this call performs. */
  action?(input: z.output<S>): string;
  /** For a tool of TIER_OF_ITS_ACTION: the tool/actions it can run ("manage_service:stop", "run_library_script"). */
  effects?: readonly string[];
  /** Per user; enforced by the rate limiter. */
  rateLimit: RateLimit;
  /** Every device the input names (checked against the session's org and the user's scope). */
  targets(input: z.output<S>): string[];
  /** Devices named through an alert, a group or a site: they replace `targets` once looked up. */
  indirectTargets?(input: z.output<S>): TargetReference | undefined;
  /** The IPv4 range the call scans: it must be private and at most a /22 (cage/network.ts). */
  scanRange?(input: z.output<S>): string;
  /** The library script the call runs: its body and interpreter come from the org's library at authorization. */
  libraryScript?(input: z.output<S>): { name: string; parameters: Record<string, string> } | undefined;
  /** The stored device command the call reads: the session then reaches that command's device's site (activities/tool-reach.ts). */
  readsCommand?(input: z.output<S>): string;
  /**
   * A live read of its devices: a device that is offline is answered at once from what is known of it (its record,
   * when it was last seen, its last reading of this kind) instead of waiting for it, unless `waits` (the user asked to).
   */
  readsLive?: { waits(input: z.output<S>): boolean };
  /** The service the call changes, or the process it kills: stopping a critical one is T4 (cage/policy.ts). */
  touches?: { kind: 'service' | 'process'; name(input: z.output<S>): string | undefined };
  runs: R;
}

export interface Tool<N extends string = string, S extends z.ZodType = z.ZodType, R extends Runs<z.output<S>> = Runs<z.output<S>>>
  extends ToolDefinition<N, S, R> {
  /** What `runs` makes of this call: the execution recorded on its invocation (a canary's devices are picked at authorization). */
  execution(input: z.output<S>): ToolExecution;
  /** The canary the call asks for, if any (a remediation's). */
  canaryOf(input: z.output<S>): CanaryRequest | undefined;
  executes: ToolExecution['type'];
}

const unique = (ids: string[]) => [...new Set(ids)];

/** A tool, checked where it is defined: a tier that needs an action must say how to read it. */
export function defineTool<const N extends string, S extends z.ZodType, const R extends Runs<z.output<S>>>(def: ToolDefinition<N, S, R>): Tool<N, S, R> {
  if (typeof def.tier !== 'number' && !def.action) throw new Error(`${def.name}: a tier per action needs action()`);
  if (def.tier === TIER_OF_ITS_ACTION && !def.effects?.length) throw new Error(`${def.name}: "${TIER_OF_ITS_ACTION}" needs its effects`);
  const runs: Runs<z.output<S>> = def.runs;
  const execution = (input: z.output<S>): ToolExecution => {
    if (runs === 'database') return { type: 'database' };
    if ('command' in runs) {
      const params = runs.params?.(input) ?? {};
      return { type: 'devices', commands: unique(def.targets(input)).map((deviceId) => ({ deviceId, kind: runs.command, params })) };
    }
    const { canary: _canary, ...plan } = runs.remediation(input);
    return { type: 'remediation', devices: unique(def.targets(input)), ...plan };
  };
  const canaryOf = (input: z.output<S>) => (runs !== 'database' && 'remediation' in runs ? runs.remediation(input).canary : undefined);
  const executes = runs === 'database' ? 'database' : 'command' in runs ? 'devices' : 'remediation';
  return { ...def, execution, canaryOf, executes };
}

/**
 * The canary devices among a remediation's resolved targets (in their order): the first `count`, or the ones named
 * (by id or name). A message for the model when the pick does not fit the targets.
 */
export function pickCanary(request: CanaryRequest, targets: { id: string; name: string }[]): CanaryPlan | string {
  const { pick, ...steps } = request;
  if ('count' in pick) {
    if (pick.count >= targets.length) return `canary.count must be less than the number of target devices (${pick.count} of ${targets.length}): a canary is part of the devices, not all of them`;
    return { devices: targets.slice(0, pick.count).map((t) => t.id), ...steps };
  }
  const devices: string[] = [];
  for (const wanted of pick.devices) {
    const found = targets.find((t) => t.id === wanted || t.name.toLowerCase() === wanted.toLowerCase());
    if (!found) return `canary device "${wanted.slice(0, 100)}" is not among the remediation's target devices`;
    if (!devices.includes(found.id)) devices.push(found.id);
  }
  if (devices.length >= targets.length) return `the canary devices must be fewer than the target devices (${devices.length} of ${targets.length})`;
  return { devices, ...steps };
}
