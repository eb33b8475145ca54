/**
 * The policy engine: which tier a tool call has. Starts from the default policy (common/default-policy.ts),
 * applies the org's overrides, then escalates: a T2/T3 call on more than BLAST_RADIUS_THRESHOLD devices is
 * raised one tier, and any call made after the session read content flagged as injected needs at least T3
 * until a human approves once. Anything it cannot resolve is a denial, never a default.
 */
import { BLAST_RADIUS_THRESHOLD, DEFAULT_POLICY, Tier } from '../common/default-policy';
import { defaultTier, isToolName } from '../common/tools';

export interface PolicyOverride {
  tool: string;
  /** "*" for every action of the tool. */
  action: string;
  tier: number;
}

export interface PolicyQuery {
  tool: string;
  action?: string;
  targetCount: number;
  tainted: boolean;
  overrides: PolicyOverride[];
}

export type PolicyDecision = { ok: true; tier: Tier; why: string[] } | { ok: false; reason: string };

const isTier = (n: unknown): n is Tier => n === 1 || n === 2 || n === 3 || n === 4;

export function resolveTier(q: PolicyQuery): PolicyDecision {
  try {
    if (!isToolName(q.tool)) return { ok: false, reason: `unknown tool "${q.tool}"` };
    const base = defaultTier(q.tool, q.action);
    if (base === undefined) return { ok: false, reason: `unknown action "${q.action ?? ''}" for ${q.tool}` };
    const why = [`default T${base}`];

    let tier: Tier = base;
    const override =
      q.overrides.find((o) => o.tool === q.tool && o.action === q.action) ?? q.overrides.find((o) => o.tool === q.tool && o.action === '*');
    if (override) {
      if (!isTier(override.tier)) return { ok: false, reason: `the organization's policy for ${q.tool} is invalid` };
      tier = override.tier;
      why.push(`org policy T${tier}`);
    }
    if ((tier === Tier.T2 || tier === Tier.T3) && q.targetCount > BLAST_RADIUS_THRESHOLD) {
      tier = (tier + 1) as Tier;
      why.push(`${q.targetCount} devices (more than ${BLAST_RADIUS_THRESHOLD}) raise it to T${tier}`);
    }
    if (q.tainted && tier < Tier.T3) {
      tier = Tier.T3;
      why.push('the session read content flagged as injected: a human approves first');
    }
    return { ok: true, tier, why };
  } catch {
    return { ok: false, reason: 'the policy could not be resolved' };
  }
}

/** Whether an org override lowers a call below the default (allowed for admins only, and audited). */
export function lowersDefault(tool: string, action: string, tier: number): boolean {
  if (!isToolName(tool)) return false;
  const base = action === '*' ? highestDefaultTier(tool) : defaultTier(tool, action);
  return base !== undefined && tier < base;
}

/** A "*" override covers every action, so it lowers the policy if it is below the strictest action. */
function highestDefaultTier(tool: Parameters<typeof defaultTier>[0]): Tier | undefined {
  const entry = DEFAULT_POLICY[tool] as Tier | Record<string, Tier> | string;
  if (typeof entry === 'number') return entry;
  // run_remediation takes its action's tier: service changes and library scripts, both T3.
  if (typeof entry === 'string') return Math.max(defaultTier('manage_service', 'restart')!, defaultTier('run_library_script', undefined)!) as Tier;
  return Math.max(...Object.values(entry)) as Tier;
}
