/**
 * Readiness: whether this api node can serve, i.e. whether Temporal, PostgreSQL and Redis answer. Each probe is
 * bounded, so a dependency that hangs (a cut network path) counts as down within PROBE_TIMEOUT_MS instead of
 * holding the load balancer's check open.
 */
import type { ApiDeps } from '../deps';

export const DEPENDENCIES = ['temporal', 'postgres', 'redis'] as const;
export type Dependency = (typeof DEPENDENCIES)[number];
export type Probe = 'up' | 'down';

const PROBE_TIMEOUT_MS = 2000;

async function probe(fn: (signal: AbortSignal) => Promise<unknown>, ms = PROBE_TIMEOUT_MS): Promise<Probe> {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('timeout')), ms);
  });
  try {
    await Promise.race([fn(abort.signal), timeout]);
    return 'up';
  } catch {
    return 'down';
  } finally {
    clearTimeout(timer);
    abort.abort(); // a probe that lost the race stops (and stops retrying) rather than linger
  }
}

export interface Readiness {
  ready: boolean;
  services: Record<Dependency, Probe>;
  /** The dependencies that did not answer, in DEPENDENCIES order. */
  down: Dependency[];
}

export async function checkReadiness(deps: Pick<ApiDeps, 'temporal' | 'prisma' | 'redis'>): Promise<Readiness> {
  const [temporal, postgres, redis] = await Promise.all([
    probe((signal) => deps.temporal.connection.withAbortSignal(signal, () => deps.temporal.workflowService.getSystemInfo({}))),
    probe(() => deps.prisma.$queryRaw`SELECT 1`),
    probe(() => deps.redis.ping()),
  ]);
  const services = { temporal, postgres, redis };
  const down = DEPENDENCIES.filter((d) => services[d] === 'down');
  return { ready: down.length === 0, services, down };
}
