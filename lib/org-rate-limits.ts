/**
 * An organization's own rate limits, set by its admins through the policy (PUT /v1/orgs/:id/policy `rateLimits`):
 * messages per user per minute, messages of the org per hour, and per tool the calls each user may make in that
 * tool's window. What is not set is the deployment's default (lib/env.ts guardConfig, the tool catalog). Raising a
 * limit is an admin's decision about their own org, audited like the rest of the policy; every check still counts in
 * Redis and refuses when Redis cannot answer.
 */
import type { Pool } from 'pg';
import { z } from 'zod';
import type { GuardConfig } from './env';

/** Tool name → calls per user per the tool's own window. */
export const ToolCallLimits = z.record(z.string(), z.number().int().positive());

export interface OrgRateLimits {
  userMessagesPerMinute: number | null;
  orgMessagesPerHour: number | null;
  toolCalls: Record<string, number>;
}

export const NO_ORG_LIMITS: OrgRateLimits = { userMessagesPerMinute: null, orgMessagesPerHour: null, toolCalls: {} };

/** From the organization's row (columns rate*); a damaged tool map counts as none set (the defaults apply). */
export function orgRateLimitsOf(row: { rateUserMessagesPerMinute: number | null; rateOrgMessagesPerHour: number | null; rateToolCalls: unknown }): OrgRateLimits {
  const tools = ToolCallLimits.safeParse(row.rateToolCalls);
  return { userMessagesPerMinute: row.rateUserMessagesPerMinute, orgMessagesPerHour: row.rateOrgMessagesPerHour, toolCalls: tools.success ? tools.data : {} };
}

/** The org's limits in one prepared statement; null when there is no such org. */
export async function readOrgRateLimits(pool: Pool, orgId: string): Promise<OrgRateLimits | null> {
  const { rows } = await pool.query<{ rateUserMessagesPerMinute: number | null; rateOrgMessagesPerHour: number | null; rateToolCalls: unknown }>({
    name: 'org-rate-limits.read',
    text: `SELECT "rateUserMessagesPerMinute", "rateOrgMessagesPerHour", "rateToolCalls" FROM "Organization" WHERE "id" = $1::uuid`,
    values: [orgId],
  });
  return rows[0] ? orgRateLimitsOf(rows[0]) : null;
}

/** The message windows the guards count against for this org: its own maxima where set, the windows as configured. */
export function messageWindows(rates: GuardConfig['rates'], org: OrgRateLimits): Pick<GuardConfig['rates'], 'userMessages' | 'orgMessages'> {
  return {
    userMessages: { ...rates.userMessages, max: org.userMessagesPerMinute ?? rates.userMessages.max },
    orgMessages: { ...rates.orgMessages, max: org.orgMessagesPerHour ?? rates.orgMessages.max },
  };
}
