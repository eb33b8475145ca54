/**
 * An organization's own rate limits, set by its admins through the policy (PUT /v1/orgs/:id/policy `rateLimits`):
 * messages per user per minute, messages of the org per hour, and per tool the calls each user may make in that
 * tool's window. What is not set is the deployment's default (lib/env.ts guardConfig, the tool catalog). Raising a
 * limit is an admin's decision about their own org, audited like the rest of the policy; every check still counts in
 * Redis and refuses when Redis cannot answer.
 */
import type { Pool } from 'pg';
import { PolicyRateLimits } from '../common/policy-document';
import { toolOf, type ToolName } from '../common/tools';
import type { GuardConfig } from './env';
import type { Window } from './rate-limiter';

export interface OrgRateLimits {
  userMessagesPerMinute: number | null;
  orgMessagesPerHour: number | null;
  toolCalls: Record<string, number>;
}

export const NO_ORG_LIMITS: OrgRateLimits = { userMessagesPerMinute: null, orgMessagesPerHour: null, toolCalls: {} };

/** From a policy document (common/policy-document.ts); a damaged part counts as none set (the defaults apply). */
export function orgRateLimitsOf(doc: { rateLimits?: unknown }): OrgRateLimits {
  const limits = PolicyRateLimits.safeParse(doc.rateLimits);
  if (!limits.success) return NO_ORG_LIMITS;
  return { userMessagesPerMinute: limits.data.userMessagesPerMinute, orgMessagesPerHour: limits.data.orgMessagesPerHour, toolCalls: limits.data.toolCallsPerUser };
}

/** The org's limits, from its current policy version, in one prepared statement; null when there is no such org. */
export async function readOrgRateLimits(pool: Pool, orgId: string): Promise<OrgRateLimits | null> {
  const { rows } = await pool.query<{ rateLimits: unknown }>({
    name: 'org-rate-limits.read-version',
    text: `SELECT (SELECT v."document"->'rateLimits' FROM "PolicyVersion" v WHERE v."orgId" = o."id" ORDER BY v."number" DESC LIMIT 1) AS "rateLimits"
           FROM "Organization" o WHERE o."id" = $1::uuid`,
    values: [orgId],
  });
  if (!rows[0]) return null;
  return rows[0].rateLimits === null ? NO_ORG_LIMITS : orgRateLimitsOf(rows[0]);
}

/** The message windows the guards count against for this org: its own maxima where set, the windows as configured. */
export function messageWindows(rates: GuardConfig['rates'], org: OrgRateLimits): Pick<GuardConfig['rates'], 'userMessages' | 'orgMessages'> {
  return {
    userMessages: { ...rates.userMessages, max: org.userMessagesPerMinute ?? rates.userMessages.max },
    orgMessages: { ...rates.orgMessages, max: org.orgMessagesPerHour ?? rates.orgMessages.max },
  };
}

/** A catalog tool's per-user limit under a policy: its calls at most `max` per its window. */
export interface ToolCallLimit extends Window {
  tool: string;
  /** The window as documented (the catalog's); `windowMs` is it scaled by RATE_WINDOW_SCALE. */
  windowSeconds: number;
}

/**
 * The limit on one user's calls of a catalog tool under a policy document: the org's own (its admins' policy) or the
 * catalog's, over the tool's window. Live authorization counts each call against it; the what-if replays recorded
 * calls against a proposal's: one rule.
 */
export function toolCallLimit(doc: { rateLimits?: unknown }, tool: ToolName, windowScale: number): ToolCallLimit {
  const { windowSeconds, max } = toolOf(tool).rateLimit;
  return { tool, max: orgRateLimitsOf(doc).toolCalls[tool] ?? max, windowSeconds, windowMs: Math.round(windowSeconds * 1000 * windowScale) };
}

/** The limit in words, as a refusal names it: "manage_service at most 30 times per 10 min per user". */
export function describeToolCallLimit(l: Pick<ToolCallLimit, 'tool' | 'max' | 'windowSeconds'>): string {
  return `${l.tool} at most ${l.max} times per ${Math.round(l.windowSeconds / 60) || 1} min per user`;
}

/** The rate-limit key of one user's calls of one tool (upstream MCP tools too: `upstream.<server>.<tool>`). */
export const toolCallKey = (tool: string, userId: string) => `tool:${tool}:user:${userId}`;
