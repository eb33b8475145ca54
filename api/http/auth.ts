/** Bearer API-key authentication, and the tenant scoping helper every query on tenant data goes through. */
import type { Request } from 'express';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { hashesEqual, secretPrefix, sha256 } from '../../lib/secrets';
import { maySeeSession, narrowedSites, sitesReached } from '../../lib/site-scope';
import type { TenantScope } from '../../lib/tenant-db';
import type { ApiDeps } from '../deps';

export const Role = { Technician: 'technician', Approver: 'approver', Admin: 'admin', Auditor: 'auditor' } as const;
export type Role = (typeof Role)[keyof typeof Role];

export interface Binding {
  orgId: string;
  role: string;
  /** Sites the binding is narrowed to; empty: the whole organization. */
  siteIds: string[];
}

export interface Principal {
  userId: string;
  partnerId: string;
  email: string;
  partnerAdmin: boolean;
  bindings: Binding[];
  /** How the request was authenticated: cookie sessions must also carry a CSRF token on writes. */
  via: 'apiKey' | 'session' | 'link';
}

const unauthorized = () => new AppError(AppErrorCode.Unauthorized, 'a valid API key (Authorization: Bearer <key>) or a signed-in session is required');

type UserWithBindings = { id: string; partnerId: string; email: string; partnerAdmin: boolean; disabledAt: Date | null; roleBindings: Binding[] };

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

async function authenticateKey({ prisma }: ApiDeps, header: string): Promise<Principal> {
  const match = /^Bearer (\S+)$/.exec(header);
  if (!match) throw unauthorized();
  const prefix = secretPrefix(match[1]!);
  if (!prefix) throw unauthorized();
  const key = await prisma.apiKey.findUnique({ where: { prefix }, include: { user: { include: { roleBindings: true } } } });
  if (!key || key.revokedAt || key.user.disabledAt || !hashesEqual(key.hash, sha256(match[1]!))) throw unauthorized();
  // Last-used time is informative (to the minute): written at most once a minute per key, not on every request,
  // and a failed write must not fail the request.
  if (!key.lastUsedAt || Date.now() - key.lastUsedAt.getTime() > 60_000) {
    void prisma.apiKey.update({ where: { id: key.id }, data: { lastUsedAt: new Date() } }).catch(() => undefined);
  }
  return toPrincipal(key.user, 'apiKey');
}

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

/**
 * The sites the principal may reach in an org with one of `roles`: null when a binding covers the whole org,
 * otherwise the union of the narrowed bindings' sites (empty when it holds no such role there).
 */
export function sitesWhere(principal: Principal, orgId: string, roles?: Role[]): string[] | null {
  return narrowedSites(principal.bindings.filter((b) => b.orgId === orgId && (!roles || roles.includes(b.role as Role))));
}

/** The row-level-security scope of a request: every org the principal is bound to, and its partner. */
export function scopeOf(principal: Principal): TenantScope {
  return { orgIds: orgsWhere(principal), partnerId: principal.partnerId };
}

/**
 * `row` when it exists and the principal holds one of `roles` in its org; otherwise the same 404 as an unknown id
 * (a row of another org, or of one where the principal lacks the role, is never confirmed to exist).
 */
export function rowFor<T extends { orgId: string }>(principal: Principal, row: T | null, roles: Role[], what: string): T {
  if (!row || !hasRole(principal, row.orgId, roles)) throw AppError.notFound(what);
  return row;
}

/**
 * A copilot session whose content the principal may read (lib/site-scope.ts maySeeSession: its owner, or a role in
 * its org, one of `roles`, covering every site it reached), with its org; otherwise the same 404 as an unknown id.
 * Every route that shows a session, its steps, timeline, export or remediations finds it here.
 */
export async function findVisibleSession(deps: ApiDeps, principal: Principal, id: string, roles?: Role[]) {
  const session = await visibleSession(deps, principal, id, roles);
  if (!session) throw AppError.notFound('session');
  return session;
}

/** The same, with null for a session the principal may not see (for callers that answer as something else). */
export async function visibleSession(deps: ApiDeps, principal: Principal, id: string, roles?: Role[]) {
  const session = await deps.prisma.copilotSession.findFirst({ where: { id, ...tenantScope(principal, roles) }, include: { org: true } });
  if (!session) return null;
  const reached = await sitesReached(deps.prisma, [session.id]);
  return maySeeSession(principal, session, reached.get(session.id) ?? [], roles) ? session : null;
}

/** The sessions of a list the principal may read, by the same rule (the rest are left out, as if they did not exist). */
export async function visibleSessions<T extends { id: string; orgId: string; userId: string }>(deps: ApiDeps, principal: Principal, sessions: T[], roles?: Role[]): Promise<T[]> {
  const reached = await sitesReached(deps.prisma, sessions.map((s) => s.id));
  return sessions.filter((s) => maySeeSession(principal, s, reached.get(s.id) ?? [], roles));
}
