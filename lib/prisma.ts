/**
 * The database: the Prisma client, always through the pg driver adapter (no native engine on this machine or in
 * production), and the same connection pool for the few statements that run in plain SQL (lib/device-commands.ts).
 */
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '@prisma/client';
import { Client, Pool } from 'pg';

export type { PrismaClient };
export type { Pool };

export interface Database {
  prisma: PrismaClient;
  /** Shared with Prisma, and closed by `prisma.$disconnect()`. */
  pool: Pool;
}

/**
 * A pool connection that starts a query only once its previous one has finished. Prisma's query interpreter reads a
 * row's relations (`include: { org, site, group }`) with Promise.all; inside a transaction (every tenantDb query is
 * one) they all go to the transaction's one connection, which pg queues but warns about ("Calling client.query()
 * when the client is already executing a query", to become an error in pg 9). The fix belongs in the adapter
 * (prisma/orm#29407, prisma/orm#29979) and is not in @prisma/adapter-pg 7.10.1. Only the promise form, the one the
 * adapter uses, is chained: pg-pool's own `pool.query` (callback form) has the connection to itself.
 */
class OneQueryAtATime extends Client {
  private previous: Promise<unknown> = Promise.resolve();

  override query(...args: any[]): any {
    const [config, values, callback] = args;
    if (typeof config?.submit === 'function' || typeof values === 'function' || callback !== undefined) return super.query(...(args as Parameters<Client['query']>));
    const run = this.previous.then(() => super.query(config, values));
    this.previous = run.catch(() => undefined);
    return run;
  }
}

/**
 * How long an interactive transaction may wait for a pooled connection, and run. Prisma's defaults (2 s and 5 s)
 * turned a burst into refusals: forty of one org's budget reservations at once queue on its counter rows (locked
 * in a fixed order, so they queue rather than deadlock) while the rest wait for the pool, and every request
 * (each tenantDb query is a transaction) answered 500 once the machine was busy. A database that is down still
 * fails at once: the connection is refused, nothing waits.
 */
export const TRANSACTION_OPTIONS = { maxWait: 10_000, timeout: 15_000 } as const;

export function createDatabase(databaseUrl: string): Database {
  const pool = new Pool({ connectionString: databaseUrl, Client: OneQueryAtATime });
  return { pool, prisma: new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }), transactionOptions: TRANSACTION_OPTIONS }) };
}

export function createPrisma(databaseUrl: string): PrismaClient {
  return createDatabase(databaseUrl).prisma;
}
