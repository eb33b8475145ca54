/**
 * Writes audit events. Every security-relevant decision (allow, deny, cross-tenant probe) lands here, under one of
 * the actions of the catalog (actions.ts). The table is append-only and hash-chained per org in the database itself
 * (see chain.ts).
 */
import type { Prisma, PrismaClient } from '@prisma/client';
import type { AuditAction } from './actions';

export interface AuditEntry {
  orgId?: string | null;
  actorType: 'user' | 'agent' | 'system' | 'model';
  actorId?: string | null;
  action: AuditAction;
  target?: string | null;
  /** The copilot session the event belongs to: `npm run audit -- export` collects a session's events by it. */
  sessionId?: string | null;
  data?: Record<string, unknown>;
}

export async function audit(prisma: PrismaClient | Prisma.TransactionClient, entry: AuditEntry): Promise<void> {
  await prisma.auditEvent.create({
    data: {
      orgId: entry.orgId ?? null,
      actorType: entry.actorType,
      actorId: entry.actorId ?? null,
      action: entry.action,
      target: entry.target ?? null,
      sessionId: entry.sessionId ?? null,
      data: (entry.data ?? {}) as Prisma.InputJsonValue,
    },
  });
}

/** One event in the audit chain of every org where `userId` holds a role: each can see who may now decide in it. */
export async function auditForUser(system: PrismaClient, userId: string, entry: Omit<AuditEntry, 'orgId'>): Promise<void> {
  const orgIds = [...new Set((await system.roleBinding.findMany({ where: { userId }, select: { orgId: true } })).map((b) => b.orgId))];
  for (const orgId of orgIds.length ? orgIds : [null]) await audit(system, { ...entry, orgId });
}
