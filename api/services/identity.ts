/**
 * The operations of identity, one each: sign in, change one's own password, manage the partner's users, the role
 * bindings of an organization and one's own API keys. Each holds its queries and its audit event; the routes in
 * routes/identity.ts parse, call and shape the answer.
 */
import { AppError, AppErrorCode } from '../../lib/app-error';
import { audit } from '../../audit/log';
import { hashPassword, verifyPassword } from '../../lib/passwords';
import { issueSecret } from '../../lib/secrets';
import { findOrgFor, orgsOf, orgsWhere, type Principal, Role, rowFor } from '../http/access';
import { principalOfUser } from '../http/auth';
import { callerOf, type Caller } from './caller';
import { sendPasswordReset } from './password-resets';

const SIGNIN_WINDOW = { max: 10, windowMs: 15 * 60_000 };

/** The signed-in user and their organizations with their roles. */
export async function sessionView({ deps, principal }: Caller) {
  const [user, orgs] = await Promise.all([deps.prisma.user.findUniqueOrThrow({ where: { id: principal.userId } }), orgsOf(deps, principal)]);
  return { user: { id: user.id, email: user.email, name: user.name, partnerAdmin: user.partnerAdmin }, orgs };
}

/**
 * Checks an email and password (rate limited per email and per address, failing closed), then has `startWebSession`
 * bind the user to a fresh web session, and answers with their view. Every failure is audited.
 */
export async function signIn(
  { deps, system }: Omit<Caller, 'principal'>,
  input: { email: string; password: string; address: string | null },
  startWebSession: (userId: string) => Promise<void>,
) {
  const limits = await Promise.all([
    deps.limiter.hit(`signin:email:${input.email}`, SIGNIN_WINDOW),
    deps.limiter.hit(`signin:ip:${input.address ?? 'unknown'}`, { max: 50, windowMs: SIGNIN_WINDOW.windowMs }),
  ]).catch((err: unknown) => {
    throw new AppError(AppErrorCode.Unavailable, 'sign-in is unavailable right now (rate-limit store unreachable); try again shortly', { cause: err });
  });
  if (limits.some((l) => !l.allowed)) throw new AppError(AppErrorCode.RateLimited, 'too many sign-in attempts; wait a few minutes');
  const user = await system.user.findUnique({ where: { email: input.email }, include: { partner: { select: { localPasswords: true } } } });
  // The partner signs in through its identity provider only: no password opens the console, right or wrong.
  if (user && !user.partner.localPasswords) {
    await audit(system, { actorType: 'user', actorId: user.id, action: 'security.signin_password_refused', target: input.email, data: { address: input.address } });
    throw new AppError(AppErrorCode.Forbidden, "your organization signs in with single sign-on only (passwords are turned off); use 'Sign in with single sign-on'");
  }
  const ok = await verifyPassword(input.password, user && !user.disabledAt ? user.passwordHash : null);
  if (!user || !ok) {
    await audit(system, { actorType: 'user', actorId: user?.id ?? null, action: 'security.signin_failed', target: input.email, data: { address: input.address } });
    throw new AppError(AppErrorCode.Unauthorized, 'the email or the password is wrong');
  }
  await startWebSession(user.id);
  await audit(system, { actorType: 'user', actorId: user.id, action: 'auth.signed_in', target: user.email, data: { address: input.address } });
  const unfenced = { ...deps, prisma: system };
  return sessionView(callerOf(unfenced, (await principalOfUser(unfenced, user.id, 'session'))!));
}

/** Changes the caller's own password; the current one is required when they have one. */
export async function changeOwnPassword({ deps, system, principal }: Caller, input: { current?: string; password: string }): Promise<void> {
  const user = await deps.prisma.user.findUniqueOrThrow({ where: { id: principal.userId } });
  if (user.passwordHash && !(await verifyPassword(input.current ?? '', user.passwordHash))) {
    throw new AppError(AppErrorCode.Forbidden, 'body.current: the current password is wrong');
  }
  // Whoever chose the old password knows "current" as well, so a change made with it does not make the password
  // the user's own; only a mailed reset link does (services/password-resets.ts).
  await deps.prisma.user.update({ where: { id: user.id }, data: { passwordHash: await hashPassword(input.password), passwordChosenBy: user.passwordChosenBy ?? user.id } });
  await audit(system, { actorType: 'user', actorId: user.id, action: 'auth.password_changed', target: user.email });
}

// ---- users ------------------------------------------------------------------------------------------------

function requirePartnerAdmin(principal: Principal): void {
  if (!principal.partnerAdmin) throw new AppError(AppErrorCode.Forbidden, 'only a partner admin can manage users');
}

/** Users of the partner (partner admins) or of the organizations the caller administers, with their bindings there. */
export async function listUsers({ deps, principal }: Caller) {
  const adminOf = orgsWhere(principal, [Role.Admin]);
  return deps.prisma.user.findMany({
    where: principal.partnerAdmin ? {} : { roleBindings: { some: { orgId: { in: adminOf } } } },
    include: { roleBindings: { where: { orgId: { in: adminOf } } } },
    orderBy: { email: 'asc' },
  });
}

export async function createUser({ deps, system, principal }: Caller, input: { email: string; name: string; password?: string; partnerAdmin: boolean }) {
  requirePartnerAdmin(principal);
  // Emails are unique across partners, so the check looks across them; it reveals only "taken".
  if (await system.user.findUnique({ where: { email: input.email }, select: { id: true } })) {
    throw new AppError(AppErrorCode.Conflict, 'body.email: a user with this email already exists');
  }
  const user = await deps.prisma.user.create({
    data: {
      partnerId: principal.partnerId,
      email: input.email,
      name: input.name,
      partnerAdmin: input.partnerAdmin,
      passwordHash: input.password ? await hashPassword(input.password) : null,
      // The admin knows it: until the user sets their own through a reset link, they do not approve this admin's T4 calls.
      passwordChosenBy: input.password ? principal.userId : null,
    },
  });
  await audit(system, { actorType: 'user', actorId: principal.userId, action: 'user.created', target: user.email, data: { userId: user.id, partnerAdmin: user.partnerAdmin } });
  return user;
}

export async function updateUser({ deps, system, principal }: Caller, userId: string, input: { name?: string; password?: unknown; disabled?: boolean }) {
  requirePartnerAdmin(principal);
  // Whoever knew someone else's password could sign in and approve as them (their own T4 call included).
  if (input.password !== undefined) {
    throw new AppError(AppErrorCode.BadRequest, "body.password: nobody sets another person's password; send them a link to set it themselves (POST /v1/users/:id/password-reset), or change your own with PUT /v1/auth/password");
  }
  const existing = await deps.prisma.user.findUnique({ where: { id: userId } });
  if (!existing) throw AppError.notFound('user');
  if (input.disabled && existing.id === principal.userId) throw new AppError(AppErrorCode.BadRequest, 'body.disabled: you cannot disable yourself');
  const user = await deps.prisma.user.update({
    where: { id: existing.id },
    data: {
      ...(input.name ? { name: input.name } : {}),
      ...(input.disabled === undefined ? {} : { disabledAt: input.disabled ? new Date() : null }),
    },
  });
  await audit(system, {
    actorType: 'user',
    actorId: principal.userId,
    action: input.disabled === true ? 'user.disabled' : input.disabled === false ? 'user.enabled' : 'user.updated',
    target: user.email,
    data: { userId: user.id, name: input.name ?? null },
  });
  return user;
}

/** Mails a user a one-time link to set their own password (partner admins; services/password-resets.ts). */
export async function mailPasswordReset({ deps, system, principal }: Caller, userId: string, baseUrl: string | undefined) {
  requirePartnerAdmin(principal);
  return sendPasswordReset({ fenced: deps.prisma, system, mail: deps.config.mail }, principal, userId, baseUrl);
}

// ---- role bindings ------------------------------------------------------------------------------------------

export async function listBindings({ deps, principal }: Caller, orgRef: string) {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin]);
  const bindings = await deps.prisma.roleBinding.findMany({ where: { orgId: org.id }, include: { user: true }, orderBy: [{ user: { email: 'asc' } }, { role: 'asc' }] });
  return { org, bindings };
}

export async function grantRole({ deps, system, principal }: Caller, orgRef: string, input: { userId: string; role: Role; siteIds: string[] }) {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin]);
  const user = await deps.prisma.user.findUnique({ where: { id: input.userId } });
  if (!user) throw AppError.notFound('user');
  const siteIds = [...new Set(input.siteIds)];
  const sites = await deps.prisma.site.count({ where: { orgId: org.id, id: { in: siteIds } } });
  if (sites !== siteIds.length) throw AppError.notFound('site');
  const existing = await deps.prisma.roleBinding.findUnique({ where: { userId_orgId_role: { userId: user.id, orgId: org.id, role: input.role } } });
  if (existing) throw new AppError(AppErrorCode.Conflict, `${user.email} already holds ${input.role} in ${org.slug}; remove that binding first to change its sites`);
  const binding = await deps.prisma.roleBinding.create({ data: { userId: user.id, orgId: org.id, role: input.role, siteIds, grantedBy: principal.userId } });
  await audit(system, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'role.granted', target: user.email, data: { bindingId: binding.id, role: input.role, siteIds } });
  return { org, user, binding };
}

/** Removes a role binding (the org's admins); nobody removes their own admin role. */
export async function revokeRole({ deps, system, principal }: Caller, bindingId: string): Promise<void> {
  const binding = rowFor(principal, await deps.prisma.roleBinding.findUnique({ where: { id: bindingId }, include: { user: true } }), [Role.Admin], 'binding');
  if (binding.userId === principal.userId && binding.role === Role.Admin) {
    throw new AppError(AppErrorCode.Conflict, 'you cannot remove your own admin role; another admin can');
  }
  await deps.prisma.roleBinding.delete({ where: { id: binding.id } });
  await audit(system, { orgId: binding.orgId, actorType: 'user', actorId: principal.userId, action: 'role.revoked', target: binding.user.email, data: { bindingId: binding.id, role: binding.role, siteIds: binding.siteIds } });
}

// ---- API keys ---------------------------------------------------------------------------------------------------

export async function listApiKeys({ deps, principal }: Caller) {
  return deps.prisma.apiKey.findMany({ where: { userId: principal.userId }, orderBy: { createdAt: 'asc' } });
}

/** The API keys of the users holding a role in the org (its admins only), with their owner's email. */
export async function memberApiKeys({ deps, system, principal }: Caller, orgRef: string) {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin]);
  const members = await system.roleBinding.findMany({ where: { orgId: org.id }, select: { userId: true } });
  return system.apiKey.findMany({ where: { userId: { in: [...new Set(members.map((m) => m.userId))] } }, include: { user: { select: { email: true } } }, orderBy: { createdAt: 'asc' } });
}

/** Creates a key for the caller; its plain text is returned once, only its hash is kept. */
export async function createApiKey({ deps, system, principal }: Caller, name: string, expiresInDays = 90) {
  const secret = issueSecret('gh');
  const expiresAt = new Date(Date.now() + expiresInDays * 86_400_000);
  const key = await deps.prisma.apiKey.create({ data: { userId: principal.userId, name, prefix: secret.prefix, hash: secret.hash, expiresAt } });
  await audit(system, { actorType: 'user', actorId: principal.userId, action: 'api_key.created', target: key.prefix, data: { keyId: key.id, name: key.name, expiresAt: expiresAt.toISOString() } });
  return { key, plain: secret.plain };
}

/** Revokes one of the caller's keys, or any of the partner's (partner admins); revoking twice changes nothing. */
export async function revokeApiKey({ deps, system, principal }: Caller, keyId: string) {
  const key = await deps.prisma.apiKey.findUnique({ where: { id: keyId } });
  if (!key || (key.userId !== principal.userId && !principal.partnerAdmin)) throw AppError.notFound('API key');
  if (key.revokedAt) return key;
  const revoked = await deps.prisma.apiKey.update({ where: { id: key.id }, data: { revokedAt: new Date() } });
  await audit(system, { actorType: 'user', actorId: principal.userId, action: 'api_key.revoked', target: key.prefix, data: { keyId: key.id, ownerId: key.userId } });
  return revoked;
}

