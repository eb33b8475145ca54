/**
 * The four tiers of a tool call, and what each means to a person. Each tool states its default tier in its own
 * definition (common/tools/); common/default-policy.ts gathers them into the default policy table.
 *   T1 read-only: runs, logged.            T2 low-risk change: runs, logged, rate-limited.
 *   T3 significant change: an approver of the org approves first.
 *   T4 dangerous: approval with a typed confirmation, by someone other than the requester.
 */
export const Tier = { T1: 1, T2: 2, T3: 3, T4: 4 } as const;
export type Tier = (typeof Tier)[keyof typeof Tier];

export const TIER_NAMES: Record<Tier, string> = {
  [Tier.T1]: 'read-only',
  [Tier.T2]: 'low-risk change',
  [Tier.T3]: 'needs approval',
  [Tier.T4]: 'needs approval with typed confirmation',
};
