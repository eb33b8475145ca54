/**
 * A call's verdict under one policy document: the tier resolveTier gives it (the org's overrides, the default tiers
 * and the escalation rules of cage/policy.ts), and for a T3 call whether a standing approval of the document lets
 * it through. Live authorization (activities/authorize-tool-call.ts) and the what-if (api/services/what-if.ts) both
 * decide through this one function, from the same recorded inputs, so a what-if under the policy in force gives
 * every call the verdict it was given.
 */
import type { PolicyDocument, StandingRule } from '../common/policy-document';
import { Tier } from '../common/tier';
import { resolveTier, type PolicyDecision } from './policy';

/** What the policy reads of a call (recorded with it as ToolInvocation.policyInputs). */
export interface DecisionInputs {
  tool: string;
  action: string | null;
  service: string | null;
  targetCount: number;
  sessionDeviceCount: number;
  tainted: boolean;
  provenance: string | null;
  /** The call's device ids, sorted. */
  devices: string[];
  /** approvalDigest of the call: what a standing approval must equal. */
  digest: string;
  /** An upstream MCP tool's registered tier when the call was decided: its default (absent for built-in tools). */
  upstreamTier?: number;
}

export type PolicyVerdict = (Extract<PolicyDecision, { ok: true }> & { standing?: StandingRule }) | Extract<PolicyDecision, { ok: false }>;

export function decideUnder(doc: Pick<PolicyDocument, 'overrides' | 'standing'> & Partial<Pick<PolicyDocument, 'blastRadiusThreshold' | 'taint'>>, q: DecisionInputs, at: Date): PolicyVerdict {
  const decision = resolveTier({
    tool: q.tool,
    ...(q.action !== null ? { action: q.action } : {}),
    ...(q.service !== null ? { service: q.service } : {}),
    targetCount: q.targetCount,
    sessionDeviceCount: q.sessionDeviceCount,
    tainted: q.tainted,
    ...(q.provenance ? { provenance: q.provenance } : {}),
    overrides: doc.overrides,
    ...(doc.blastRadiusThreshold !== undefined ? { blastRadiusThreshold: doc.blastRadiusThreshold } : {}),
    ...(doc.taint !== undefined ? { taint: doc.taint } : {}),
    ...(q.upstreamTier !== undefined ? { upstreamTier: q.upstreamTier } : {}),
  });
  if (!decision.ok) return decision;
  const standing = standingFor(doc.standing, q, decision.tier, at);
  return standing ? { ...decision, standing, why: [...decision.why, `standing approval ${standing.id} until ${standing.expiresAt}`] } : decision;
}

/**
 * The standing approval that lets this exact call through: T3 only (never T4, whatever the rule says), the same
 * digest (tool, input, devices) and devices, made before `at` and unexpired then; never after flagged content or with an argument
 * from a tool's output (a human approves those each time).
 */
export function standingFor(rules: StandingRule[], q: DecisionInputs, tier: Tier, at: Date): StandingRule | undefined {
  if (tier !== Tier.T3 || q.tainted || q.provenance) return undefined;
  const devices = q.devices.join(',');
  const t = at.getTime();
  return rules.find((r) => r.tool === q.tool && r.digest === q.digest && [...r.devices].sort().join(',') === devices && Date.parse(r.createdAt) <= t && Date.parse(r.expiresAt) > t);
}
