/**
 * A user's OAuth grants (the MCP clients they let act as them): the list, and revoking one, which ends its tokens at
 * once (the next /mcp request with them is refused) and any call of it not yet authorized (activities/oauth-grant.ts).
 */
import { AppError } from '../../lib/app-error';
import { revokeGrant } from '../oauth/provider';
import type { Caller } from './caller';

/** The user's grants still in force, newest first, with the orgs each covers. */
export async function grantsOf({ system, principal }: Caller) {
  const grants = await system.oAuthGrant.findMany({ where: { userId: principal.userId, revokedAt: null }, include: { client: true }, orderBy: { createdAt: 'desc' } });
  const orgs = await system.organization.findMany({ where: { id: { in: [...new Set(grants.flatMap((g) => g.orgIds))] } }, select: { id: true, slug: true, name: true } });
  const byId = new Map(orgs.map((o) => [o.id, o]));
  return grants.map((g) => ({
    id: g.id,
    client: { id: g.clientId, name: g.client.name },
    orgs: g.orgIds.flatMap((id) => byId.get(id) ?? []),
    scopes: g.scopes,
    createdAt: g.createdAt.toISOString(),
    lastUsedAt: g.lastUsedAt?.toISOString() ?? null,
  }));
}

/** Revokes one of the user's own grants; another user's, or an unknown one, is the same 404. */
export async function revokeOwnGrant({ deps, system, principal }: Caller, grantId: string): Promise<void> {
  const grant = await system.oAuthGrant.findFirst({ where: { id: grantId, userId: principal.userId, revokedAt: null } });
  if (!grant) throw AppError.notFound('grant');
  await revokeGrant({ ...deps, prisma: system }, grant.id, 'user');
}
