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

/**
 * The one rule for reading a copilot session's content (transcript, tool steps and outputs, timeline, export, live
 * events): the viewer started it, or holds a role in its org (one of `roles`, any when omitted) whose binding covers
 * every site the session reached; a whole-org binding covers everything. The owner, too, must still hold a role in
 * the org. Whoever may not see a session must get the same answer as for an unknown id.
 */
export function maySeeSession(
  viewer: { userId: string; bindings: { orgId: string; role: string; siteIds: string[] }[] },
  session: { orgId: string; userId: string },
  reached: readonly string[],
  roles?: readonly string[],
): boolean {
  const held = viewer.bindings.filter((b) => b.orgId === session.orgId && (!roles || roles.includes(b.role)));
  if (held.length === 0) return false;
  if (session.userId === viewer.userId) return true;
  return held.some((b) => b.siteIds.length === 0 || reached.every((site) => b.siteIds.includes(site)));
}

/** The sites each session reached, as its tool calls recorded them (see ToolInvocation.siteIds); [] for none. */
export async function sitesReached(prisma: PrismaClient, sessionIds: readonly string[]): Promise<Map<string, string[]>> {
  const reached = new Map<string, Set<string>>(sessionIds.map((id) => [id, new Set()]));
  if (sessionIds.length === 0) return new Map();
  const rows = await prisma.toolInvocation.findMany({ where: { sessionId: { in: [...sessionIds] }, NOT: { siteIds: { isEmpty: true } } }, select: { sessionId: true, siteIds: true } });
  for (const row of rows) for (const site of row.siteIds) reached.get(row.sessionId)?.add(site);
  return new Map([...reached].map(([id, sites]) => [id, [...sites]]));
}
