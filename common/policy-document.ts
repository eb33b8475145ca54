/**
 * An organization's policy as one versioned document (docs/policy.md): the tier overrides per tool and action, the
 * approval expiry per tier, the org's own rate limits, the blast radius, the breaker's streak, the taint rules, the
 * budget ceilings, and its standing approvals. Every change is a new row of
 * PolicyVersion holding the whole document (its SHA-256 beside it, computed by the database from the stored JSON); the current policy is the highest number. An
 * org with no version yet runs under version 0, DEFAULT_DOCUMENT. One zod schema reads every stored document, so
 * a damaged one is a parse error (and live authorization denies), never a half-read policy.
 */
import { z } from 'zod';
import { BLAST_RADIUS_THRESHOLD } from './default-policy';
import { BREAKER_THRESHOLD } from './session';

export const TierValue = z.number().int().min(1).max(4);

/** `tool`: a catalog tool, open_terminal, or an upstream MCP tool as `upstream.<server>.<tool>` (action "*"; its registered tier is the default). */
export const PolicyOverrideEntry = z.object({ tool: z.string().max(120), action: z.string().max(40).default('*'), tier: TierValue }).strict();

export const ApprovalTtl = z.object({ t3: z.number().int().min(2).max(7 * 86_400), t4: z.number().int().min(2).max(7 * 86_400) }).strict();

/**
 * How long an approval of `tier` stays open under a document (T4 its own, T3 otherwise), and when one requested at
 * `requestedAt` expires: a decision at or after that moment is refused. Every approval is made (activities/approvals.ts,
 * terminal-access.ts) and decided (api/services/decide-approval.ts) by these, and the what-if asks them whether a
 * recorded decision would have come too late under a proposal.
 */
export function approvalTtlSeconds(doc: { approvalTtlSeconds: z.infer<typeof ApprovalTtl> }, tier: number): number {
  return tier >= 4 ? doc.approvalTtlSeconds.t4 : doc.approvalTtlSeconds.t3;
}
export function approvalExpiresAt(requestedAt: Date, ttlSeconds: number): Date {
  return new Date(requestedAt.getTime() + ttlSeconds * 1000);
}
export function approvalExpiredAt(expiresAt: Date, at: Date): boolean {
  return expiresAt.getTime() <= at.getTime();
}

export const BlastRadiusThreshold = z.number().int().min(1).max(1000);

/** Rejections in a row that trip a session's breaker (longer than the default needs the lowering allowance). */
export const BreakerStreak = z.number().int().min(1).max(10);
/** The least tier after flagged content / with an argument from a tool's output: 3 or 4, never below a human. */
const TaintTier = z.union([z.literal(3), z.literal(4)], { error: 'must be 3 or 4: a tainted call always waits for a human' });
export const TaintRules = z.object({ flaggedContentMinTier: TaintTier, provenanceMinTier: TaintTier }).strict();
/** The org's model spend ceilings in USD; null is the deployment's defaults (env). */
const Usd = z.number().positive().max(1_000_000);
export const BudgetCeilings = z.object({ dailyUsd: Usd, monthlyUsd: Usd, hourlyUsd: Usd }).strict().refine((b) => b.dailyUsd <= b.monthlyUsd, { message: 'dailyUsd cannot be more than monthlyUsd', path: ['dailyUsd'] });

/** The org's own rate limits; null (a tool not listed) is the default. */
export const PolicyRateLimits = z
  .object({
    userMessagesPerMinute: z.number().int().min(1).max(10_000).nullable().describe('messages each user may send per minute'),
    orgMessagesPerHour: z.number().int().min(1).max(1_000_000).nullable().describe('messages the whole org may send per hour'),
    toolCallsPerUser: z.record(z.string().max(100), z.number().int().min(1).max(100_000)).describe("per tool, calls each user may make in the tool's own window"),
  })
  .strict();

/**
 * A standing approval: an approver who approved a T3 call allowed that exact call (tool, parsed input, devices: one
 * digest) again until `expiresAt`. Never T4, never wider than the call the approver saw.
 */
export const StandingRule = z
  .object({
    id: z.uuid(),
    tool: z.string().max(200),
    action: z.string().max(100).nullable(),
    /** The call's parsed input, as the approver saw it. */
    params: z.unknown(),
    /** The device ids of the call, sorted. */
    devices: z.array(z.string().max(100)).max(500),
    /** approvalDigest of the call (tool, input, targets): what a later call must equal to be let through. */
    digest: z.string().regex(/^[0-9a-f]{64}$/),
    /** The approver who made it (user id). */
    author: z.string(),
    /** The approval it was made from. */
    approvalId: z.string(),
    createdAt: z.string(),
    expiresAt: z.string(),
  })
  .strict();
export type StandingRule = z.infer<typeof StandingRule>;

export const PolicyDocument = z
  .object({
    overrides: z.array(PolicyOverrideEntry).max(100),
    approvalTtlSeconds: ApprovalTtl,
    rateLimits: PolicyRateLimits,
    /** More than this many devices raises a T2/T3 call one tier (the default 10; above it needs the lowering allowance). */
    blastRadiusThreshold: BlastRadiusThreshold.default(BLAST_RADIUS_THRESHOLD),
    breakerStreak: BreakerStreak.default(BREAKER_THRESHOLD),
    taint: TaintRules.default({ flaggedContentMinTier: 3, provenanceMinTier: 3 }),
    budget: BudgetCeilings.nullable().default(null),
    standing: z.array(StandingRule).max(500),
  })
  .strict();
export type PolicyDocument = z.infer<typeof PolicyDocument>;

/** What a new organization runs under before any admin saves a policy (version 0). */
export const DEFAULT_DOCUMENT: PolicyDocument = Object.freeze({
  overrides: [],
  approvalTtlSeconds: { t3: 1800, t4: 900 },
  rateLimits: { userMessagesPerMinute: null, orgMessagesPerHour: null, toolCallsPerUser: {} },
  blastRadiusThreshold: BLAST_RADIUS_THRESHOLD,
  breakerStreak: BREAKER_THRESHOLD,
  taint: { flaggedContentMinTier: 3, provenanceMinTier: 3 },
  budget: null,
  standing: [],
}) as PolicyDocument;

/** The kinds of change a version records. */
export const PolicyVersionKind = z.enum(['initial', 'edit', 'rollback', 'standing-approval', 'standing-revoke']);
export type PolicyVersionKind = z.infer<typeof PolicyVersionKind>;

/** A document in one canonical form (overrides sorted), so equal policies have equal hashes. */
export function normalizeDocument(doc: PolicyDocument): PolicyDocument {
  const overrides = [...doc.overrides].sort((a, b) => (a.tool === b.tool ? a.action.localeCompare(b.action) : a.tool.localeCompare(b.tool)));
  return { ...doc, overrides };
}

/** One difference between two documents: a JSON path and the values before and after (null when absent). */
export interface PolicyDiffEntry {
  path: string;
  before: unknown;
  after: unknown;
}

/**
 * The differences between two documents, by path: overrides are keyed by tool:action and standing rules by id (an
 * added or removed one is one entry), the rest field by field.
 */
export function diffDocuments(before: PolicyDocument | null, after: PolicyDocument): PolicyDiffEntry[] {
  const out: PolicyDiffEntry[] = [];
  const b = before ?? DEFAULT_DOCUMENT;
  const key = (o: { tool: string; action: string }) => `${o.tool}:${o.action}`;
  const oldTiers = new Map(b.overrides.map((o) => [key(o), o.tier]));
  const newTiers = new Map(after.overrides.map((o) => [key(o), o.tier]));
  for (const k of [...new Set([...oldTiers.keys(), ...newTiers.keys()])].sort()) {
    const x = oldTiers.get(k) ?? null;
    const y = newTiers.get(k) ?? null;
    if (x !== y) out.push({ path: `overrides.${k}`, before: x, after: y });
  }
  for (const t of ['t3', 't4'] as const) {
    if (b.approvalTtlSeconds[t] !== after.approvalTtlSeconds[t]) out.push({ path: `approvalTtlSeconds.${t}`, before: b.approvalTtlSeconds[t], after: after.approvalTtlSeconds[t] });
  }
  for (const f of ['userMessagesPerMinute', 'orgMessagesPerHour'] as const) {
    if (b.rateLimits[f] !== after.rateLimits[f]) out.push({ path: `rateLimits.${f}`, before: b.rateLimits[f], after: after.rateLimits[f] });
  }
  const oldCalls = b.rateLimits.toolCallsPerUser;
  const newCalls = after.rateLimits.toolCallsPerUser;
  for (const tool of [...new Set([...Object.keys(oldCalls), ...Object.keys(newCalls)])].sort()) {
    if (oldCalls[tool] !== newCalls[tool]) out.push({ path: `rateLimits.toolCallsPerUser.${tool}`, before: oldCalls[tool] ?? null, after: newCalls[tool] ?? null });
  }
  if (b.blastRadiusThreshold !== after.blastRadiusThreshold) out.push({ path: 'blastRadiusThreshold', before: b.blastRadiusThreshold, after: after.blastRadiusThreshold });
  if (b.breakerStreak !== after.breakerStreak) out.push({ path: 'breakerStreak', before: b.breakerStreak, after: after.breakerStreak });
  for (const t of ['flaggedContentMinTier', 'provenanceMinTier'] as const) {
    if (b.taint[t] !== after.taint[t]) out.push({ path: `taint.${t}`, before: b.taint[t], after: after.taint[t] });
  }
  for (const f of ['dailyUsd', 'monthlyUsd', 'hourlyUsd'] as const) {
    const x = b.budget?.[f] ?? null;
    const y = after.budget?.[f] ?? null;
    if (x !== y) out.push({ path: `budget.${f}`, before: x, after: y });
  }
  const oldRules = new Map(b.standing.map((r) => [r.id, r]));
  const newRules = new Map(after.standing.map((r) => [r.id, r]));
  for (const id of [...new Set([...oldRules.keys(), ...newRules.keys()])]) {
    const x = oldRules.get(id) ?? null;
    const y = newRules.get(id) ?? null;
    if ((x === null) !== (y === null)) out.push({ path: `standing.${id}`, before: x, after: y });
  }
  return out;
}
