/**
 * Who calls a service, and through which clients: `deps` (its Prisma client fenced by row-level security to the
 * principal's organizations), `system` (the unfenced client, for the audit log and the few lookups that must cross
 * tenants) and the principal. A route's context carries all three, so a route hands it over as it is.
 */
import type { PrismaClient } from '../../lib/prisma';
import type { ApiDeps } from '../deps';
import type { Principal } from '../http/access';

export interface Caller {
  deps: ApiDeps;
  system: PrismaClient;
  principal: Principal;
}

/**
 * A caller outside a route (an e-mailed approval link, a Slack click, a page): the principal was found by the page
 * itself, and `deps` is the api's own, unfenced, as the page holds it.
 */
export const callerOf = (deps: ApiDeps, principal: Principal): Caller => ({ deps, system: deps.prisma, principal });
