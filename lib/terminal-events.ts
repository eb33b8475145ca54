/** Tells every api node to close live terminals now (a grant revoked or ended, an org paused): lib/pg-events.ts. */
import type { Prisma, PrismaClient } from '@prisma/client';
import { Channel, type TerminalsNote } from './pg-events';

export async function closeLiveTerminals(prisma: PrismaClient | Prisma.TransactionClient, note: TerminalsNote): Promise<void> {
  await prisma.$executeRaw`SELECT pg_notify(${Channel.Terminals}, ${JSON.stringify(note)})`;
}
