/** Org admins mint site-scoped enrollment keys for new endpoints. The key is shown once; only its hash is kept. */
import { EnrollmentKeyAnswer, EnrollmentKeyCreatedAnswer, EnrollmentKeysAnswer } from '../../common/api-answers';
import { z } from 'zod';
// eslint-disable-next-line import-x/no-restricted-paths -- one of the two breaks api/README.md names
import { createEnrollmentKey } from '../../prisma/seed-demo';
import { AppError } from '../../lib/app-error';
import { audit } from '../../audit/log';
import type { EnrollmentKey } from '@prisma/client';
import { findOrgFor, orgIdOrSlug, orgsWhere, Role, rowFor } from '../http/access';
import { IdParams, OrgParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';

export const createEnrollmentKeyRoute = defineRoute({
  method: 'post',
  path: '/v1/enrollment-keys',
  summary: 'Create an enrollment key for a site (org admins)',
  tag: 'agents',
  auth: 'user',
  body: z
    .object({
      org: z.string().min(1).max(100).describe('Organization slug or id'),
      site: z.string().min(1).max(100).optional().describe('Site name or id (default: the organization\'s first site)'),
      maxUses: z.number().int().min(1).max(10_000).default(1),
      ttlMinutes: z.number().int().min(1).max(30 * 24 * 60).default(60),
    })
    .strict(),
  responses: { 201: 'The key, shown once', 400: 'Invalid body', 401: 'No valid API key', 404: 'Unknown organization or site' },
  response: EnrollmentKeyCreatedAnswer,
  async handler({ deps, principal, body }) {
    const org = await deps.prisma.organization.findFirst({
      where: { id: { in: orgsWhere(principal, [Role.Admin]) }, ...orgIdOrSlug(body.org) },
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

const keyView = (k: EnrollmentKey & { site: { name: string } }) => ({
  id: k.id,
  prefix: k.prefix,
  site: k.site.name,
  siteId: k.siteId,
  maxUses: k.maxUses,
  useCount: k.useCount,
  expiresAt: k.expiresAt.toISOString(),
  revokedAt: k.revokedAt?.toISOString() ?? null,
  createdAt: k.createdAt.toISOString(),
});

export const listEnrollmentKeys = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/enrollment-keys',
  summary: "The organization's enrollment keys: prefix, site, uses, expiry, revocation (its admins; never the key)",
  tag: 'agents',
  auth: 'user',
  params: OrgParams,
  responses: { 200: 'The keys', 401: 'Not authenticated', 404: 'Unknown organization' },
  response: EnrollmentKeysAnswer,
  async handler({ deps, principal, params }) {
    const org = await findOrgFor(deps, principal, params.id, [Role.Admin]);
    const keys = await deps.prisma.enrollmentKey.findMany({ where: { orgId: org.id }, include: { site: true }, orderBy: { createdAt: 'asc' } });
    return { status: 200, body: { org: org.slug, keys: keys.map(keyView) } };
  },
});

export const revokeEnrollmentKey = defineRoute({
  method: 'delete',
  path: '/v1/enrollment-keys/:id',
  summary: 'Revoke an enrollment key: no more devices enroll with it (its org\'s admins)',
  tag: 'agents',
  auth: 'user',
  params: IdParams,
  responses: { 200: 'Revoked', 401: 'Not authenticated', 404: 'Unknown key' },
  response: EnrollmentKeyAnswer,
  async handler({ deps, system, principal, params }) {
    const key = rowFor(principal, await deps.prisma.enrollmentKey.findUnique({ where: { id: params.id }, include: { site: true } }), [Role.Admin], 'enrollment key');
    const revoked = key.revokedAt ? key : await deps.prisma.enrollmentKey.update({ where: { id: key.id }, data: { revokedAt: new Date() }, include: { site: true } });
    if (!key.revokedAt) await audit(system, { orgId: key.orgId, actorType: 'user', actorId: principal.userId, action: 'enrollment_key.revoked', target: key.prefix, data: { keyId: key.id, site: key.site.name } });
    return { status: 200, body: keyView(revoked) };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const enrollmentKeyRoutes: AnyRoute[] = [createEnrollmentKeyRoute, listEnrollmentKeys, revokeEnrollmentKey];
