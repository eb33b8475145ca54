/** Bearer API-key authentication, and the tenant scoping helper every query on tenant data goes through. */
import type { Request } from 'express';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { hashesEqual, secretPrefix, sha256 } from '../../lib/secrets';
import type { ApiDeps } from '../deps';

export const Role = { Technician: 'technician', Approver: 'approver', Admin: 'admin', Auditor: 'auditor' } as const;
export type Role = (typeof Role)[keyof typeof Role];

export interface Principal {
  userId: string;
  partnerId: string;
  email: string;
  bindings: { orgId: string; role: string }[];
}

const unauthorized = () => new AppError(AppErrorCode.Unauthorized, 'a valid API key is required (Authorization: Bearer <key>)');

export async function authenticate({ prisma }: ApiDeps, req: Request): Promise<Principal> {
  const header = req.headers.authorization ?? '';
  const match = /^Bearer (\S+)$/.exec(header);
  if (!match) throw unauthorized();
  const prefix = secretPrefix(match[1]!);
  if (!prefix) throw unauthorized();
  const key = await prisma.apiKey.findUnique({ where: { prefix }, include: { user: { include: { roleBindings: true } } } });
  if (!key || key.revokedAt || !hashesEqual(key.hash, sha256(match[1]!))) throw unauthorized();
  // Last-used time is informative (to the minute): written at most once a minute per key, not on every request,
  // and a failed write must not fail the request.
  if (!key.lastUsedAt || Date.now() - key.lastUsedAt.getTime() > 60_000) {
    void prisma.apiKey.update({ where: { id: key.id }, data: { lastUsedAt: new Date() } }).catch(() => undefined);
  }
  return toPrincipal(key.user);
}

function toPrincipal(user: { id: string; partnerId: string; email: string; roleBindings: { orgId: string; role: string }[] }): Principal {
  return { userId: user.id, partnerId: user.partnerId, email: user.email, bindings: user.roleBindings.map((b) => ({ orgId: b.orgId, role: b.role })) };
}

/** The principal of a user found another way than by API key (an email link, a linked Slack user). */
export async function principalOfUser({ prisma }: ApiDeps, userId: string): Promise<Principal | null> {
  const user = await prisma.user.findUnique({ where: { id: userId }, include: { roleBindings: true } });
  return user ? toPrincipal(user) : null;
}

/** Org ids where the principal holds any of `roles` (any role when omitted). */
export function orgsWhere(principal: Principal, roles?: Role[]): string[] {
  return [...new Set(principal.bindings.filter((b) => !roles || roles.includes(b.role as Role)).map((b) => b.orgId))];
}

/** The `where` fragment that fences a query to the principal's orgs. */
export function tenantScope(principal: Principal, roles?: Role[]): { orgId: { in: string[] } } {
  return { orgId: { in: orgsWhere(principal, roles) } };
}

export function hasRole(principal: Principal, orgId: string, roles: Role[]): boolean {
  return principal.bindings.some((b) => b.orgId === orgId && roles.includes(b.role as Role));
}
