/**
 * Which Slack user is which Gatehouse user. A link lets clicks in Slack decide as a Gatehouse user, so it is an
 * identity claim and is made only by the person it names, proven on both sides:
 * - the Slack side: the Slack user starts it (`/gatehouse link`, a request Slack signed) and gets a one-time,
 *   short-lived link that only they see (an ephemeral answer);
 * - the Gatehouse side: they open it while signed in to Gatehouse and confirm, and Slack's own directory
 *   (`users.info`) must give that Slack account the signed-in user's e-mail, so a link started by someone else and
 *   passed to an approver to click cannot tie the sender's Slack account to the approver.
 * A link is never re-pointed: one to another user must be removed first. Every change is audited.
 */
import { Prisma, type SlackUserLink } from '@prisma/client';
import type { WebClient } from '@slack/web-api';
import { z } from 'zod';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { audit, auditForUser } from '../../audit/log';
import { randomToken, sha256 } from '../../lib/secrets';
import type { ApiDeps } from '../deps';
import { findOrgFor, orgsWhere, type Principal, Role } from '../http/access';
import type { Caller } from './caller';
import { emailOf } from './decide-approval';

export const SlackId = z.string().regex(/^[A-Z0-9]{2,30}$/, 'a Slack id (upper-case letters and digits)');
export const SlackLinkToken = z.string().regex(/^[A-Za-z0-9_-]{43}$/);
export const SlackUserRef = z.object({ teamId: SlackId, slackUserId: SlackId }).strict();
export type SlackUserRef = z.infer<typeof SlackUserRef>;

/** Long enough to switch to a browser and sign in; short enough that a leaked link is soon worthless. */
export const LINK_REQUEST_MINUTES = 10;
const LINK_STARTS = { max: 5, windowMs: 10 * 60_000 };

/** What Slack's `users.info` says about an account, as far as linking needs it. */
const SlackUserInfo = z.object({
  ok: z.literal(true),
  user: z.object({
    id: SlackId,
    deleted: z.boolean().optional(),
    is_bot: z.boolean().optional(),
    profile: z.object({ email: z.string().max(320).optional(), real_name: z.string().max(200).optional() }).loose(),
  }).loose(),
}).loose();

/**
 * Starts a link for the Slack user who sent a signed Slack request: returns the one-time token (shown to that user
 * only). Counted per Slack user and failing closed, so a flood of requests neither fills the table nor goes on when
 * the rate-limit store is down.
 */
export async function startSlackLink(deps: ApiDeps, who: SlackUserRef): Promise<{ token: string; expiresAt: Date }> {
  const limit = await deps.limiter.hit(`slack-link:${who.teamId}:${who.slackUserId}`, LINK_STARTS).catch((err: unknown) => {
    throw new AppError(AppErrorCode.Unavailable, 'linking is unavailable right now (rate-limit store unreachable); try again shortly', { cause: err });
  });
  if (!limit.allowed) throw new AppError(AppErrorCode.RateLimited, 'too many link requests; wait a few minutes');
  // The user's spent and expired requests go (they can never be used again), so the table stays small.
  await deps.prisma.slackLinkRequest.deleteMany({ where: { ...who, OR: [{ usedAt: { not: null } }, { expiresAt: { lte: new Date() } }] } });
  const token = randomToken();
  const expiresAt = new Date(Date.now() + LINK_REQUEST_MINUTES * 60_000);
  await deps.prisma.slackLinkRequest.create({ data: { ...who, tokenHash: sha256(token), expiresAt } });
  await audit(deps.prisma, { actorType: 'user', actorId: `slack:${who.teamId}:${who.slackUserId}`, action: 'slack.link_started', data: { ...who, expiresAt: expiresAt.toISOString() } });
  return { token, expiresAt };
}

/** The pending request behind a token, or why it cannot be used (for the page to say). */
export async function pendingSlackLink(deps: ApiDeps, token: string) {
  const parsed = SlackLinkToken.safeParse(token);
  const request = parsed.success ? await deps.prisma.slackLinkRequest.findUnique({ where: { tokenHash: sha256(parsed.data) } }) : null;
  if (!request) return { problem: 'unknown' as const };
  if (request.usedAt) return { problem: 'used' as const };
  if (request.expiresAt.getTime() <= Date.now()) return { problem: 'expired' as const };
  return { request };
}

async function slackEmailOf(slack: WebClient, who: SlackUserRef): Promise<string | null> {
  const info = SlackUserInfo.safeParse(await slack.users.info({ user: who.slackUserId }));
  if (!info.success || info.data.user.id !== who.slackUserId || info.data.user.deleted || info.data.user.is_bot) return null;
  return info.data.user.profile.email?.toLowerCase() ?? null;
}

/**
 * Confirms a pending link as the signed-in `principal` (a web session, never an API key or an e-mailed link).
 * The token is spent first, whatever follows, so it cannot be tried twice. Refusals are audited.
 */
export async function confirmSlackLink({ deps, principal }: Caller, slack: WebClient, token: string): Promise<{ link: SlackUserLink; created: boolean }> {
  if (principal.via !== 'session') throw new AppError(AppErrorCode.Unauthorized, 'sign in to Gatehouse in this browser to link your Slack account');
  const pending = await pendingSlackLink(deps, token);
  if (!pending.request) throw new AppError(AppErrorCode.Conflict, 'this link is used, expired or unknown; type /gatehouse link in Slack for a new one');
  const claimed = await deps.prisma.slackLinkRequest.updateMany({ where: { id: pending.request.id, usedAt: null, expiresAt: { gt: new Date() } }, data: { usedAt: new Date() } });
  if (claimed.count !== 1) throw new AppError(AppErrorCode.Conflict, 'this link was used already; type /gatehouse link in Slack for a new one');
  const who = { teamId: pending.request.teamId, slackUserId: pending.request.slackUserId };
  const refuse = async (code: AppErrorCode, message: string, why: string) => {
    await auditForUser(deps.prisma, principal.userId, { actorType: 'user', actorId: principal.userId, action: 'slack.link_refused', target: principal.email, data: { ...who, why } });
    return new AppError(code, message);
  };

  let slackEmail: string | null;
  try {
    slackEmail = await slackEmailOf(slack, who);
  } catch (err) {
    deps.logger.warn({ err: (err as Error).message }, 'Slack users.info failed while linking');
    throw await refuse(AppErrorCode.Unavailable, 'Slack could not confirm who this Slack account belongs to right now; nothing was linked. Type /gatehouse link again in a minute', 'slack unreachable');
  }
  if (slackEmail !== principal.email.toLowerCase()) {
    throw await refuse(
      AppErrorCode.Forbidden,
      `this Slack account's e-mail in Slack is not ${principal.email}, so it cannot be linked to you. Only start a link from your own Slack account`,
      slackEmail ? 'slack e-mail differs' : 'slack e-mail unknown',
    );
  }

  const existing = await deps.prisma.slackUserLink.findUnique({ where: { teamId_slackUserId: who } });
  if (existing) {
    if (existing.userId === principal.userId) return { link: existing, created: false };
    throw await refuse(AppErrorCode.Conflict, 'this Slack account is linked to another Gatehouse user; that link must be removed first (by that user or an admin of their organization)', 'linked to another user');
  }
  let link: SlackUserLink;
  try {
    link = await deps.prisma.slackUserLink.create({ data: { ...who, userId: principal.userId } });
  } catch (err) {
    // Two confirmations racing for the same Slack account: the unique key lets one win and the other is re-read.
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') return confirmAfterRace(deps, principal, who, refuse);
    throw err;
  }
  await auditForUser(deps.prisma, principal.userId, { actorType: 'user', actorId: principal.userId, action: 'slack.user_linked', target: principal.email, data: { ...who, linkId: link.id } });
  return { link, created: true };
}

async function confirmAfterRace(deps: ApiDeps, principal: Principal, who: SlackUserRef, refuse: (code: AppErrorCode, message: string, why: string) => Promise<AppError>) {
  const winner = await deps.prisma.slackUserLink.findUniqueOrThrow({ where: { teamId_slackUserId: who } });
  if (winner.userId !== principal.userId) throw await refuse(AppErrorCode.Conflict, 'this Slack account is linked to another Gatehouse user; that link must be removed first', 'linked to another user');
  return { link: winner, created: false };
}

export const linkView = (l: SlackUserLink & { user?: { email: string } }) => ({
  teamId: l.teamId,
  slackUserId: l.slackUserId,
  ...(l.user ? { email: l.user.email } : {}),
  linkedAt: l.createdAt.toISOString(),
});

/**
 * Removes a link: your own, or (org admin) one of a user who holds a role in an org you administer. Anything else
 * answers as an unknown link. `deps.prisma` is the request's fenced client: users of other partners are invisible.
 */
export async function removeSlackLink({ deps, system, principal }: Caller, who: SlackUserRef): Promise<void> {
  const link = await system.slackUserLink.findUnique({ where: { teamId_slackUserId: who } });
  const adminOf = orgsWhere(principal, [Role.Admin]);
  const owner = link ? await deps.prisma.user.findFirst({ where: { id: link.userId }, select: { id: true, email: true, roleBindings: { where: { orgId: { in: adminOf } }, select: { id: true } } } }) : null;
  if (!link || !owner || (owner.id !== principal.userId && owner.roleBindings.length === 0)) throw AppError.notFound('Slack link');
  const removed = await system.slackUserLink.deleteMany({ where: { id: link.id, userId: owner.id } });
  if (removed.count !== 1) throw AppError.notFound('Slack link');
  await auditForUser(system, owner.id, { actorType: 'user', actorId: principal.userId, action: 'slack.user_unlinked', target: owner.email, data: { ...who, by: principal.email } });
}

/** The Slack account's owner removes its link from Slack (`/gatehouse unlink`, a request Slack signed). */
export async function unlinkFromSlack(deps: ApiDeps, link: SlackUserLink): Promise<void> {
  const removed = await deps.prisma.slackUserLink.deleteMany({ where: { id: link.id } });
  if (removed.count !== 1) return;
  const owner = await deps.prisma.user.findUnique({ where: { id: link.userId }, select: { email: true } });
  await auditForUser(deps.prisma, link.userId, {
    actorType: 'user',
    actorId: `slack:${link.teamId}:${link.slackUserId}`,
    action: 'slack.user_unlinked',
    target: owner?.email ?? link.userId,
    data: { teamId: link.teamId, slackUserId: link.slackUserId, by: 'the Slack user' },
  });
}

/** The link of a Slack account, if it has one. */
export function findSlackLink(deps: ApiDeps, who: SlackUserRef): Promise<SlackUserLink | null> {
  return deps.prisma.slackUserLink.findUnique({ where: { teamId_slackUserId: { teamId: who.teamId, slackUserId: who.slackUserId } } });
}

/** What `/gatehouse status` shows: the Slack account's link, if any, and the e-mail of the user it is linked to. */
export async function slackAccount(deps: ApiDeps, who: SlackUserRef): Promise<{ link: SlackUserLink | null; linkedTo: string | null }> {
  const link = await findSlackLink(deps, who);
  return { link, linkedTo: link ? await emailOf(deps, link.userId) : null };
}

/** The Slack accounts linked to users of an org the caller administers, with their owners' e-mails. */
export async function orgSlackLinks({ deps, principal }: Caller, orgRef: string) {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin]);
  const users = await deps.prisma.user.findMany({ where: { roleBindings: { some: { orgId: org.id } } }, select: { id: true, email: true } });
  const emailOf = new Map(users.map((u) => [u.id, u.email]));
  const links = await deps.prisma.slackUserLink.findMany({ where: { userId: { in: [...emailOf.keys()] } }, orderBy: { createdAt: 'asc' } });
  return links.map((l) => ({ ...l, user: { email: emailOf.get(l.userId)! } }));
}

/** The Slack accounts linked to the caller. */
export async function ownSlackLinks({ deps, principal }: Caller) {
  const links = await deps.prisma.slackUserLink.findMany({ where: { userId: principal.userId }, orderBy: { createdAt: 'asc' } });
  return links.map((l) => ({ ...l, user: { email: principal.email } }));
}
