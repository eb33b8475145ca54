/**
 * Who may do what: web sign-in (session cookie + CSRF token), users of the partner, their role bindings per
 * organization (optionally narrowed to sites), and API keys. Every change is audited. Partner admins create users;
 * an organization's admins grant and remove roles in it; everyone manages their own API keys.
 */
import { ApiKeyAnswer, ApiKeyCreatedAnswer, ApiKeysAnswer, BindingCreatedAnswer, BindingsAnswer, PasswordChangedAnswer, PasswordResetSentAnswer, RemovedAnswer, SignedInAnswer, SignedOutAnswer, UserAnswer, UsersAnswer } from '../../common/api-answers';
import { z } from 'zod';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { audit } from '../../audit/log';
import { hashPassword, PASSWORD_MAX, PASSWORD_MIN, verifyPassword } from '../../lib/passwords';
import { sendPasswordReset } from '../services/password-resets';
import { issueSecret } from '../../lib/secrets';
import type { ApiDeps } from '../deps';
import { findOrgFor, orgsOf, orgsWhere, type Principal, Role, rowFor } from '../http/access';
import { principalOfUser } from '../http/auth';
import { IdParams, OrgParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';

const Email = z.email().max(254).transform((e) => e.toLowerCase());
const Password = z.string().min(PASSWORD_MIN, `must be at least ${PASSWORD_MIN} characters`).max(PASSWORD_MAX);
const Name = z.string().trim().min(1).max(100);
const ROLES = [Role.Technician, Role.Approver, Role.Admin, Role.Auditor] as const;

const SIGNIN_WINDOW = { max: 10, windowMs: 15 * 60_000 };

async function sessionView(deps: ApiDeps, principal: Principal) {
  const [user, orgs] = await Promise.all([deps.prisma.user.findUniqueOrThrow({ where: { id: principal.userId } }), orgsOf(deps, principal)]);
  return { user: { id: user.id, email: user.email, name: user.name, partnerAdmin: user.partnerAdmin }, orgs };
}

export const signIn = defineRoute({
  method: 'post',
  path: '/v1/auth/signin',
  summary: 'Sign in to the web console with email and password; sets the session cookie and returns the CSRF token',
  tag: 'auth',
  auth: 'none',
  body: z.object({ email: Email, password: z.string().min(1).max(PASSWORD_MAX) }).strict(),
  responses: { 200: 'Signed in', 400: 'Invalid body', 401: 'Wrong email or password', 429: 'Too many attempts' },
  response: SignedInAnswer,
  async handler({ req, res, deps, system, body, web }) {
    // Counted per email and per address, failing closed: no Redis, no sign-in.
    const limits = await Promise.all([
      deps.limiter.hit(`signin:email:${body.email}`, SIGNIN_WINDOW),
      deps.limiter.hit(`signin:ip:${req.ip ?? 'unknown'}`, { max: 50, windowMs: SIGNIN_WINDOW.windowMs }),
    ]).catch((err: unknown) => {
      throw new AppError(AppErrorCode.Unavailable, 'sign-in is unavailable right now (rate-limit store unreachable); try again shortly', { cause: err });
    });
    if (limits.some((l) => !l.allowed)) throw new AppError(AppErrorCode.RateLimited, 'too many sign-in attempts; wait a few minutes');
    const user = await system.user.findUnique({ where: { email: body.email } });
    const ok = await verifyPassword(body.password, user && !user.disabledAt ? user.passwordHash : null);
    if (!user || !ok) {
      await audit(system, { actorType: 'user', actorId: user?.id ?? null, action: 'security.signin_failed', target: body.email, data: { address: req.ip ?? null } });
      throw new AppError(AppErrorCode.Unauthorized, 'the email or the password is wrong');
    }
    // A new session id on sign-in (no fixation), then the user.
    await new Promise<void>((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
    req.session.userId = user.id;
    await new Promise<void>((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
    await audit(system, { actorType: 'user', actorId: user.id, action: 'auth.signed_in', target: user.email, data: { address: req.ip ?? null } });
    const unfenced = { ...deps, prisma: system };
    const view = await sessionView(unfenced, (await principalOfUser(unfenced, user.id, 'session'))!);
    return { status: 200, body: { ...view, csrfToken: web.csrfToken(req, res) } };
  },
});

export const getAuthSession = defineRoute({
  method: 'get',
  path: '/v1/auth/session',
  summary: 'The signed-in user, their organizations and roles, and a CSRF token for writes',
  tag: 'auth',
  auth: 'user',
  responses: { 200: 'The session', 401: 'Not signed in' },
  response: SignedInAnswer,
  async handler({ req, res, deps, principal, web }) {
    return { status: 200, body: { ...(await sessionView(deps, principal)), csrfToken: principal.via === 'session' ? web.csrfToken(req, res) : null } };
  },
});

export const signOut = defineRoute({
  method: 'post',
  path: '/v1/auth/signout',
  summary: 'End the web session',
  tag: 'auth',
  auth: 'user',
  responses: { 200: 'Signed out', 401: 'Not signed in', 403: 'Missing CSRF token' },
  response: SignedOutAnswer,
  async handler({ req, res, principal }) {
    if (principal.via === 'session') {
      await new Promise<void>((resolve, reject) => req.session.destroy((err) => (err ? reject(err) : resolve())));
      res.clearCookie('gh_session');
    }
    return { status: 200, body: { signedOut: true } };
  },
});

export const changePassword = defineRoute({
  method: 'put',
  path: '/v1/auth/password',
  summary: 'Change your own password (the current one is required)',
  tag: 'auth',
  auth: 'user',
  body: z.object({ current: z.string().max(PASSWORD_MAX).optional(), password: Password }).strict(),
  responses: { 200: 'Changed', 400: 'Invalid body', 401: 'Not signed in', 403: 'Current password wrong' },
  response: PasswordChangedAnswer,
  async handler({ deps, system, principal, body }) {
    const user = await deps.prisma.user.findUniqueOrThrow({ where: { id: principal.userId } });
    if (user.passwordHash && !(await verifyPassword(body.current ?? '', user.passwordHash))) {
      throw new AppError(AppErrorCode.Forbidden, 'body.current: the current password is wrong');
    }
    // Whoever chose the old password knows "current" as well, so a change made with it does not make the password
    // the user's own; only a mailed reset link does (services/password-resets.ts).
    await deps.prisma.user.update({ where: { id: user.id }, data: { passwordHash: await hashPassword(body.password), passwordChosenBy: user.passwordChosenBy ?? user.id } });
    await audit(system, { actorType: 'user', actorId: user.id, action: 'auth.password_changed', target: user.email });
    return { status: 200, body: { changed: true } };
  },
});

// ---- users ------------------------------------------------------------------------------------------------

function requirePartnerAdmin(principal: Principal): void {
  if (!principal.partnerAdmin) throw new AppError(AppErrorCode.Forbidden, 'only a partner admin can manage users');
}

const userView = (u: { id: string; email: string; name: string; partnerAdmin: boolean; disabledAt: Date | null; passwordHash: string | null }) => ({
  id: u.id,
  email: u.email,
  name: u.name,
  partnerAdmin: u.partnerAdmin,
  disabled: u.disabledAt !== null,
  canSignIn: u.passwordHash !== null,
});

export const listUsers = defineRoute({
  method: 'get',
  path: '/v1/users',
  summary: "Users of the partner (partner admins) or of the organizations you administer, with their roles there",
  tag: 'users',
  auth: 'user',
  responses: { 200: 'The users', 401: 'Not authenticated' },
  response: UsersAnswer,
  async handler({ deps, principal }) {
    const adminOf = orgsWhere(principal, [Role.Admin]);
    const users = await deps.prisma.user.findMany({
      where: principal.partnerAdmin ? {} : { roleBindings: { some: { orgId: { in: adminOf } } } },
      include: { roleBindings: { where: { orgId: { in: adminOf } } } },
      orderBy: { email: 'asc' },
    });
    return {
      status: 200,
      body: { users: users.map((u) => ({ ...userView(u), bindings: u.roleBindings.map((b) => ({ id: b.id, orgId: b.orgId, role: b.role, siteIds: b.siteIds })) })) },
    };
  },
});

export const createUser = defineRoute({
  method: 'post',
  path: '/v1/users',
  summary: 'Create a user of your partner (partner admins); with a password they can sign in to the console',
  tag: 'users',
  auth: 'user',
  body: z.object({ email: Email, name: Name, password: Password.optional(), partnerAdmin: z.boolean().default(false) }).strict(),
  responses: { 201: 'Created', 400: 'Invalid body', 401: 'Not authenticated', 403: 'Not a partner admin', 409: 'Email taken' },
  response: UserAnswer,
  async handler({ deps, system, principal, body }) {
    requirePartnerAdmin(principal);
    // Emails are unique across partners, so the check looks across them; it reveals only "taken".
    if (await system.user.findUnique({ where: { email: body.email }, select: { id: true } })) {
      throw new AppError(AppErrorCode.Conflict, 'body.email: a user with this email already exists');
    }
    const user = await deps.prisma.user.create({
      data: {
        partnerId: principal.partnerId,
        email: body.email,
        name: body.name,
        partnerAdmin: body.partnerAdmin,
        passwordHash: body.password ? await hashPassword(body.password) : null,
        // The admin knows it: until the user sets their own through a reset link, they do not approve this admin's T4 calls.
        passwordChosenBy: body.password ? principal.userId : null,
      },
    });
    await audit(system, { actorType: 'user', actorId: principal.userId, action: 'user.created', target: user.email, data: { userId: user.id, partnerAdmin: user.partnerAdmin } });
    return { status: 201, body: userView(user) };
  },
});

export const updateUser = defineRoute({
  method: 'patch',
  path: '/v1/users/:id',
  summary: "Rename, disable or re-enable a user (partner admins); disabling ends their API keys' and sessions' access",
  tag: 'users',
  auth: 'user',
  params: IdParams,
  body: z.object({ name: Name.optional(), password: z.unknown().optional(), disabled: z.boolean().optional() }).strict(),
  responses: { 200: 'Updated', 400: 'Invalid body', 401: 'Not authenticated', 403: 'Not a partner admin', 404: 'Unknown user' },
  response: UserAnswer,
  async handler({ deps, system, principal, params, body }) {
    requirePartnerAdmin(principal);
    // Whoever knew someone else's password could sign in and approve as them (their own T4 call included).
    if (body.password !== undefined) {
      throw new AppError(AppErrorCode.BadRequest, "body.password: nobody sets another person's password; send them a link to set it themselves (POST /v1/users/:id/password-reset), or change your own with PUT /v1/auth/password");
    }
    const existing = await deps.prisma.user.findUnique({ where: { id: params.id } });
    if (!existing) throw AppError.notFound('user');
    if (body.disabled && existing.id === principal.userId) throw new AppError(AppErrorCode.BadRequest, 'body.disabled: you cannot disable yourself');
    const user = await deps.prisma.user.update({
      where: { id: existing.id },
      data: {
        ...(body.name ? { name: body.name } : {}),
        ...(body.disabled === undefined ? {} : { disabledAt: body.disabled ? new Date() : null }),
      },
    });
    await audit(system, {
      actorType: 'user',
      actorId: principal.userId,
      action: body.disabled === true ? 'user.disabled' : body.disabled === false ? 'user.enabled' : 'user.updated',
      target: user.email,
      data: { userId: user.id, name: body.name ?? null },
    });
    return { status: 200, body: userView(user) };
  },
});

export const sendUserPasswordReset = defineRoute({
  method: 'post',
  path: '/v1/users/:id/password-reset',
  summary: 'Mail a user a one-time link to set their own password (partner admins); the admin never sees the link',
  tag: 'users',
  auth: 'user',
  params: IdParams,
  responses: { 202: 'Mailed', 400: 'Invalid id', 401: 'Not authenticated', 403: 'Not a partner admin', 404: 'Unknown user', 503: 'E-mail not configured or unavailable' },
  response: PasswordResetSentAnswer,
  async handler({ deps, system, principal, params, baseUrl }) {
    requirePartnerAdmin(principal);
    const sent = await sendPasswordReset({ fenced: deps.prisma, system, mail: deps.config.mail }, principal, params.id, baseUrl());
    return { status: 202, body: { sentTo: sent.email, expiresAt: sent.expiresAt.toISOString() } };
  },
});

// ---- role bindings ------------------------------------------------------------------------------------------

export const listBindings = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/bindings',
  summary: "Who holds which role in the organization, and on which sites (the org's admins)",
  tag: 'users',
  auth: 'user',
  params: OrgParams,
  responses: { 200: 'The bindings', 401: 'Not authenticated', 404: 'Unknown organization' },
  response: BindingsAnswer,
  async handler({ deps, principal, params }) {
    const org = await findOrgFor(deps, principal, params.id, [Role.Admin]);
    const bindings = await deps.prisma.roleBinding.findMany({ where: { orgId: org.id }, include: { user: true }, orderBy: [{ user: { email: 'asc' } }, { role: 'asc' }] });
    return {
      status: 200,
      body: { org: org.slug, bindings: bindings.map((b) => ({ id: b.id, userId: b.userId, email: b.user.email, role: b.role, siteIds: b.siteIds })) },
    };
  },
});

export const createBinding = defineRoute({
  method: 'post',
  path: '/v1/orgs/:id/bindings',
  summary: 'Grant a user of the partner a role in the organization, optionally narrowed to sites (the org\'s admins)',
  tag: 'users',
  auth: 'user',
  params: OrgParams,
  body: z
    .object({
      userId: z.uuid(),
      role: z.enum(ROLES),
      siteIds: z.array(z.uuid()).max(100).default([]).describe('Narrow the role to these sites; empty: the whole organization'),
    })
    .strict(),
  responses: { 201: 'Granted', 400: 'Invalid body', 401: 'Not authenticated', 404: 'Unknown organization, user or site', 409: 'Already granted' },
  response: BindingCreatedAnswer,
  async handler({ deps, system, principal, params, body }) {
    const org = await findOrgFor(deps, principal, params.id, [Role.Admin]);
    const user = await deps.prisma.user.findUnique({ where: { id: body.userId } });
    if (!user) throw AppError.notFound('user');
    const siteIds = [...new Set(body.siteIds)];
    const sites = await deps.prisma.site.count({ where: { orgId: org.id, id: { in: siteIds } } });
    if (sites !== siteIds.length) throw AppError.notFound('site');
    const existing = await deps.prisma.roleBinding.findUnique({ where: { userId_orgId_role: { userId: user.id, orgId: org.id, role: body.role } } });
    if (existing) throw new AppError(AppErrorCode.Conflict, `${user.email} already holds ${body.role} in ${org.slug}; remove that binding first to change its sites`);
    const binding = await deps.prisma.roleBinding.create({ data: { userId: user.id, orgId: org.id, role: body.role, siteIds, grantedBy: principal.userId } });
    await audit(system, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'role.granted', target: user.email, data: { bindingId: binding.id, role: body.role, siteIds } });
    return { status: 201, body: { id: binding.id, userId: user.id, email: user.email, org: org.slug, role: binding.role, siteIds: binding.siteIds } };
  },
});

export const deleteBinding = defineRoute({
  method: 'delete',
  path: '/v1/bindings/:id',
  summary: "Remove a role binding (the org's admins; an admin cannot remove their own admin role)",
  tag: 'users',
  auth: 'user',
  params: IdParams,
  responses: { 200: 'Removed', 401: 'Not authenticated', 404: 'Unknown binding', 409: 'Your own admin binding' },
  response: RemovedAnswer,
  async handler({ deps, system, principal, params }) {
    const binding = rowFor(principal, await deps.prisma.roleBinding.findUnique({ where: { id: params.id }, include: { user: true } }), [Role.Admin], 'binding');
    if (binding.userId === principal.userId && binding.role === Role.Admin) {
      throw new AppError(AppErrorCode.Conflict, 'you cannot remove your own admin role; another admin can');
    }
    await deps.prisma.roleBinding.delete({ where: { id: binding.id } });
    await audit(system, { orgId: binding.orgId, actorType: 'user', actorId: principal.userId, action: 'role.revoked', target: binding.user.email, data: { bindingId: binding.id, role: binding.role, siteIds: binding.siteIds } });
    return { status: 200, body: { removed: true } };
  },
});

// ---- API keys ---------------------------------------------------------------------------------------------------

const keyView = (k: { id: string; name: string; prefix: string; createdAt: Date; lastUsedAt: Date | null; revokedAt: Date | null }) => ({
  id: k.id,
  name: k.name,
  prefix: k.prefix,
  createdAt: k.createdAt.toISOString(),
  lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
  revokedAt: k.revokedAt?.toISOString() ?? null,
});

export const listApiKeys = defineRoute({
  method: 'get',
  path: '/v1/api-keys',
  summary: 'Your API keys: name, visible prefix, created, last used, revoked (never the key itself)',
  tag: 'users',
  auth: 'user',
  responses: { 200: 'The keys', 401: 'Not authenticated' },
  response: ApiKeysAnswer,
  async handler({ deps, principal }) {
    const keys = await deps.prisma.apiKey.findMany({ where: { userId: principal.userId }, orderBy: { createdAt: 'asc' } });
    return { status: 200, body: { keys: keys.map(keyView) } };
  },
});

export const createApiKey = defineRoute({
  method: 'post',
  path: '/v1/api-keys',
  summary: 'Create an API key for yourself; the key is in this answer only (only its hash is kept)',
  tag: 'users',
  auth: 'user',
  body: z.object({ name: Name }).strict(),
  responses: { 201: 'The key, shown once', 400: 'Invalid body', 401: 'Not authenticated' },
  response: ApiKeyCreatedAnswer,
  async handler({ deps, system, principal, body }) {
    const secret = issueSecret('gh');
    const key = await deps.prisma.apiKey.create({ data: { userId: principal.userId, name: body.name, prefix: secret.prefix, hash: secret.hash } });
    await audit(system, { actorType: 'user', actorId: principal.userId, action: 'api_key.created', target: key.prefix, data: { keyId: key.id, name: key.name } });
    return { status: 201, body: { ...keyView(key), key: secret.plain } };
  },
});

export const revokeApiKey = defineRoute({
  method: 'delete',
  path: '/v1/api-keys/:id',
  summary: "Revoke an API key: yours, or any of the partner's users' (partner admins)",
  tag: 'users',
  auth: 'user',
  params: IdParams,
  responses: { 200: 'Revoked', 401: 'Not authenticated', 404: 'Unknown key' },
  response: ApiKeyAnswer,
  async handler({ deps, system, principal, params }) {
    const key = await deps.prisma.apiKey.findUnique({ where: { id: params.id } });
    if (!key || (key.userId !== principal.userId && !principal.partnerAdmin)) throw AppError.notFound('API key');
    const revoked = key.revokedAt ? key : await deps.prisma.apiKey.update({ where: { id: key.id }, data: { revokedAt: new Date() } });
    if (!key.revokedAt) await audit(system, { actorType: 'user', actorId: principal.userId, action: 'api_key.revoked', target: key.prefix, data: { keyId: key.id, ownerId: key.userId } });
    return { status: 200, body: keyView(revoked) };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const identityRoutes: AnyRoute[] = [signIn, getAuthSession, signOut, changePassword, listUsers, createUser, updateUser, sendUserPasswordReset, listBindings, createBinding, deleteBinding, listApiKeys, createApiKey, revokeApiKey];
