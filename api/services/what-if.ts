/**
 * The what-if of a proposed policy (docs/policy.md): every tool call the org recorded in a window is decided again
 * under the proposal by the function live authorization decides with (cage/policy-decision.ts decideUnder), from
 * the inputs recorded with the call, after the proposal's per-tool rate limits (counted over the recorded calls in
 * their order and time windows by the live count) and before its approval expiry (a recorded decision later than
 * the proposal's expiry for the call's tier finds the approval expired): ./what-if-limits.ts. The answer lists the
 * calls whose outcome or tier would change, each with why, the approvals that would have been added or removed (per
 * approver, per day) or would have expired, the approvers' time that is at the
 * median decision time of the window, and how many approvals a proposed standing approval would have saved.
 * Upstream MCP calls are re-decided like any (their registered tier recorded as the default). Calls recorded
 * without their policy inputs (before versions, upstream calls before their tiers joined the policy, or denied
 * before the policy looked at them: rate limits, unknown devices, invalid input) are counted as skipped. Nothing is
 * written.
 */
import canonicalize from 'canonicalize';
import { randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { WhatIfAnswer } from '../../common/api-answers';
import type { PolicyDocument, StandingRule } from '../../common/policy-document';
import { Tier } from '../../common/tier';
import { decideUnder, type DecisionInputs, type PolicyVerdict } from '../../cage/policy-decision';
import { currentPolicy } from '../../lib/policy-store';
import { findOrgFor, Role } from '../http/access';
import type { Caller } from './caller';
import { checkPolicyInput } from './orgs';
import { expiredUnder, refusedByToolLimits, type RecordedDecision } from './what-if-limits';

/** `expired`: the call would have needed an approval, and the recorded decision would have come after its expiry. */
type Outcome = 'allowed' | 'approval' | 'denied' | 'expired';

/** What a proposal holds that the what-if models; an omitted field is the policy in force's. */
export interface ProposedPolicy {
  overrides: { tool: string; action: string; tier: number }[];
  blastRadiusThreshold?: number;
  taint?: PolicyDocument['taint'];
  approvalTtlSeconds?: PolicyDocument['approvalTtlSeconds'];
  rateLimits?: PolicyDocument['rateLimits'];
  standing?: { tool: string; params?: unknown; devices: string[] }[];
}

/** A recorded call as the what-if reads it. */
export interface RecordedCall {
  id: string;
  sessionId: string;
  turnId: string;
  createdAt: Date;
  toolName: string;
  decision: string;
  tier: number | null;
  input: unknown;
  policyInputs: unknown;
  standingRuleId: string | null;
}

const LISTED = 500;

/** How a call was decided, as recorded: a standing-approved T3 call ran without anyone being asked. */
function recordedOutcome(c: RecordedCall): { outcome: Outcome; tier: number | null } {
  if (c.decision === 'deny') return { outcome: 'denied', tier: null };
  if (c.decision === 'approve' && !c.standingRuleId) return { outcome: 'approval', tier: c.tier };
  return { outcome: 'allowed', tier: c.tier };
}

function outcomeOf(v: PolicyVerdict): { outcome: Outcome; tier: number | null } {
  if (!v.ok) return { outcome: 'denied', tier: null };
  return { outcome: v.tier >= Tier.T3 && !v.standing ? 'approval' : 'allowed', tier: v.tier };
}

/** Whether someone is asked: an approval that expires unanswered was asked all the same. */
const asks = (o: Outcome) => o === 'approval' || o === 'expired';

/** What was recorded beside the calls that the proposal's limits and expiry are judged by. */
export interface RecordedAround {
  /** Calls the proposal's per-tool limits would have refused, with the limit in words. */
  refusedByLimit?: Map<string, string>;
  /** The recorded decision on each call's approval, by call id. */
  decisions?: Map<string, RecordedDecision>;
}

const callKey = (tool: string, input: unknown, devices: string[]) => `${tool}\u0000${canonicalize(input ?? null) ?? ''}\u0000${[...devices].sort().join(',')}`;

type Decided = { outcome: Outcome; tier: number | null };

/**
 * Decides `calls` again under `doc` (the pure part), in the order live authorization does: a call its per-tool limit
 * refuses is denied before the policy looks at it; then the tier; then, for a call that needs an approval, whether
 * its recorded decision would have come in time (with `doc.approvalTtlSeconds`).
 */
export function redecide(
  doc: Pick<PolicyDocument, 'overrides' | 'standing' | 'blastRadiusThreshold'> & Partial<Pick<PolicyDocument, 'taint' | 'approvalTtlSeconds'>>,
  calls: RecordedCall[],
  proposedRuleIds: Set<string>,
  around: RecordedAround = {},
) {
  const results: { call: RecordedCall; inputs: DecisionInputs; before: Decided; after: Decided; why: string; savedByProposal: boolean }[] = [];
  let skipped = 0;
  for (const call of calls) {
    const inputs = call.policyInputs as DecisionInputs | null;
    if (!inputs || typeof inputs !== 'object' || typeof inputs.tool !== 'string' || !Array.isArray(inputs.devices)) {
      skipped++;
      continue;
    }
    const before = recordedOutcome(call);
    const limited = around.refusedByLimit?.get(call.id);
    if (limited) {
      results.push({ call, inputs, before, after: { outcome: 'denied', tier: null }, why: limited, savedByProposal: false });
      continue;
    }
    const verdict = decideUnder(doc, inputs, call.createdAt);
    let after: Decided = outcomeOf(verdict);
    let why = verdict.ok ? verdict.why.join('; ') : verdict.reason;
    const late = after.outcome === 'approval' && after.tier !== null && doc.approvalTtlSeconds ? expiredUnder({ approvalTtlSeconds: doc.approvalTtlSeconds }, after.tier, around.decisions?.get(call.id)) : null;
    if (late) [after, why] = [{ outcome: 'expired', tier: after.tier }, late];
    const savedByProposal = verdict.ok && verdict.standing !== undefined && proposedRuleIds.has(verdict.standing.id) && before.outcome === 'approval';
    results.push({ call, inputs, before, after, why, savedByProposal });
  }
  return { results, skipped };
}

export async function whatIf({ deps, principal }: Caller, orgRef: string, proposal: ProposedPolicy, windowDays: number): Promise<z.input<typeof WhatIfAnswer>> {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin, Role.Auditor]);
  checkPolicyInput({ overrides: proposal.overrides }, 'body.policy');
  const to = new Date();
  const from = new Date(to.getTime() - windowDays * 86_400_000);
  const current = await currentPolicy(deps.prisma, org.id);
  const calls: RecordedCall[] = await deps.prisma.toolInvocation.findMany({
    where: { orgId: org.id, createdAt: { gte: from, lte: to } },
    select: { id: true, sessionId: true, turnId: true, createdAt: true, toolName: true, decision: true, tier: true, input: true, policyInputs: true, standingRuleId: true },
    // The order the live limits counted them in.
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });

  // A proposed standing approval is the exact call it names: it gets the digest that call was recorded with.
  const proposedRules: StandingRule[] = [];
  if (proposal.standing?.length) {
    const digests = new Map<string, string>();
    for (const c of calls) {
      const inputs = c.policyInputs as DecisionInputs | null;
      if (inputs?.digest && Array.isArray(inputs.devices)) digests.set(callKey(c.toolName, c.input, inputs.devices), inputs.digest);
    }
    for (const p of proposal.standing) {
      const digest = digests.get(callKey(p.tool, p.params, p.devices));
      // A proposal matching no recorded call would have saved nothing: it has no digest to match.
      if (!digest) continue;
      proposedRules.push({ id: randomUUID(), tool: p.tool, action: null, params: p.params ?? null, devices: [...p.devices].sort(), digest, author: principal.userId, approvalId: 'what-if', createdAt: from.toISOString(), expiresAt: new Date(to.getTime() + 1).toISOString() });
    }
  }
  const doc = {
    overrides: proposal.overrides.map((o) => ({ tool: o.tool, action: o.action, tier: o.tier })),
    blastRadiusThreshold: proposal.blastRadiusThreshold ?? current.document.blastRadiusThreshold,
    taint: proposal.taint ?? current.document.taint,
    approvalTtlSeconds: proposal.approvalTtlSeconds ?? current.document.approvalTtlSeconds,
    rateLimits: proposal.rateLimits ?? current.document.rateLimits,
    standing: [...current.document.standing, ...proposedRules],
  };
  // Who decided each call's approval, and when: the expiry is judged by it, and the removed ones are counted per approver.
  const approvals = await deps.prisma.approval.findMany({
    where: { orgId: org.id, createdAt: { gte: from, lte: to } },
    select: { invocationId: true, status: true, decidedBy: true, decidedAt: true, createdAt: true, channel: true },
  });
  const byInvocation = new Map(approvals.map((a) => [a.invocationId, a]));
  const refusedByLimit = await refusedByToolLimits(deps, org.id, doc, calls);
  const { results, skipped } = redecide(doc, calls, new Set(proposedRules.map((r) => r.id)), { refusedByLimit, decisions: byInvocation });

  const changed = results.filter((r) => r.before.outcome !== r.after.outcome || r.before.tier !== r.after.tier);
  const added = changed.filter((r) => asks(r.after.outcome) && !asks(r.before.outcome));
  const removed = changed.filter((r) => asks(r.before.outcome) && !asks(r.after.outcome));
  const expired = changed.filter((r) => r.after.outcome === 'expired');

  const users = await deps.prisma.user.findMany({ where: { id: { in: [...new Set(approvals.map((a) => a.decidedBy).filter((x): x is string => x !== null))] } }, select: { id: true, email: true } });
  const email = new Map(users.map((u) => [u.id, u.email]));
  const perApprover = new Map<string, { added: number; removed: number }>();
  const perDay = new Map<string, { added: number; removed: number }>();
  const bump = (m: Map<string, { added: number; removed: number }>, k: string, f: 'added' | 'removed') => {
    const e = m.get(k) ?? { added: 0, removed: 0 };
    e[f]++;
    m.set(k, e);
  };
  for (const r of added) {
    bump(perApprover, '(any approver)', 'added');
    bump(perDay, r.call.createdAt.toISOString().slice(0, 10), 'added');
  }
  for (const r of removed) {
    const a = byInvocation.get(r.call.id);
    bump(perApprover, a?.decidedBy ? (email.get(a.decidedBy) ?? a.decidedBy) : '(undecided)', 'removed');
    bump(perDay, r.call.createdAt.toISOString().slice(0, 10), 'removed');
  }
  const times = approvals
    .filter((a) => a.decidedAt && a.channel !== 'standing')
    .map((a) => (a.decidedAt!.getTime() - a.createdAt.getTime()) / 1000)
    .sort((a, b) => a - b);
  const median = times.length ? (times.length % 2 ? times[(times.length - 1) / 2]! : (times[times.length / 2 - 1]! + times[times.length / 2]!) / 2) : null;

  const listed = changed.slice(0, LISTED);
  const deviceIds = [...new Set(listed.flatMap((r) => r.inputs.devices))];
  const devices = deviceIds.length ? await deps.prisma.device.findMany({ where: { orgId: org.id, id: { in: deviceIds } }, select: { id: true, name: true } }) : [];
  const names = new Map(devices.map((d) => [d.id, d.name]));
  return {
    window: { from: from.toISOString(), to: to.toISOString() },
    callsConsidered: results.length,
    sessionsConsidered: new Set(results.map((r) => r.call.sessionId)).size,
    callsSkipped: skipped,
    changed: listed.map((r) => ({
      toolCallId: r.call.id,
      sessionId: r.call.sessionId,
      at: r.call.createdAt.toISOString(),
      tool: r.call.toolName,
      action: r.inputs.action,
      devices: r.inputs.devices.map((d) => names.get(d) ?? d),
      before: r.before,
      after: r.after,
      why: r.why,
    })),
    changedTotal: changed.length,
    approvals: {
      added: added.length,
      removed: removed.length,
      expired: expired.length,
      perApprover: [...perApprover].map(([approver, n]) => ({ approver, ...n })),
      perDay: [...perDay].sort(([a], [b]) => a.localeCompare(b)).map(([day, n]) => ({ day, ...n })),
    },
    approverTime: { medianDecisionSeconds: median, addedSeconds: median === null ? 0 : added.length * median, removedSeconds: median === null ? 0 : removed.length * median },
    standingApprovalsSaved: results.filter((r) => r.savedByProposal).length,
  };
}
