/** The devices the caller may see: of their organizations (or the one named), of their sites where a role is narrowed. */
import { AppError } from '../../lib/app-error';
import { orgIdOrSlug, siteReach, tenantScope } from '../http/access';
import type { Caller } from './caller';

export async function listDevices({ deps, principal }: Caller, filter: { org?: string; online?: boolean }) {
  const scope = tenantScope(principal);
  let orgFilter = scope.orgId.in;
  if (filter.org) {
    const org = await deps.prisma.organization.findFirst({ where: { ...orgIdOrSlug(filter.org), id: { in: scope.orgId.in } } });
    if (!org) throw AppError.notFound('organization');
    orgFilter = [org.id];
  }
  // A role narrowed to sites shows those sites' devices only.
  const reach = orgFilter.map((orgId) => siteReach(principal, orgId));
  return deps.prisma.device.findMany({
    where: { OR: reach, ...(filter.online === undefined ? {} : { online: filter.online }) },
    include: { org: true, site: true, group: true },
    orderBy: [{ org: { slug: 'asc' } }, { name: 'asc' }],
  });
}
