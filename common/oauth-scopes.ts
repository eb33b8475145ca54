/**
 * The scopes an MCP client may ask for, and what each lets a call reach. Small on purpose: the user's own roles,
 * the tiers, approvals and rate limits still decide everything else, as for their API key.
 */
export const OAuthScope = { Read: 'mcp:read', Act: 'mcp:act' } as const;
export type OAuthScope = (typeof OAuthScope)[keyof typeof OAuthScope];

export const SCOPES: Record<OAuthScope, { label: string; maxTier: number }> = {
  'mcp:read': { label: 'Read: run T1 tools only (reads of devices, no change)', maxTier: 1 },
  'mcp:act': { label: 'Act: run tools of every tier as you (T3 and T4 still wait for an approver)', maxTier: 4 },
};

export const SUPPORTED_SCOPES = Object.keys(SCOPES) as OAuthScope[];

export const isScope = (s: string): s is OAuthScope => s in SCOPES;

/** The highest tier a grant's scopes let a call reach (0: none). */
export const maxTierOf = (scopes: readonly string[]): number => Math.max(0, ...scopes.filter(isScope).map((s) => SCOPES[s].maxTier));
