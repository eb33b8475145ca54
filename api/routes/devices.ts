/** The devices of the caller's organizations; the query is services/devices.ts's. */
import { DevicesAnswer } from '../../common/api-answers';
import { z } from 'zod';
import { deviceView } from '../../lib/device-view';
import { defineRoute, type AnyRoute } from '../http/route';
import { listDevices as devicesOf } from '../services/devices';

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
  async handler(ctx) {
    const devices = await devicesOf(ctx, { org: ctx.query.org, online: ctx.query.online === undefined ? undefined : ctx.query.online === 'true' });
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
