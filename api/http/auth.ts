/** Who is calling: a bearer API key or the signed-in web session's user, as a Principal (see access.ts for what it may reach). */
import type { Request } from 'express';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { hashesEqual, secretPrefix, sha256 } from '../../lib/secrets';
import type { ApiDeps } from '../deps';
import type { Binding, Principal } from './access';
import type { Pool } from '../../lib/prisma';
import { z } from 'zod';
import { fromPool } from './errors';

const unauthorized = () => new AppError(AppErrorCode.Unauthorized, 'a valid API key (Authorization: Bearer <key>) or a signed-in session is required');

type UserWithBindings = { id: string; partnerId: string; email: string; partnerAdmin: boolean; roleBindings: Binding[] };

/** An API key in the Authorization header, or else the signed-in web session's user. */
export async function authenticate(deps: ApiDeps, req: Request): Promise<Principal> {
  if (req.headers.authorization !== undefined) return authenticateKey(deps, req.headers.authorization);
  const userId = (req.session as { userId?: string } | undefined)?.userId;
  if (userId) {
    const principal = await principalOfUser(deps, userId, 'session');
    if (principal) return principal;
  }
  throw unauthorized();
}

async function authenticateKey({ prisma, pool }: ApiDeps, header: string): Promise<Principal> {
  const match = /^Bearer (\S+)$/.exec(header);
  if (!match) throw unauthorized();
  const prefix = secretPrefix(match[1]!);
  if (!prefix) throw unauthorized();
  const key = await keyByPrefix(pool, prefix);
  if (!key || key.revokedAt || key.user.disabledAt || !hashesEqual(key.hash, sha256(match[1]!))) throw unauthorized();
  if (key.expiresAt && key.expiresAt.getTime() <= Date.now()) {
    throw new AppError(AppErrorCode.Unauthorized, `this API key expired at ${key.expiresAt.toISOString()}; make a new one (POST /v1/api-keys)`);
  }
  // Last-used time is informative (to the minute): written at most once a minute per key, not on every request,
  // and a failed write must not fail the request.
  if (!key.lastUsedAt || Date.now() - key.lastUsedAt.getTime() > 60_000) {
    void prisma.apiKey.update({ where: { id: key.id }, data: { lastUsedAt: new Date() } }).catch(() => undefined);
  }
  return { ...toPrincipal(key.user, 'apiKey'), apiKeyId: key.id };
}

/**
 * The key with its user and the user's role bindings, in one statement (every request with an API key asks this
 * first; it was Prisma's nested include). A database that cannot be reached answers 503, as through Prisma.
 */
async function keyByPrefix(pool: Pool, prefix: string): Promise<KeyRow | null> {
  const read = pool.query({
    name: 'auth.key-by-prefix',
    text: `SELECT k."id"::text AS "id", k."hash", k."revokedAt" AT TIME ZONE 'UTC' AS "revokedAt", k."expiresAt" AT TIME ZONE 'UTC' AS "expiresAt",
                  k."lastUsedAt" AT TIME ZONE 'UTC' AS "lastUsedAt",
                  json_build_object('id', u."id", 'partnerId', u."partnerId", 'email', u."email", 'partnerAdmin', u."partnerAdmin", 'disabledAt', u."disabledAt",
                                    'roleBindings', (SELECT coalesce(json_agg(json_build_object('orgId', b."orgId", 'role', b."role", 'siteIds', b."siteIds")), '[]'::json)
                                                     FROM "RoleBinding" b WHERE b."userId" = u."id")) AS "user"
           FROM "ApiKey" k JOIN "User" u ON u."id" = k."userId" WHERE k."prefix" = $1`,
    values: [prefix],
  });
  const { rows } = await read.catch((err: unknown) => {
    throw fromPool(err);
  });
  return rows[0] ? KeyRow.parse(rows[0]) : null;
}

const KeyRow = z.object({
  id: z.string(),
  hash: z.string(),
  revokedAt: z.date().nullable(),
  expiresAt: z.date().nullable(),
  lastUsedAt: z.date().nullable(),
  user: z.object({
    id: z.string(),
    partnerId: z.string(),
    email: z.string(),
    partnerAdmin: z.boolean(),
    disabledAt: z.string().nullable(),
    roleBindings: z.array(z.object({ orgId: z.string(), role: z.string(), siteIds: z.array(z.string()) })),
  }),
});
type KeyRow = z.infer<typeof KeyRow>;

function toPrincipal(user: UserWithBindings, via: Principal['via']): Principal {
  return {
    userId: user.id,
    partnerId: user.partnerId,
    email: user.email,
    partnerAdmin: user.partnerAdmin,
    bindings: user.roleBindings.map((b) => ({ orgId: b.orgId, role: b.role, siteIds: b.siteIds })),
    via,
  };
}

/** The principal of a user found another way than by API key (a web session, an email link, a linked Slack user). */
export async function principalOfUser({ prisma }: ApiDeps, userId: string, via: Principal['via'] = 'link'): Promise<Principal | null> {
  const user = await prisma.user.findUnique({ where: { id: userId }, include: { roleBindings: true } });
  return user && !user.disabledAt ? toPrincipal(user, via) : null;
}

/**
 * The principal of an MCP client's OAuth token: its user, with only the bindings of the orgs the grant covers (never
 * more than the user holds today), and the grant. Null when the user is gone or disabled.
 */
export async function principalOfGrant(deps: ApiDeps, grant: { grantId: string; userId: string; orgIds: string[]; clientId: string; clientName: string; scopes: string[] }): Promise<Principal | null> {
  const user = await principalOfUser(deps, grant.userId, 'oauth');
  if (!user) return null;
  const granted = new Set(grant.orgIds);
  return { ...user, bindings: user.bindings.filter((b) => granted.has(b.orgId)), oauth: { grantId: grant.grantId, clientId: grant.clientId, clientName: grant.clientName, scopes: grant.scopes } };
}
