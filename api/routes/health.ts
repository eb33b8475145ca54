/** `GET /healthz`: whether the api's dependencies answer (the probes are services/health.ts's). */
import { HealthAnswer } from '../../common/api-answers';
import { defineRoute, type AnyRoute } from '../http/route';
import { checkServices } from '../services/health';

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
