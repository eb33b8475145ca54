/**
 * Agent enrollment: an enrollment key (site-scoped, expiring, usage-capped) is exchanged for a device credential.
 * The operation is services/agents.ts's.
 */
import { EnrolledAnswer } from '../../common/api-answers';
import { z } from 'zod';
import { defineRoute, type AnyRoute } from '../http/route';
import { enrollAgent as enroll } from '../services/agents';

export const enrollAgent = defineRoute({
  method: 'post',
  path: '/v1/agents/enroll',
  summary: 'Exchange an enrollment key for a device id and secret',
  tag: 'agents',
  auth: 'none',
  body: z
    .object({
      key: z.string().min(1).max(200),
      hostname: z.string().min(1).max(255),
      name: z.string().min(1).max(100).optional(),
      os: z.string().min(1).max(200),
      executor: z.enum(['linux', 'simulated']),
      agentVersion: z.string().max(40).optional(),
    })
    .strict(),
  responses: { 201: 'Enrolled', 400: 'Invalid body', 401: 'Invalid, expired or used-up key' },
  response: EnrolledAnswer,
  async handler({ deps, system, body }) {
    const { device, secret } = await enroll(system, body);
    return { status: 201, body: { deviceId: device.id, secret, orgId: device.orgId, siteId: device.siteId, name: device.name, commandKey: deps.config.commandSigningKey.publicKeyPem } };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const agentRoutes: AnyRoute[] = [enrollAgent];
