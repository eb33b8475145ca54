/**
 * The operations of the tenant tree, one each: create an organization (partner admins), add and remove its sites
 * and device groups (the org's admins), and rename or move a device. Each holds its queries and its audit event;
 * the routes in routes/tenancy.ts parse, call and shape the answer. Another org's id answers like an unknown one.
 */
import { Prisma } from '@prisma/client';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { audit } from '../../audit/log';
import { tenantTransaction } from '../../lib/tenant-db';
import { findOrgFor, orgsOf, Role, rowFor } from '../http/access';
import type { Caller } from './caller';

export async function listOrgs({ deps, principal }: Caller) {
  return orgsOf(deps, principal);
}

/** Creates an organization of the caller's partner with a first site, the caller its admin (partner admins). */
export async function createOrg({ system, principal }: Caller, input: { slug: string; name: string; site: string }) {
  if (!principal.partnerAdmin) throw new AppError(AppErrorCode.Forbidden, 'only a partner admin can create organizations');
  // Slugs are unique across partners; the check says only "taken".
  if (await system.organization.findUnique({ where: { slug: input.slug }, select: { id: true } })) {
    throw new AppError(AppErrorCode.Conflict, `body.slug: "${input.slug}" is taken`);
  }
  // The new org does not exist yet, so it cannot be in the request's scope: created unfenced, then fenced to it.
  const org = await system.organization.create({ data: { partnerId: principal.partnerId, slug: input.slug, name: input.name } });
  const site = await tenantTransaction(system, { orgIds: [org.id] }, async (tx) => {
    const created = await tx.site.create({ data: { orgId: org.id, name: input.site } });
    await tx.roleBinding.create({ data: { userId: principal.userId, orgId: org.id, role: Role.Admin } });
    await audit(tx, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'org.created', target: org.slug, data: { name: org.name, site: created.name } });
    return created;
  });
  return { org, site };
}

/** The org's sites with their device groups and device counts. */
export async function listSites({ deps, principal }: Caller, orgRef: string) {
  const org = await findOrgFor(deps, principal, orgRef);
  const sites = await deps.prisma.site.findMany({
    where: { orgId: org.id },
    include: { groups: { include: { _count: { select: { devices: true } } }, orderBy: { name: 'asc' } }, _count: { select: { devices: true } } },
    orderBy: { name: 'asc' },
  });
  return { org, sites };
}

export async function createSite({ deps, system, principal }: Caller, orgRef: string, name: string) {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin]);
  if (await deps.prisma.site.findFirst({ where: { orgId: org.id, name } })) throw new AppError(AppErrorCode.Conflict, `body.name: ${org.slug} already has a site "${name}"`);
  const site = await deps.prisma.site.create({ data: { orgId: org.id, name } });
  await audit(system, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'site.created', target: site.name, data: { siteId: site.id } });
  return { org, site };
}

/** Removes a site that has no devices, groups or enrollment keys left. */
export async function removeSite({ deps, system, principal }: Caller, siteId: string): Promise<void> {
  const site = rowFor(principal, await deps.prisma.site.findUnique({ where: { id: siteId }, include: { _count: { select: { devices: true, groups: true, enrollmentKeys: true } } } }), [Role.Admin], 'site');
  const { devices, groups, enrollmentKeys } = site._count;
  if (devices || groups || enrollmentKeys) {
    throw new AppError(AppErrorCode.Conflict, `site "${site.name}" still has ${devices} devices, ${groups} groups and ${enrollmentKeys} enrollment keys`);
  }
  await deps.prisma.site.delete({ where: { id: site.id } });
  await audit(system, { orgId: site.orgId, actorType: 'user', actorId: principal.userId, action: 'site.removed', target: site.name, data: { siteId: site.id } });
}

export async function createGroup({ deps, system, principal }: Caller, siteId: string, name: string) {
  const site = rowFor(principal, await deps.prisma.site.findUnique({ where: { id: siteId } }), [Role.Admin], 'site');
  if (await deps.prisma.deviceGroup.findFirst({ where: { siteId: site.id, name } })) {
    throw new AppError(AppErrorCode.Conflict, `body.name: site "${site.name}" already has a group "${name}"`);
  }
  const group = await deps.prisma.deviceGroup.create({ data: { orgId: site.orgId, siteId: site.id, name } });
  await audit(system, { orgId: site.orgId, actorType: 'user', actorId: principal.userId, action: 'group.created', target: group.name, data: { groupId: group.id, siteId: site.id } });
  return group;
}

/** Removes a device group; its devices stay in the site without a group. */
export async function removeGroup({ deps, system, principal }: Caller, groupId: string): Promise<void> {
  const group = rowFor(principal, await deps.prisma.deviceGroup.findUnique({ where: { id: groupId } }), [Role.Admin], 'group');
  await deps.prisma.$transaction(async (tx) => {
    await tx.device.updateMany({ where: { groupId: group.id }, data: { groupId: null } });
    await tx.deviceGroup.delete({ where: { id: group.id } });
  });
  await audit(system, { orgId: group.orgId, actorType: 'user', actorId: principal.userId, action: 'group.removed', target: group.name, data: { groupId: group.id } });
}

/** Renames a device or moves it to another site or group of its organization. */
export async function moveDevice({ deps, system, principal }: Caller, deviceId: string, input: { name?: string; siteId?: string; groupId?: string | null }) {
  const device = rowFor(principal, await deps.prisma.device.findUnique({ where: { id: deviceId } }), [Role.Admin], 'device');
  const siteId = input.siteId ?? device.siteId;
  if (input.siteId && !(await deps.prisma.site.findFirst({ where: { id: input.siteId, orgId: device.orgId } }))) throw AppError.notFound('site');
  // A device moved to another site leaves its group unless a group of the new site is named.
  const groupId = input.groupId !== undefined ? input.groupId : siteId === device.siteId ? device.groupId : null;
  if (groupId && !(await deps.prisma.deviceGroup.findFirst({ where: { id: groupId, siteId } }))) throw AppError.notFound('group');
  if (input.name && input.name !== device.name && (await deps.prisma.device.findUnique({ where: { orgId_name: { orgId: device.orgId, name: input.name } } }))) {
    throw new AppError(AppErrorCode.Conflict, `body.name: another device of this organization is named "${input.name}"`);
  }
  const updated = await deps.prisma.device
    .update({ where: { id: device.id }, data: { name: input.name ?? device.name, siteId, groupId } })
    .catch((err: unknown) => {
      // Names are unique per org: one taken between the check above and this write is refused the same way.
      if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') throw new AppError(AppErrorCode.Conflict, `body.name: another device of this organization is named "${input.name}"`);
      throw err;
    });
  await audit(system, {
    orgId: device.orgId,
    actorType: 'user',
    actorId: principal.userId,
    action: 'device.updated',
    target: updated.name,
    data: { deviceId: device.id, from: { name: device.name, siteId: device.siteId, groupId: device.groupId }, to: { name: updated.name, siteId, groupId } },
  });
  return updated;
}
