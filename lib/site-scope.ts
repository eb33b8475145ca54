/**
 * Role bindings can be narrowed to sites. The sites a set of bindings reaches in one organization: null when one
 * of them covers the whole organization, otherwise the union of their sites (empty: none at all).
 */
import type { PrismaClient } from '@prisma/client';

export function narrowedSites(bindings: { siteIds: string[] }[]): string[] | null {
  if (bindings.some((b) => b.siteIds.length === 0)) return null;
  return [...new Set(bindings.flatMap((b) => b.siteIds))];
}

/** The `where` fragment for devices (or anything with a siteId) limited to those sites; {} for the whole org. */
export function siteFilter(sites: string[] | null): { siteId?: { in: string[] } } {
  return sites ? { siteId: { in: sites } } : {};
}

/** The sites a user reaches in an org through bindings with one of `roles`, read from the database. */
export async function userSites(prisma: PrismaClient, userId: string, orgId: string, roles: readonly string[]): Promise<string[] | null> {
  const bindings = await prisma.roleBinding.findMany({ where: { userId, orgId, role: { in: [...roles] } }, select: { siteIds: true } });
  return narrowedSites(bindings);
}
