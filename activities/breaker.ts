/**
 * The session's circuit breaker as the database keeps it. A workflow's own count of rejections can be forged (a
 * fresh start or a continue-as-new carrying `streak: 0`), so the database counts too: from the approval rows, the
 * rejections and expiries in a row since the last verified reset. Either count reaching the threshold trips the
 * breaker on the session row, which only an admin's verified reset clears (activities/workflow-requests.ts).
 */
import type { CopilotSession } from '@prisma/client';
import { audit } from '../audit/log';
import { currentPolicy, documentOf } from '../lib/policy-store';
import { publishSessionEvent } from '../lib/session-events';
import type { ActivityDeps } from './deps';

const TRIPPED_TEXT = 'rejections in a row: tool calls of this session are blocked until an org admin resets the breaker';

/** The approvals the streak counts over: these statuses, the latest first, at most this many, since the last reset. */
export const STREAK_STATUSES = ['approved', 'rejected', 'expired', 'pending'] as const;
export const STREAK_WINDOW = 20;

/** Rejections (expiries count; a pending approval past its expiry is one) in a row since the last reset. */
export async function rejectionStreak(prisma: ActivityDeps['prisma'], session: Pick<CopilotSession, 'id' | 'orgId'>): Promise<number> {
  const reset = await prisma.auditEvent.findFirst({ where: { sessionId: session.id, orgId: session.orgId, action: 'breaker.reset' }, orderBy: { id: 'desc' }, select: { createdAt: true } });
  const recent = await prisma.approval.findMany({
    where: { sessionId: session.id, status: { in: [...STREAK_STATUSES] }, ...(reset ? { createdAt: { gt: reset.createdAt } } : {}) },
    orderBy: { createdAt: 'desc' },
    take: STREAK_WINDOW,
    select: { status: true, expiresAt: true },
  });
  return streakOf(recent);
}

/** The streak of rejections in a row over the session's latest approvals (read as rejectionStreak reads them). */
export function streakOf(recent: { status: string; expiresAt: Date }[]): number {
  let streak = 0;
  for (const a of recent) {
    if (a.status === 'approved') break;
    if (a.status === 'pending' && a.expiresAt > new Date()) continue;
    streak += 1;
  }
  return streak;
}

/** Trips the breaker on the session row, with its audit event in the same transaction; true if this call tripped it. */
export async function tripBreaker(prisma: ActivityDeps['prisma'], session: { sessionId: string; orgId: string }, data: Record<string, unknown>): Promise<boolean> {
  const tripped = await prisma.$transaction(async (tx) => {
    const row = await tx.copilotSession.updateMany({ where: { id: session.sessionId, breakerTrippedAt: null }, data: { breakerTrippedAt: new Date() } });
    if (row.count === 1) {
      await audit(tx, { orgId: session.orgId, actorType: 'system', actorId: session.sessionId, action: 'breaker.tripped', target: session.sessionId, sessionId: session.sessionId, data });
    }
    return row.count === 1;
  });
  if (tripped) await publishSessionEvent(prisma, { sessionId: session.sessionId, turnId: '', type: 'breaker:tripped', text: TRIPPED_TEXT });
  return tripped;
}

/** What breakerTripped reads, when read with other rows in one statement: the org's policy head, the latest approvals. */
export interface BreakerRead {
  /** The number of the org's policy in force (0: the defaults). */
  policyNumber: number;
  /** As rejectionStreak reads them: since the last reset, STREAK_STATUSES only, the latest first, STREAK_WINDOW at most. */
  recent: { status: string; expiresAt: Date }[];
}

/**
 * Whether the breaker holds, by the row or by the database's own count, which trips it when it reaches the streak of
 * the org's policy in force (read live: a new version counts from the next call). A policy that cannot be read
 * holds the breaker for this call (fail closed, audited) without tripping the row: fixing the policy re-arms it.
 */
export async function breakerTripped(prisma: ActivityDeps['prisma'], session: Pick<CopilotSession, 'id' | 'orgId' | 'breakerTrippedAt'>, onTrip?: () => void, read?: BreakerRead): Promise<boolean> {
  if (session.breakerTrippedAt) return true;
  let limit: number;
  try {
    limit = (read ? await documentOf(prisma, session.orgId, read.policyNumber) : (await currentPolicy(prisma, session.orgId)).document).breakerStreak;
  } catch (err) {
    await audit(prisma, { orgId: session.orgId, actorType: 'system', actorId: session.id, action: 'breaker.unavailable', target: session.id, sessionId: session.id, data: { error: String(err).slice(0, 300) } });
    return true;
  }
  const streak = read ? streakOf(read.recent) : await rejectionStreak(prisma, session);
  if (streak < limit) return false;
  if (await tripBreaker(prisma, { sessionId: session.id, orgId: session.orgId }, { streak, limit, countedBy: 'approvals' })) onTrip?.();
  return true;
}
