import { HealthAnswer } from '../../common/api-answers';
import { defineRoute, type AnyRoute } from '../http/route';
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

export const health = defineRoute({
  method: 'get',
  path: '/healthz',
  summary: 'Whether Temporal, PostgreSQL and Redis are reachable',
  tag: 'system',
  auth: 'none',
  responses: { 200: 'All services up', 503: 'At least one service down' },
  response: HealthAnswer,
  async handler({ deps }) {
    const services = await checkServices(deps);
    const ok = Object.values(services).every((s) => s === 'up');
    return { status: ok ? 200 : 503, body: { status: ok ? 'ok' : 'degraded', services } };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const healthRoutes: AnyRoute[] = [health];
