/**
 * The database: the Prisma client, always through the pg driver adapter (no native engine on this machine or in
 * production), and the same connection pool for the few statements that run in plain SQL (lib/device-commands.ts).
 */
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '@prisma/client';
import { Pool } from 'pg';

export type { PrismaClient };
export type { Pool };

export interface Database {
  prisma: PrismaClient;
  /** Shared with Prisma, and closed by `prisma.$disconnect()`. */
  pool: Pool;
}

export function createDatabase(databaseUrl: string): Database {
  const pool = new Pool({ connectionString: databaseUrl });
  return { pool, prisma: new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) }) };
}

export function createPrisma(databaseUrl: string): PrismaClient {
  return createDatabase(databaseUrl).prisma;
}
