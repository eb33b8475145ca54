/**
 * The tenant tree below the partner: organizations (partner admins create them), their sites and device groups
 * (the org's admins), and where a device sits. Every change is audited; another org's id answers like an
 * unknown one.
 */
import { DeviceUpdatedAnswer, GroupCreatedAnswer, OrgCreatedAnswer, OrgsAnswer, RemovedAnswer, SiteCreatedAnswer, SitesAnswer } from '../../common/api-answers';
import { z } from 'zod';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { audit } from '../../audit/log';
import { tenantTransaction } from '../../lib/tenant-db';
import { findOrgFor, orgsOf, Role, rowFor } from '../http/access';
import { IdParams, OrgParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';

const Name = z.string().trim().min(1).max(100);
const Slug = z
  .string()
  .min(2)
  .max(60)
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and hyphens, starting with a letter or digit');

export const listOrgs = defineRoute({
  method: 'get',
  path: '/v1/orgs',
  summary: 'The organizations you hold a role in, with your roles',
  tag: 'orgs',
  auth: 'user',
  responses: { 200: 'The organizations', 401: 'Not authenticated' },
  response: OrgsAnswer,
  async handler({ deps, principal }) {
    return { status: 200, body: { orgs: await orgsOf(deps, principal) } };
  },
});

export const createOrg = defineRoute({
  method: 'post',
  path: '/v1/orgs',
  summary: 'Create an organization of your partner with a first site; you become its admin (partner admins)',
  tag: 'orgs',
  auth: 'user',
  body: z.object({ slug: Slug, name: Name, site: Name.default('Main') }).strict(),
  responses: { 201: 'Created', 400: 'Invalid body', 401: 'Not authenticated', 403: 'Not a partner admin', 409: 'Slug taken' },
  response: OrgCreatedAnswer,
  async handler({ system, principal, body }) {
    if (!principal.partnerAdmin) throw new AppError(AppErrorCode.Forbidden, 'only a partner admin can create organizations');
    // Slugs are unique across partners; the check says only "taken".
    if (await system.organization.findUnique({ where: { slug: body.slug }, select: { id: true } })) {
      throw new AppError(AppErrorCode.Conflict, `body.slug: "${body.slug}" is taken`);
    }
    // The new org does not exist yet, so it cannot be in the request's scope: created unfenced, then fenced to it.
    const org = await system.organization.create({ data: { partnerId: principal.partnerId, slug: body.slug, name: body.name } });
    const site = await tenantTransaction(system, { orgIds: [org.id] }, async (tx) => {
      const created = await tx.site.create({ data: { orgId: org.id, name: body.site } });
      await tx.roleBinding.create({ data: { userId: principal.userId, orgId: org.id, role: Role.Admin } });
      await audit(tx, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'org.created', target: org.slug, data: { name: org.name, site: created.name } });
      return created;
    });
    return { status: 201, body: { id: org.id, slug: org.slug, name: org.name, sites: [{ id: site.id, name: site.name }] } };
  },
});

export const listSites = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/sites',
  summary: 'Sites of the organization with their device groups and device counts',
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  responses: { 200: 'The sites', 401: 'Not authenticated', 404: 'Unknown organization' },
  response: SitesAnswer,
  async handler({ deps, principal, params }) {
    const org = await findOrgFor(deps, principal, params.id);
    const sites = await deps.prisma.site.findMany({
      where: { orgId: org.id },
      include: { groups: { include: { _count: { select: { devices: true } } }, orderBy: { name: 'asc' } }, _count: { select: { devices: true } } },
      orderBy: { name: 'asc' },
    });
    return {
      status: 200,
      body: {
        org: org.slug,
        sites: sites.map((s) => ({
          id: s.id,
          name: s.name,
          devices: s._count.devices,
          groups: s.groups.map((g) => ({ id: g.id, name: g.name, devices: g._count.devices })),
        })),
      },
    };
  },
});

export const createSite = defineRoute({
  method: 'post',
  path: '/v1/orgs/:id/sites',
  summary: 'Add a site to the organization (its admins)',
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  body: z.object({ name: Name }).strict(),
  responses: { 201: 'Created', 400: 'Invalid body', 401: 'Not authenticated', 404: 'Unknown organization', 409: 'Name taken' },
  response: SiteCreatedAnswer,
  async handler({ deps, system, principal, params, body }) {
    const org = await findOrgFor(deps, principal, params.id, [Role.Admin]);
    if (await deps.prisma.site.findFirst({ where: { orgId: org.id, name: body.name } })) throw new AppError(AppErrorCode.Conflict, `body.name: ${org.slug} already has a site "${body.name}"`);
    const site = await deps.prisma.site.create({ data: { orgId: org.id, name: body.name } });
    await audit(system, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'site.created', target: site.name, data: { siteId: site.id } });
    return { status: 201, body: { id: site.id, name: site.name, org: org.slug } };
  },
});

export const deleteSite = defineRoute({
  method: 'delete',
  path: '/v1/sites/:id',
  summary: 'Remove an empty site: no devices, groups or enrollment keys left (its org\'s admins)',
  tag: 'orgs',
  auth: 'user',
  params: IdParams,
  responses: { 200: 'Removed', 401: 'Not authenticated', 404: 'Unknown site', 409: 'Not empty' },
  response: RemovedAnswer,
  async handler({ deps, system, principal, params }) {
    const site = rowFor(principal, await deps.prisma.site.findUnique({ where: { id: params.id }, include: { _count: { select: { devices: true, groups: true, enrollmentKeys: true } } } }), [Role.Admin], 'site');
    const { devices, groups, enrollmentKeys } = site._count;
    if (devices || groups || enrollmentKeys) {
      throw new AppError(AppErrorCode.Conflict, `site "${site.name}" still has ${devices} devices, ${groups} groups and ${enrollmentKeys} enrollment keys`);
    }
    await deps.prisma.site.delete({ where: { id: site.id } });
    await audit(system, { orgId: site.orgId, actorType: 'user', actorId: principal.userId, action: 'site.removed', target: site.name, data: { siteId: site.id } });
    return { status: 200, body: { removed: true } };
  },
});

export const createGroup = defineRoute({
  method: 'post',
  path: '/v1/sites/:id/groups',
  summary: 'Add a device group to a site (its org\'s admins)',
  tag: 'orgs',
  auth: 'user',
  params: IdParams,
  body: z.object({ name: Name }).strict(),
  responses: { 201: 'Created', 400: 'Invalid body', 401: 'Not authenticated', 404: 'Unknown site', 409: 'Name taken' },
  response: GroupCreatedAnswer,
  async handler({ deps, system, principal, params, body }) {
    const site = rowFor(principal, await deps.prisma.site.findUnique({ where: { id: params.id } }), [Role.Admin], 'site');
    if (await deps.prisma.deviceGroup.findFirst({ where: { siteId: site.id, name: body.name } })) {
      throw new AppError(AppErrorCode.Conflict, `body.name: site "${site.name}" already has a group "${body.name}"`);
    }
    const group = await deps.prisma.deviceGroup.create({ data: { orgId: site.orgId, siteId: site.id, name: body.name } });
    await audit(system, { orgId: site.orgId, actorType: 'user', actorId: principal.userId, action: 'group.created', target: group.name, data: { groupId: group.id, siteId: site.id } });
    return { status: 201, body: { id: group.id, name: group.name, siteId: site.id } };
  },
});

export const deleteGroup = defineRoute({
  method: 'delete',
  path: '/v1/groups/:id',
  summary: 'Remove a device group; its devices stay in the site without a group (its org\'s admins)',
  tag: 'orgs',
  auth: 'user',
  params: IdParams,
  responses: { 200: 'Removed', 401: 'Not authenticated', 404: 'Unknown group' },
  response: RemovedAnswer,
  async handler({ deps, system, principal, params }) {
    const group = rowFor(principal, await deps.prisma.deviceGroup.findUnique({ where: { id: params.id } }), [Role.Admin], 'group');
    await deps.prisma.$transaction(async (tx) => {
      await tx.device.updateMany({ where: { groupId: group.id }, data: { groupId: null } });
      await tx.deviceGroup.delete({ where: { id: group.id } });
    });
    await audit(system, { orgId: group.orgId, actorType: 'user', actorId: principal.userId, action: 'group.removed', target: group.name, data: { groupId: group.id } });
    return { status: 200, body: { removed: true } };
  },
});

export const moveDevice = defineRoute({
  method: 'patch',
  path: '/v1/devices/:id',
  summary: 'Rename a device or move it to another site or group of its organization (its org\'s admins)',
  tag: 'devices',
  auth: 'user',
  params: IdParams,
  body: z
    .object({ name: Name.optional(), siteId: z.uuid().optional(), groupId: z.uuid().nullable().optional() })
    .strict()
    .refine((b) => Object.keys(b).length > 0, 'nothing to change'),
  responses: { 200: 'Updated', 400: 'Invalid body', 401: 'Not authenticated', 404: 'Unknown device, site or group' },
  response: DeviceUpdatedAnswer,
  async handler({ deps, system, principal, params, body }) {
    const device = rowFor(principal, await deps.prisma.device.findUnique({ where: { id: params.id } }), [Role.Admin], 'device');
    const siteId = body.siteId ?? device.siteId;
    if (body.siteId && !(await deps.prisma.site.findFirst({ where: { id: body.siteId, orgId: device.orgId } }))) throw AppError.notFound('site');
    // A device moved to another site leaves its group unless a group of the new site is named.
    const groupId = body.groupId !== undefined ? body.groupId : siteId === device.siteId ? device.groupId : null;
    if (groupId && !(await deps.prisma.deviceGroup.findFirst({ where: { id: groupId, siteId } }))) throw AppError.notFound('group');
    const updated = await deps.prisma.device.update({ where: { id: device.id }, data: { name: body.name ?? device.name, siteId, groupId } });
    await audit(system, {
      orgId: device.orgId,
      actorType: 'user',
      actorId: principal.userId,
      action: 'device.updated',
      target: updated.name,
      data: { deviceId: device.id, from: { name: device.name, siteId: device.siteId, groupId: device.groupId }, to: { name: updated.name, siteId, groupId } },
    });
    return { status: 200, body: { id: updated.id, name: updated.name, siteId: updated.siteId, groupId: updated.groupId } };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const tenancyRoutes: AnyRoute[] = [listOrgs, createOrg, listSites, createSite, deleteSite, createGroup, deleteGroup, moveDevice];
