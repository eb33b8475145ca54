import { DevicesAnswer } from '../../common/api-answers';
import { z } from 'zod';
import { AppError } from '../../lib/app-error';
import { deviceView } from '../../lib/device-view';
import { orgIdOrSlug, siteReach, tenantScope } from '../http/access';
import { defineRoute, type AnyRoute } from '../http/route';

export const listDevices = defineRoute({
  method: 'get',
  path: '/v1/devices',
  summary: "Devices of the caller's organizations",
  tag: 'devices',
  auth: 'user',
  query: z
    .object({
      org: z.string().min(1).max(100).optional().describe('Organization slug or id'),
      online: z.enum(['true', 'false']).optional(),
    })
    .strict(),
  responses: { 200: 'The devices', 400: 'Invalid query', 401: 'No valid API key', 404: 'Unknown organization' },
  response: DevicesAnswer,
  async handler({ deps, principal, query }) {
    const scope = tenantScope(principal);
    let orgFilter = scope.orgId.in;
    if (query.org) {
      const org = await deps.prisma.organization.findFirst({ where: { ...orgIdOrSlug(query.org), id: { in: scope.orgId.in } } });
      if (!org) throw AppError.notFound('organization');
      orgFilter = [org.id];
    }
    // A role narrowed to sites shows those sites' devices only.
    const reach = orgFilter.map((orgId) => siteReach(principal, orgId));
    const devices = await deps.prisma.device.findMany({
      where: { OR: reach, ...(query.online ? { online: query.online === 'true' } : {}) },
      include: { org: true, site: true, group: true },
      orderBy: [{ org: { slug: 'asc' } }, { name: 'asc' }],
    });
    return {
      status: 200,
      body: {
        devices: devices.map((d) => ({ org: d.org.slug, ...deviceView(d) })),
      },
    };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const deviceRoutes: AnyRoute[] = [listDevices];
