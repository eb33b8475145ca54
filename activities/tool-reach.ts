/**
 * The sites a tool call reaches: recorded on its invocation at authorization (ToolInvocation.siteIds), they decide
 * who may read the session it belongs to (lib/site-scope.ts maySeeSession). A call on devices reaches their sites;
 * a read of a stored command result, its device's site; any other call without targets (a list across the org)
 * every site the requester reaches, which for a whole-org role is every site of the org. A database tool later
 * runs within the sites recorded here, so its output never holds another site's data than the session shows.
 */
import { siteFilter } from '../lib/site-scope';
import type { ActivityDeps } from './deps';

export async function sitesReachedBy(
  fenced: ActivityDeps['prisma'],
  call: {
    orgId: string;
    targets: string[];
    userSites: string[] | null;
    /** The stored device command the call reads (its definition's readsCommand): that command's device's site is reached. */
    readsCommand: string | undefined;
  },
  /** The targets as the caller read them, fenced the same way, when it found every one of them. */
  targetDevices?: { siteId: string }[],
): Promise<string[]> {
  const { orgId, userSites } = call;
  if (call.targets.length > 0) {
    const devices = targetDevices ?? (await fenced.device.findMany({ where: { id: { in: call.targets }, orgId }, select: { siteId: true } }));
    return [...new Set(devices.map((d) => d.siteId))];
  }
  if (call.readsCommand !== undefined) {
    const command = await fenced.deviceCommand.findFirst({ where: { id: call.readsCommand, orgId, device: siteFilter(userSites) }, select: { device: { select: { siteId: true } } } });
    return command ? [command.device.siteId] : [];
  }
  if (userSites) return [...userSites];
  return (await fenced.site.findMany({ where: { orgId }, select: { id: true } })).map((s) => s.id);
}

/** The sites a database tool runs within: the requester's sites now, never beyond what authorization recorded. */
export function runWithin(userSites: string[] | null, recorded: string[]): string[] {
  return userSites ? userSites.filter((s) => recorded.includes(s)) : [...recorded];
}
