/**
 * What a principal may reach: its roles per organization, the orgs and sites they cover, and the lookups that
 * answer another org's row exactly like an unknown one (404, never "forbidden"). Every api module asks here; the
 * pure site arithmetic stays in lib/site-scope.ts, which the worker's activities share.
 */
import { z } from 'zod';
import { Uuid } from '../../common/ids';
import { AppError } from '../../lib/app-error';
import { maySeeSession, narrowedSites, siteFilter, sitesReached } from '../../lib/site-scope';
import type { TenantScope } from '../../lib/tenant-db';
import type { ApiDeps } from '../deps';

type Db = Pick<ApiDeps, 'prisma'>;

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
  via: 'apiKey' | 'session' | 'link' | 'oauth';
  /** The API key it was authenticated with (`via: 'apiKey'`): a long-lived connection re-checks it is not revoked. */
  apiKeyId?: string;
  /** The web session of a long-lived connection opened with the cookie: it ends when they sign out. */
  webSessionId?: string;
  /**
   * The OAuth grant of an MCP client acting as the user (`via: 'oauth'`): its bindings are already cut to the
   * granted orgs; the scopes cap the tier a call may reach (checked again where authorization decides).
   */
  oauth?: { grantId: string; clientId: string; clientName: string; scopes: string[] };
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

/** The `where` fragment for rows with a site (devices) in `orgId` that the principal reaches with one of `roles`. */
export function siteReach(principal: Principal, orgId: string, roles?: Role[]): { orgId: string; siteId?: { in: string[] } } {
  return { orgId, ...siteFilter(sitesWhere(principal, orgId, roles)) };
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

const isUuid = (value: string) => z.uuid().safeParse(value).success;

/** The `where` fragment naming one organization by its id or its slug. */
export function orgNamed(idOrSlug: string): { id: string } | { slug: string } {
  return isUuid(idOrSlug) ? { id: idOrSlug } : { slug: idOrSlug };
}

/** The `where` fragment for an organization named by slug, or by id when the value is a UUID (either may match). */
export function orgIdOrSlug(value: string): { OR: ({ slug: string } | { id: string })[] } {
  return { OR: [{ slug: value }, ...(isUuid(value) ? [{ id: value }] : [])] };
}

/** The org if the principal holds one of `roles` (any role when omitted) in it; 404 otherwise (never revealing that it exists). */
export async function findOrgFor({ prisma }: Db, principal: Principal, idOrSlug: string, roles?: Role[]) {
  const org = await prisma.organization.findFirst({ where: { AND: [{ id: { in: orgsWhere(principal, roles) } }, orgNamed(idOrSlug)] } });
  if (!org) throw AppError.notFound('organization');
  return org;
}

/**
 * A copilot session whose content the principal may read (lib/site-scope.ts maySeeSession: its owner, or a role in
 * its org, one of `roles`, covering every site it reached), with its org; otherwise the same 404 as an unknown id.
 * Every route that shows a session, its steps, timeline, export or remediations finds it here.
 */
export async function findVisibleSession(deps: Db, principal: Principal, id: string, roles?: Role[]) {
  const session = await visibleSession(deps, principal, id, roles);
  if (!session) throw AppError.notFound('session');
  return session;
}

/** The same, with null for a session the principal may not see (for callers that answer as something else). */
export async function visibleSession({ prisma }: Db, principal: Principal, id: string, roles?: Role[]) {
  // The sites the session's calls reached are read beside the session (by the id asked for; only read, and decided on
  // only for a session found in the principal's orgs), not after it: every GET of a session waits for this check.
  const byId = Uuid.safeParse(id).success;
  const [session, early] = await Promise.all([
    prisma.copilotSession.findFirst({ where: { id, ...tenantScope(principal, roles) }, include: { org: true } }),
    byId ? sitesReached(prisma, [id]) : null,
  ]);
  if (!session) return null;
  // Read again by the row's own id where it is written otherwise (an id in capitals finds the same session).
  const reached = early && session.id === id ? early : await sitesReached(prisma, [session.id]);
  return maySeeSession(principal, session, reached.get(session.id) ?? [], roles) ? session : null;
}

/** The sessions of a list the principal may read, by the same rule (the rest are left out, as if they did not exist). */
export async function visibleSessions<T extends { id: string; orgId: string; userId: string }>({ prisma }: Db, principal: Principal, sessions: T[], roles?: Role[]): Promise<T[]> {
  const reached = await sitesReached(prisma, sessions.map((s) => s.id));
  return sessions.filter((s) => maySeeSession(principal, s, reached.get(s.id) ?? [], roles));
}

/** The principal's organizations, each with the roles held there and the sites each role is narrowed to. */
export async function orgsOf({ prisma }: Db, principal: Principal) {
  const orgs = await prisma.organization.findMany({ where: { id: { in: orgsWhere(principal) } }, orderBy: { slug: 'asc' } });
  return orgs.map((o) => ({
    id: o.id,
    slug: o.slug,
    name: o.name,
    roles: principal.bindings.filter((b) => b.orgId === o.id).map((b) => ({ role: b.role, siteIds: b.siteIds })),
  }));
}
