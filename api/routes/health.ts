/** `GET /healthz` (liveness) and `GET /readyz` (readiness; the probes are services/health.ts's). */
import { LiveAnswer, ReadyAnswer } from '../../common/api-answers';
import { defineRoute, type AnyRoute } from '../http/route';
import { checkReadiness } from '../services/health';

/** Liveness: the process answers HTTP. It checks no dependency, so an outage of one never restarts the api. */
export const live = defineRoute({
  method: 'get',
  path: '/healthz',
  summary: 'Liveness: the api process is running (checks no dependency)',
  tag: 'system',
  auth: 'none',
  responses: { 200: 'The process answers' },
  response: LiveAnswer,
  async handler() {
    return { status: 200, body: { status: 'ok' as const } };
  },
});

/** Readiness: 503 naming what is down while Temporal, PostgreSQL or Redis is, so a load balancer takes the node out. */
export const ready = defineRoute({
  method: 'get',
  path: '/readyz',
  summary: 'Readiness: whether Temporal, PostgreSQL and Redis are reachable (503 naming those that are not)',
  tag: 'system',
  auth: 'none',
  responses: { 200: 'Every dependency is up', 503: 'At least one dependency is down; `down` names them' },
  response: ReadyAnswer,
  async handler({ deps }) {
    const { ready: ok, services, down } = await checkReadiness(deps);
    return { status: ok ? 200 : 503, body: { status: ok ? ('ready' as const) : ('not ready' as const), services, down } };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const healthRoutes: AnyRoute[] = [live, ready];
