/**
 * Whether the api's dependencies answer: Temporal, PostgreSQL and Redis, each probed with a bound on how long it
 * may take, so a dependency that hangs reads as down instead of holding the health check.
 */
import type { ApiDeps } from '../deps';

type Probe = 'up' | 'down';

async function probe(fn: () => Promise<unknown>, ms = 2000): Promise<Probe> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  try {
    await Promise.race([fn(), timeout]);
    return 'up';
  } catch {
    return 'down';
  } finally {
    clearTimeout(timer);
  }
}

export async function checkServices(deps: ApiDeps): Promise<Record<'temporal' | 'postgres' | 'redis', Probe>> {
  const [temporal, postgres, redis] = await Promise.all([
    probe(() => deps.temporal.workflowService.getSystemInfo({})),
    probe(() => deps.prisma.$queryRaw`SELECT 1`),
    probe(() => deps.redis.ping()),
  ]);
  return { temporal, postgres, redis };
}
