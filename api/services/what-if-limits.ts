/**
 * The parts of a what-if (./what-if.ts) that are not the tier: a proposal's per-tool rate limits and its approval
 * expiry per tier, each asked of the function live code uses, fed what was recorded.
 *
 * - Rate limits: every recorded call that reached the live limiter (a catalog tool whose input parsed: the limiter is
 *   the first check after parsing, and a call denied before it is recorded with its input unparsed) is counted again,
 *   in recorded order at its recorded time, per tool and per user (the author of its turn), through the live count
 *   script (lib/rate-limiter.ts `replay`) against the proposal's limit (lib/org-rate-limits.ts `toolCallLimit`). A
 *   call it refuses would have been refused. Upstream MCP tools are left out: their limit is not in the policy.
 * - Expiry: a recorded decision that came at or after the moment the proposal's expiry for the call's tier (under
 *   the proposal) would have closed the approval (common/policy-document.ts `approvalExpiresAt`/`approvalExpiredAt`,
 *   as the decision service checks it) would have found it expired.
 */
import { userMessageId } from '../../common/ids';
import { approvalExpiredAt, approvalExpiresAt, approvalTtlSeconds, type PolicyDocument } from '../../common/policy-document';
import { isToolName, type ToolName } from '../../common/tools';
import { describeToolCallLimit, toolCallKey, toolCallLimit, type ToolCallLimit } from '../../lib/org-rate-limits';
import type { ApiDeps } from '../deps';

/** A recorded call as the limit replay reads it. */
export interface CountedCall {
  id: string;
  sessionId: string;
  turnId: string;
  createdAt: Date;
  toolName: string;
  input: unknown;
}

/** The recorded decision on a call's approval (not one a standing approval made). */
export interface RecordedDecision {
  status: string;
  createdAt: Date;
  decidedAt: Date | null;
  channel: string | null;
}

const unparsed = (input: unknown) => typeof input === 'object' && input !== null && (input as { unparsed?: unknown }).unparsed === true;

/** Who each call counted against: the author of its turn, else (a call recorded without its message) the session's owner. */
async function callers(deps: ApiDeps, orgId: string, calls: CountedCall[]): Promise<Map<string, string>> {
  const messages = await deps.prisma.message.findMany({ where: { orgId, id: { in: [...new Set(calls.map((c) => userMessageId(c.sessionId, c.turnId)))] } }, select: { id: true, userId: true } });
  const authors = new Map(messages.flatMap((m) => (m.userId ? [[m.id, m.userId] as const] : [])));
  const sessions = await deps.prisma.copilotSession.findMany({ where: { orgId, id: { in: [...new Set(calls.map((c) => c.sessionId))] } }, select: { id: true, userId: true } });
  const owners = new Map(sessions.map((s) => [s.id, s.userId]));
  const out = new Map<string, string>();
  for (const c of calls) {
    const user = authors.get(userMessageId(c.sessionId, c.turnId)) ?? owners.get(c.sessionId);
    if (user) out.set(c.id, user);
  }
  return out;
}

/** The recorded calls the document's per-tool limits would have refused, by call id, with the limit in words. */
export async function refusedByToolLimits(deps: ApiDeps, orgId: string, doc: Pick<PolicyDocument, 'rateLimits'>, calls: CountedCall[]): Promise<Map<string, string>> {
  const counted = calls.filter((c): c is CountedCall & { toolName: ToolName } => isToolName(c.toolName) && !unparsed(c.input));
  if (counted.length === 0) return new Map();
  const userOf = await callers(deps, orgId, counted);
  const limits = new Map<ToolName, ToolCallLimit>();
  const limitOf = (tool: ToolName) => limits.get(tool) ?? limits.set(tool, toolCallLimit(doc, tool, deps.config.guards.rates.windowScale)).get(tool)!;
  const replayed = counted.filter((c) => userOf.has(c.id));
  const allowed = await deps.limiter.replay(replayed.map((c) => ({ key: toolCallKey(c.toolName, userOf.get(c.id)!), w: limitOf(c.toolName), atMs: c.createdAt.getTime() })));
  const refused = new Map<string, string>();
  replayed.forEach((c, i) => {
    if (!allowed[i]) refused.set(c.id, `rate limit: ${describeToolCallLimit(limitOf(c.toolName))}`);
  });
  return refused;
}

const minutes = (ms: number) => (ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60_000)} min`);

/**
 * Why the recorded decision on this call's approval would have come too late under the document, for an approval
 * of `tier`; null when it came in time (or there is no recorded decision to judge).
 */
export function expiredUnder(doc: Pick<PolicyDocument, 'approvalTtlSeconds'>, tier: number, decision: RecordedDecision | undefined): string | null {
  if (!decision?.decidedAt || (decision.status !== 'approved' && decision.status !== 'rejected') || decision.channel === 'standing') return null;
  const ttl = approvalTtlSeconds(doc, tier);
  if (!approvalExpiredAt(approvalExpiresAt(decision.createdAt, ttl), decision.decidedAt)) return null;
  return `the approval would have expired: ${decision.status} after ${minutes(decision.decidedAt.getTime() - decision.createdAt.getTime())}, and a T${tier} approval expires after ${minutes(ttl * 1000)}`;
}
