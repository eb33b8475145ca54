/**
 * Tenant data through PostgreSQL row-level security: the second wall behind the scoping helper.
 *
 * `tenantDb(prisma, scope)` returns a client whose every query (model operations and raw SQL) runs in its own
 * transaction as the `gatehouse_app` role with the scope's organizations set for that transaction. The policies
 * (migration 20261121080000_tenancy) let that role see and write only rows of those organizations, and of nothing
 * when no organization is set, so a query that forgets its org condition still cannot reach another tenant.
 * Work spanning several statements goes through `tenantTransaction`, which sets the same things once.
 *
 * The plain client (the connecting role owns the tables) stays for system work: authentication lookups, the
 * agent gateway, the worker's bookkeeping, audit writes.
 */
import { Prisma, type PrismaClient } from '@prisma/client';
import type { Pool, PoolClient } from 'pg';
import { z } from 'zod';

export const APP_ROLE = 'gatehouse_app';

export interface TenantScope {
  /** The organizations visible in this scope. Empty: none. */
  orgIds: readonly string[];
  /** The partner whose users are visible (users and API keys are partner-level). */
  partnerId?: string;
}

const Ids = z.array(z.uuid()).max(10_000);

/**
 * The role and the ids, checked, as the settings the policies read (parsed there as uuid[]); anything else is refused
 * here. One statement for the transaction: `set_config('role', …, true)` is `SET LOCAL ROLE`, in a round trip shared
 * with the organizations.
 */
function settings(scope: TenantScope): Prisma.Sql {
  const { orgs, partner } = checkedScope(scope);
  return Prisma.sql`SELECT set_config('role', ${APP_ROLE}, true), set_config('app.org_ids', ${orgs}, true), set_config('app.partner_id', ${partner}, true)`;
}

/** The scope's ids as the settings hold them, checked: UUIDs only, anything else refused. */
function checkedScope(scope: TenantScope): { orgs: string; partner: string } {
  return { orgs: Ids.parse([...scope.orgIds]).join(','), partner: scope.partnerId ? z.uuid().parse(scope.partnerId) : '' };
}

const RAW = new Set(['$queryRaw', '$executeRaw', '$queryRawUnsafe', '$executeRawUnsafe']);

/**
 * A client fenced to the scope's organizations, with the plain client's API: every model operation and raw query
 * runs in a short transaction that first sets the role and the organizations; `$transaction(async (tx) => …)` runs
 * through `tenantTransaction`. (A Prisma query extension cannot do this: inside an interactive transaction it
 * would run each query on another connection, outside the transaction.)
 */
export function tenantDb(prisma: PrismaClient, scope: TenantScope): PrismaClient {
  const scoped = settings(scope);
  const fence = async <T>(operation: Prisma.PrismaPromise<T>): Promise<T> => {
    const [, result] = await prisma.$transaction([prisma.$queryRaw(scoped), operation]);
    return result as T;
  };
  const delegates = new Map<string | symbol, unknown>();
  return new Proxy(prisma, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (prop === '$transaction') {
        return (fn: unknown, options?: { isolationLevel?: Prisma.TransactionIsolationLevel }) => {
          if (typeof fn !== 'function') throw new Error('tenantDb: use the callback form of $transaction');
          return tenantTransaction(prisma, scope, fn as (tx: Prisma.TransactionClient) => Promise<unknown>, options);
        };
      }
      if (typeof prop === 'string' && RAW.has(prop)) {
        return (...args: unknown[]) => fence((value as (...a: unknown[]) => Prisma.PrismaPromise<unknown>).apply(target, args));
      }
      // Model delegates (prisma.device, prisma.site, …): each operation fenced.
      if (typeof prop === 'string' && !prop.startsWith('$') && !prop.startsWith('_') && value && typeof value === 'object') {
        if (!delegates.has(prop)) {
          delegates.set(
            prop,
            new Proxy(value, {
              get(delegate, op) {
                const method: unknown = Reflect.get(delegate, op);
                if (typeof method !== 'function') return method;
                return (...args: unknown[]) => fence((method as (...a: unknown[]) => Prisma.PrismaPromise<unknown>).apply(delegate, args));
              },
            }),
          );
        }
        return delegates.get(prop);
      }
      return value;
    },
  });
}

/** Runs `fn` in one transaction as `gatehouse_app`, fenced to the scope's organizations. */
export async function tenantTransaction<T>(
  prisma: PrismaClient,
  scope: TenantScope,
  fn: (tx: Prisma.TransactionClient) => Promise<T>,
  options?: { isolationLevel?: Prisma.TransactionIsolationLevel },
): Promise<T> {
  const scoped = settings(scope);
  return prisma.$transaction(async (tx) => {
    await tx.$queryRaw(scoped);
    return fn(tx);
  }, options);
}

/**
 * Runs `fn` in one transaction on a pooled `pg` connection, as `gatehouse_app` fenced to the scope's organizations:
 * the same role and settings as `tenantTransaction`, without Prisma, for a hot path whose statements are plain SQL
 * (api/services/decide-approval.ts). BEGIN and the settings go in one round trip: the settings are the same checked
 * ids as there (UUIDs only, refused otherwise), written as literals because a message of several statements takes
 * no parameters. `fn`'s statements take their parameters as usual. Rolled back when `fn` throws.
 */
export async function tenantPoolTransaction<T>(pool: Pool, scope: TenantScope, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const { orgs, partner } = checkedScope(scope);
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    const lit = (v: string) => client.escapeLiteral(v);
    await client.query(`BEGIN; SELECT set_config('role', ${lit(APP_ROLE)}, true), set_config('app.org_ids', ${lit(orgs)}, true), set_config('app.partner_id', ${lit(partner)}, true)`);
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    // A connection that cannot roll back is not given back to the pool.
    await client.query('ROLLBACK').catch((e: unknown) => {
      broken = e instanceof Error ? e : new Error(String(e));
    });
    throw err;
  } finally {
    client.release(broken);
  }
}
