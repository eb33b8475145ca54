/**
 * Who may do what: web sign-in (session cookie + CSRF token), users of the partner, their role bindings per
 * organization (optionally narrowed to sites), and API keys. Every change is audited. Partner admins create users;
 * an organization's admins grant and remove roles in it; everyone manages their own API keys. The operations are
 * services/identity.ts's.
 */
import { ApiKeyAnswer, ApiKeyCreatedAnswer, ApiKeysAnswer, MemberApiKeysAnswer, BindingCreatedAnswer, BindingsAnswer, PasswordChangedAnswer, PasswordResetSentAnswer, RemovedAnswer, SignedInAnswer, SignedOutAnswer, UserAnswer, UsersAnswer } from '../../common/api-answers';
import { z } from 'zod';
import { PASSWORD_MAX, PASSWORD_MIN } from '../../lib/passwords';
import { Role } from '../http/access';
import { IdParams, OrgParams } from '../http/params';
import { beginWebSession } from '../http/web-session';
import { defineRoute, type AnyRoute } from '../http/route';
import * as identity from '../services/identity';

const Email = z.email().max(254).transform((e) => e.toLowerCase());
const Password = z.string().min(PASSWORD_MIN, `must be at least ${PASSWORD_MIN} characters`).max(PASSWORD_MAX);
const Name = z.string().trim().min(1).max(100);
const ROLES = [Role.Technician, Role.Approver, Role.Admin, Role.Auditor] as const;

export const signIn = defineRoute({
  method: 'post',
  path: '/v1/auth/signin',
  summary: 'Sign in to the web console with email and password; sets the session cookie and returns the CSRF token',
  tag: 'auth',
  auth: 'none',
  body: z.object({ email: Email, password: z.string().min(1).max(PASSWORD_MAX) }).strict(),
  responses: { 200: 'Signed in', 400: 'Invalid body', 401: 'Wrong email or password', 403: "The user's partner turned passwords off (single sign-on only)", 429: 'Too many attempts' },
  response: SignedInAnswer,
  async handler({ req, res, deps, system, body, web }) {
    // A new session id on sign-in (no fixation), then the user.
    const view = await identity.signIn({ deps, system }, { email: body.email, password: body.password, address: req.ip ?? null }, (userId) => beginWebSession(req, userId));
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
  async handler(ctx) {
    const { req, res, principal, web } = ctx;
    return { status: 200, body: { ...(await identity.sessionView(ctx)), csrfToken: principal.via === 'session' ? web.csrfToken(req, res) : null } };
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
  async handler(ctx) {
    await identity.changeOwnPassword(ctx, ctx.body);
    return { status: 200, body: { changed: true } };
  },
});

// ---- users ------------------------------------------------------------------------------------------------

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
  async handler(ctx) {
    const users = await identity.listUsers(ctx);
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
  async handler(ctx) {
    return { status: 201, body: userView(await identity.createUser(ctx, ctx.body)) };
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
  async handler(ctx) {
    return { status: 200, body: userView(await identity.updateUser(ctx, ctx.params.id, ctx.body)) };
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
  async handler(ctx) {
    const sent = await identity.mailPasswordReset(ctx, ctx.params.id, ctx.baseUrl());
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
  async handler(ctx) {
    const { org, bindings } = await identity.listBindings(ctx, ctx.params.id);
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
  async handler(ctx) {
    const { org, user, binding } = await identity.grantRole(ctx, ctx.params.id, ctx.body);
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
  async handler(ctx) {
    await identity.revokeRole(ctx, ctx.params.id);
    return { status: 200, body: { removed: true } };
  },
});

// ---- API keys ---------------------------------------------------------------------------------------------------

const keyView = (k: { id: string; name: string; prefix: string; createdAt: Date; lastUsedAt: Date | null; revokedAt: Date | null; expiresAt: Date | null }) => ({
  id: k.id,
  name: k.name,
  prefix: k.prefix,
  createdAt: k.createdAt.toISOString(),
  lastUsedAt: k.lastUsedAt?.toISOString() ?? null,
  revokedAt: k.revokedAt?.toISOString() ?? null,
  expiresAt: k.expiresAt?.toISOString() ?? null,
});

export const listApiKeys = defineRoute({
  method: 'get',
  path: '/v1/api-keys',
  summary: 'Your API keys: name, visible prefix, created, last used, expiry, revoked (never the key itself)',
  tag: 'users',
  auth: 'user',
  responses: { 200: 'The keys', 401: 'Not authenticated' },
  response: ApiKeysAnswer,
  async handler(ctx) {
    return { status: 200, body: { keys: (await identity.listApiKeys(ctx)).map(keyView) } };
  },
});

export const createApiKey = defineRoute({
  method: 'post',
  path: '/v1/api-keys',
  summary: 'Create an API key for yourself, expiring after `expiresInDays` (default 90, at most 365); the key is in this answer only (only its hash is kept)',
  tag: 'users',
  auth: 'user',
  body: z.object({ name: Name, expiresInDays: z.number().int().min(1).max(365).default(90) }).strict(),
  responses: { 201: 'The key, shown once', 400: 'Invalid body', 401: 'Not authenticated' },
  response: ApiKeyCreatedAnswer,
  async handler(ctx) {
    const { key, plain } = await identity.createApiKey(ctx, ctx.body.name, ctx.body.expiresInDays);
    return { status: 201, body: { ...keyView(key), key: plain } };
  },
});

export const listMemberApiKeys = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/member-api-keys',
  summary: "The API keys of everyone holding a role in the org, with owner, last use and expiry (the org's admins; never the keys themselves)",
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  responses: { 200: 'The keys', 401: 'Not authenticated', 404: 'Unknown organization' },
  response: MemberApiKeysAnswer,
  async handler(ctx) {
    const keys = await identity.memberApiKeys(ctx, ctx.params.id);
    return { status: 200, body: { keys: keys.map((k) => ({ ...keyView(k), owner: k.user.email })) } };
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
  async handler(ctx) {
    return { status: 200, body: keyView(await identity.revokeApiKey(ctx, ctx.params.id)) };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const identityRoutes: AnyRoute[] = [signIn, getAuthSession, signOut, changePassword, listUsers, createUser, updateUser, sendUserPasswordReset, listBindings, createBinding, deleteBinding, listApiKeys, createApiKey, listMemberApiKeys, revokeApiKey];
