/**
 * A tool call an MCP client made with an OAuth token is held to its grant where authorization decides (one cage path
 * for every call): only in the orgs granted, only up to the tier its scopes reach (`mcp:read`: T1), and not at all
 * once the user revoked it. The api wrote the grant's id on the call's request; the turn's request names it.
 */
import type { PrismaClient } from '../lib/prisma';
import { maxTierOf } from '../common/oauth-scopes';

export interface TurnGrant {
  id: string;
  clientId: string;
  clientName: string;
  orgIds: string[];
  scopes: string[];
  revoked: boolean;
}

/** The grant of the MCP call this turn runs, or null (a typed message, an API key's call). */
export async function grantOfTurn(prisma: PrismaClient, input: { sessionId: string; turnId: string }): Promise<TurnGrant | null> {
  const request = await prisma.workflowRequest.findFirst({ where: { sessionId: input.sessionId, usedFor: input.turnId, kind: 'tool_call' }, select: { oauthGrantId: true } });
  if (!request?.oauthGrantId) return null;
  const grant = await prisma.oAuthGrant.findUnique({ where: { id: request.oauthGrantId }, include: { client: true } });
  // A grant named but gone is treated as revoked: fail closed.
  if (!grant) return { id: request.oauthGrantId, clientId: '', clientName: 'unknown', orgIds: [], scopes: [], revoked: true };
  return { id: grant.id, clientId: grant.clientId, clientName: grant.client.name, orgIds: grant.orgIds, scopes: grant.scopes, revoked: grant.revokedAt !== null };
}

/** The grant of the MCP call a tool invocation is, or null. */
export async function grantOfInvocation(prisma: PrismaClient, invocationId: string): Promise<TurnGrant | null> {
  const inv = await prisma.toolInvocation.findUnique({ where: { id: invocationId }, select: { sessionId: true, turnId: true } });
  return inv ? grantOfTurn(prisma, inv) : null;
}

/** Why the grant does not cover a call of `tier` in `orgId`, or null when it does. */
export function grantRefusal(grant: TurnGrant, orgId: string, tier: number): string | null {
  if (grant.revoked) return `the OAuth grant of "${grant.clientName}" was revoked; nothing was run`;
  if (!grant.orgIds.includes(orgId)) return `the OAuth grant of "${grant.clientName}" does not cover this organization; nothing was run`;
  const max = maxTierOf(grant.scopes);
  if (tier > max) {
    return `this is a T${tier} call and the OAuth grant of "${grant.clientName}" allows ${max ? `T${max} calls only (scopes: ${grant.scopes.join(' ')})` : 'no calls'}; nothing was run. Authorize the client again with the mcp:act scope to make changes`;
  }
  return null;
}

/** What an audit event says of the client a call came through. */
export const grantAuditData = (grant: TurnGrant | null) => (grant ? { oauthClientId: grant.clientId, oauthClient: grant.clientName, oauthGrantId: grant.id } : {});
