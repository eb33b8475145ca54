/** Org admins mint site-scoped enrollment keys for new endpoints. The key is shown once; only its hash is kept. */
import { z } from 'zod';
import { createEnrollmentKey } from '../../prisma/seed-demo';
import { AppError } from '../../lib/app-error';
import { audit } from '../../lib/audit';
import { orgsWhere, Role } from '../http/auth';
import { defineRoute } from '../http/route';

export const createEnrollmentKeyRoute = defineRoute({
  method: 'post',
  path: '/v1/enrollment-keys',
  summary: 'Create an enrollment key for a site (org admins)',
  tag: 'agents',
  auth: 'apiKey',
  body: z
    .object({
      org: z.string().min(1).max(100).describe('Organization slug or id'),
      site: z.string().min(1).max(100).optional().describe('Site name or id (default: the organization\'s first site)'),
      maxUses: z.number().int().min(1).max(10_000).default(1),
      ttlMinutes: z.number().int().min(1).max(30 * 24 * 60).default(60),
    })
    .strict(),
  responses: { 201: 'The key, shown once', 400: 'Invalid body', 401: 'No valid API key', 404: 'Unknown organization or site' },
  async handler({ deps, principal, body }) {
    const org = await deps.prisma.organization.findFirst({
      where: { id: { in: orgsWhere(principal, [Role.Admin]) }, OR: [{ slug: body.org }, ...(z.uuid().safeParse(body.org).success ? [{ id: body.org }] : [])] },
    });
    if (!org) throw AppError.notFound('organization');
    const site = await deps.prisma.site.findFirst({
      where: { orgId: org.id, ...(body.site ? { OR: [{ name: body.site }, ...(z.uuid().safeParse(body.site).success ? [{ id: body.site }] : [])] } : {}) },
      orderBy: { createdAt: 'asc' },
    });
    if (!site) throw AppError.notFound('site');
    const key = await createEnrollmentKey(deps.prisma, { orgId: org.id, siteId: site.id, maxUses: body.maxUses, ttlMinutes: body.ttlMinutes });
    await audit(deps.prisma, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'enrollment_key.created', target: site.name, data: { maxUses: body.maxUses, ttlMinutes: body.ttlMinutes } });
    const expiresAt = new Date(Date.now() + body.ttlMinutes * 60_000).toISOString();
    return { status: 201, body: { key, org: org.slug, site: site.name, maxUses: body.maxUses, expiresAt } };
  },
});
