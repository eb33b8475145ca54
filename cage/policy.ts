/**
 * The policy engine: which tier a tool call has. Starts from the tool's default tier (its definition in common/tools/),
 * applies the org's overrides, then escalates: a T2/T3 call on more than BLAST_RADIUS_THRESHOLD devices is
 * raised one tier, a T2 call that takes the session's unapproved changes past that many devices within the window
 * needs approval, and any call made after the session read content flagged as injected needs at least T3
 * until a human approves once. Anything it cannot resolve is a denial, never a default.
 *
 * A tier belongs to the effect, not to the tool name: run_remediation runs another tool's action on each device,
 * so it is at least as strict as that tool/action under the org's policy (an org that raises run_library_script
 * to T4 raises it through run_remediation too), and stopping a critical service is T4 through either tool.
 */
import { BLAST_RADIUS_THRESHOLD, BLAST_RADIUS_WINDOW_MINUTES, CRITICAL_SERVICE_ACTIONS, isCriticalProcess, isCriticalService, Tier } from '../common/default-policy';
import { TERMINAL_ACTION, TERMINAL_DEFAULT_TIER, TERMINAL_MIN_TIER } from '../common/terminal-protocol';
import { defaultTier, EFFECT_RUNNERS, effectOf, isToolName, tierActions, toolOf, type ToolName } from '../common/tools';

export interface PolicyOverride {
  tool: string;
  /** "*" for every action of the tool. */
  action: string;
  tier: number;
}

export interface PolicyQuery {
  tool: string;
  action?: string;
  /** The service a service action changes (manage_service, or a run_remediation of a service action), or the process kill_process names. */
  service?: string;
  targetCount: number;
  /**
   * The devices this call targets together with those the session changed by T2 calls, without a human, in the
   * last BLAST_RADIUS_WINDOW_MINUTES: splitting a fleet-wide change into calls of ten devices still needs approval.
   */
  sessionDeviceCount?: number;
  tainted: boolean;
  /**
   * Which arguments carry a string that first appeared in a tool's output (cage/provenance.ts), in words; empty or
   * absent when none does.
   */
  provenance?: string;
  overrides: PolicyOverride[];
  /** The org's blast-radius threshold (its policy document); BLAST_RADIUS_THRESHOLD when absent. */
  blastRadiusThreshold?: number;
  /** The org's taint rules (its policy document): the least tier after flagged content / from tool output; T3 when absent. */
  taint?: { flaggedContentMinTier: number; provenanceMinTier: number };
  /**
   * For an upstream MCP tool (`upstream.<server>.<tool>`) only: the tier its registration gives it, its default (the
   * catalog has no tier for it). The org's override of the tool (action "*") applies to it like to a built-in tool.
   */
  upstreamTier?: number;
}

export type PolicyDecision = { ok: true; tier: Tier; why: string[] } | { ok: false; reason: string };

const isTier = (n: unknown): n is Tier => n === 1 || n === 2 || n === 3 || n === 4;

/** The catalog name of an upstream MCP tool (lib/mcp-upstream.ts qualifiedName): what its override is addressed by. */
export const UPSTREAM_TOOL = /^upstream\.[a-z0-9][a-z0-9-]{0,31}\.[A-Za-z0-9_-]{1,64}$/;

export function resolveTier(q: PolicyQuery): PolicyDecision {
  try {
    if (q.upstreamTier !== undefined) return resolveUpstream(q);
    if (!isToolName(q.tool)) return { ok: false, reason: `unknown tool "${q.tool}"` };
    const base = defaultTier(q.tool, q.action);
    if (base === undefined) return { ok: false, reason: `unknown action "${q.action ?? ''}" for ${q.tool}` };
    const why = [`default T${base}`];

    let tier: Tier = base;
    const own = overrideOf(q.overrides, q.tool, q.action);
    if (own === 'invalid') return { ok: false, reason: `the organization's policy for ${q.tool} is invalid` };
    if (own !== undefined) {
      tier = own;
      why.push(`org policy T${tier}`);
    }
    const effect = effectOf(q.tool, q.action);
    if (effect) {
      // The effect keeps the tier it has as a tool of its own (the org's override, else its default): the call is
      // the stricter of that and its own override, so no second door to the same effect is cheaper.
      const viaEffect = overrideOf(q.overrides, effect.tool, effect.action);
      if (viaEffect === 'invalid') return { ok: false, reason: `the organization's policy for ${effect.tool} is invalid` };
      const effectTier = viaEffect ?? defaultTier(effect.tool, effect.action);
      if (effectTier === undefined) return { ok: false, reason: `unknown action "${q.action ?? ''}" for ${q.tool}` };
      if (own === undefined || effectTier > own) {
        if (effectTier !== tier) why.push(`${effect.tool}${effect.action ? ` ${effect.action}` : ''} is T${effectTier} in this organization's policy`);
        tier = effectTier;
      }
    }
    // The other way round: an org that raised run_remediation for a named action raised that effect, so the
    // tool that performs it directly (manage_service <action>, run_library_script) is at least as strict.
    for (const runner of EFFECT_RUNNERS) {
      const asEffect = effectNameOf(runner, q.tool, q.action);
      if (asEffect === undefined) continue;
      const viaRunner = q.overrides.find((o) => o.tool === runner && o.action === asEffect);
      if (viaRunner && !isTier(viaRunner.tier)) return { ok: false, reason: `the organization's policy for ${runner} is invalid` };
      if (viaRunner && viaRunner.tier > tier) {
        tier = viaRunner.tier as Tier;
        why.push(`${runner} ${asEffect} is T${tier} in this organization's policy`);
      }
    }
    if (changesCriticalService(q.tool, q) && tier < Tier.T4) {
      tier = Tier.T4;
      why.push(`${q.service} is a critical service (remote access, the agent, or endpoint security): T4`);
    }
    return escalate(tier, why, q);
  } catch {
    return { ok: false, reason: 'the policy could not be resolved' };
  }
}

/**
 * An upstream MCP tool's tier: its registered tier, then the org's override of it, then the same escalation rules
 * as any call. No effect rules (an upstream tool runs nothing of the catalog's) and no critical services.
 */
function resolveUpstream(q: PolicyQuery): PolicyDecision {
  if (!UPSTREAM_TOOL.test(q.tool)) return { ok: false, reason: `unknown tool "${q.tool}"` };
  if (!isTier(q.upstreamTier)) return { ok: false, reason: `the registered tier of ${q.tool} is invalid` };
  let tier: Tier = q.upstreamTier;
  const why = [tier === Tier.T3 ? 'upstream tool: T3 until an admin assigns a tier' : `upstream tool: T${tier} as an admin assigned`];
  const own = overrideOf(q.overrides, q.tool, undefined);
  if (own === 'invalid') return { ok: false, reason: `the organization's policy for ${q.tool} is invalid` };
  if (own !== undefined && own !== tier) {
    tier = own;
    why.push(`org policy T${tier}`);
  }
  return escalate(tier, why, q);
}

/** The rules every call goes through after its own tier: blast radius, flagged content, arguments from output. */
function escalate(start: Tier, why: string[], q: PolicyQuery): PolicyDecision {
  try {
    let tier = start;
    const threshold = Number.isInteger(q.blastRadiusThreshold) && q.blastRadiusThreshold! >= 1 ? q.blastRadiusThreshold! : BLAST_RADIUS_THRESHOLD;
    if ((tier === Tier.T2 || tier === Tier.T3) && q.targetCount > threshold) {
      tier = (tier + 1) as Tier;
      why.push(`${q.targetCount} devices (more than ${threshold}) raise it to T${tier}`);
    }
    if (tier === Tier.T2 && (q.sessionDeviceCount ?? 0) > threshold) {
      tier = Tier.T3;
      why.push(`with the devices this session changed without approval in the last ${BLAST_RADIUS_WINDOW_MINUTES} minutes, ${q.sessionDeviceCount} devices (more than ${threshold}) raise it to T3`);
    }
    // Never below T3 whatever the document says (the schema refuses it; this holds for a hand-made query too).
    const minTier = (n: number | undefined): Tier => (n === Tier.T4 ? Tier.T4 : Tier.T3);
    const flaggedMin = minTier(q.taint?.flaggedContentMinTier);
    if (q.tainted && tier < flaggedMin) {
      tier = flaggedMin;
      why.push(`the session read content flagged as injected: a human approves first${flaggedMin === Tier.T4 ? " (T4 in this organization's policy)" : ''}`);
    }
    if (q.provenance) {
      const provenanceMin = minTier(q.taint?.provenanceMinTier);
      if (tier < provenanceMin) tier = provenanceMin;
      why.push(`from ${q.upstreamTier !== undefined ? 'tool' : 'device'} output, a human approves first: ${q.provenance}`);
    }
    return { ok: true, tier, why };
  } catch {
    return { ok: false, reason: 'the policy could not be resolved' };
  }
}

/** The org's override for a tool/action (the action-specific one first, then "*"); 'invalid' when it is not a tier. */
function overrideOf(overrides: PolicyOverride[], tool: string, action: string | undefined): Tier | 'invalid' | undefined {
  const o = overrides.find((x) => x.tool === tool && x.action === action) ?? overrides.find((x) => x.tool === tool && x.action === '*');
  if (!o) return undefined;
  return isTier(o.tier) ? o.tier : 'invalid';
}

/** How `runner` names this call's effect among the actions it can run ("manage_service:stop"), if it can run it. */
function effectNameOf(runner: ToolName, tool: ToolName, action: string | undefined): string | undefined {
  const name = typeof toolOf(tool).tier === 'object' ? `${tool}:${action ?? ''}` : tool;
  return tierActions(runner).includes(name) ? name : undefined;
}

function changesCriticalService(tool: ToolName, q: PolicyQuery): boolean {
  if (q.service === undefined) return false;
  const touches = toolOf(tool).touches;
  // Killing the service's process is stopping it; the agent refuses to kill a critical process the call did not name.
  if (touches?.kind === 'process') return isCriticalProcess(q.service);
  // A call that runs another tool's action (a remediation of a service action) changes what that action changes.
  const effect = effectOf(tool, q.action);
  const serviceAction = effect ? (toolOf(effect.tool).touches?.kind === 'service' ? effect.action : undefined) : touches?.kind === 'service' ? q.action : undefined;
  return serviceAction !== undefined && CRITICAL_SERVICE_ACTIONS.includes(serviceAction) && isCriticalService(q.service);
}

/** The service (or named process) a call changes, from its parsed input: what the critical-service rule looks at. */
export function serviceOf(tool: string, input: unknown): string | undefined {
  return isToolName(tool) ? toolOf(tool).touches?.name(input) : undefined;
}

/**
 * The actions an org may set a tier for, per tool ("*" always): the tool's per-action tiers, or for a tool that
 * runs another tool's action (run_remediation) the tool/actions it can run. Empty for a tool with one tier.
 */
export function policyActions(tool: ToolName): string[] {
  return tierActions(tool);
}

/**
 * Whether an org override lowers a call below the default (allowed for admins only, and audited). An upstream MCP
 * tool's default is its registered tier (`upstreamTiers`, by catalog name); one not registered lowers nothing.
 */
export function lowersDefault(tool: string, action: string, tier: number, upstreamTiers?: ReadonlyMap<string, number>): boolean {
  if (tool === TERMINAL_ACTION) return tier < TERMINAL_DEFAULT_TIER;
  const registered = upstreamTiers?.get(tool);
  if (registered !== undefined) return tier < registered;
  if (!isToolName(tool)) return false;
  const base = action === '*' ? highestDefaultTier(tool) : defaultTier(tool, action);
  return base !== undefined && tier < base;
}

/** A "*" override covers every action, so it lowers the policy if it is below the strictest action. */
function highestDefaultTier(tool: ToolName): Tier | undefined {
  const { tier } = toolOf(tool);
  if (typeof tier === 'number') return tier;
  // Per action, or (run_remediation) the tier of each tool/action it can run: service changes and library scripts.
  const tiers = tierActions(tool).map((a) => defaultTier(tool, a));
  return tiers.some((t) => t === undefined) ? undefined : (Math.max(...(tiers as Tier[])) as Tier);
}

/**
 * The tier of opening a remote terminal: the org's override of TERMINAL_ACTION (docs/terminal.md), else T4; never
 * below T3 (a shell on an endpoint always waits for a human) and never an unknown tier (the default then).
 */
export function terminalTier(overrides: PolicyOverride[]): Tier {
  const own = overrides.find((o) => o.tool === TERMINAL_ACTION);
  const tier = own && isTier(own.tier) ? own.tier : (TERMINAL_DEFAULT_TIER as Tier);
  return Math.max(tier, TERMINAL_MIN_TIER) as Tier;
}
