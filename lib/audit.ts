/** Writes audit events. Append-only; every security-relevant decision (allow, deny, cross-tenant probe) lands here. */
import type { Prisma, PrismaClient } from '@prisma/client';

export interface AuditEntry {
  orgId?: string | null;
  actorType: 'user' | 'agent' | 'system' | 'model';
  actorId?: string | null;
  action: string;
  target?: string | null;
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
      data: (entry.data ?? {}) as Prisma.InputJsonValue,
    },
  });
}
