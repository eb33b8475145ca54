/**
 * Password resets. Nobody sets another person's password: an admin who knew it could sign in as that person and
 * approve their own T3/T4 call in that name. A partner admin can only have a one-time link mailed to the user, who
 * sets the new password themselves on `/password/reset/<token>` (pages/password-reset.ts); the admin never sees
 * the link. Setting it ends the user's signed-in web sessions. Tokens are 256 random bits, stored as SHA-256,
 * single use, valid for an hour; each step is audited.
 */
import { z } from 'zod';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { audit } from '../../audit/log';
import { hashPassword } from '../../lib/passwords';
import type { Prisma } from '@prisma/client';
import type { PrismaClient } from '../../lib/prisma';
import { randomToken, sha256 } from '../../lib/secrets';
import type { Principal } from '../http/access';
import type { MailConfig } from '../deps';
import { createMailTransport } from './notify-approvers';

export const RESET_MINUTES = 60;
export const ResetToken = z.string().regex(/^[A-Za-z0-9_-]{43}$/);

/**
 * Mails `userId` a reset link. `fenced` (the route's row-level fenced client) finds only users of the admin's own
 * partner; `system` holds the reset rows, which no tenant role may read. Earlier unused links of the user stop
 * working.
 */
export async function sendPasswordReset(
  { fenced, system, mail }: { fenced: PrismaClient; system: PrismaClient; mail: MailConfig | undefined },
  principal: Principal,
  userId: string,
  baseUrl: string | undefined,
): Promise<{ email: string; expiresAt: Date }> {
  const user = await fenced.user.findUnique({ where: { id: userId } });
  if (!user) throw AppError.notFound('user');
  if (!mail || !baseUrl) {
    throw new AppError(AppErrorCode.Unavailable, 'e-mail is not configured (SMTP_URL), so no reset link can reach the user; an operator can set it with database access');
  }
  const token = randomToken();
  const expiresAt = new Date(Date.now() + RESET_MINUTES * 60_000);
  await system.$transaction([
    system.passwordReset.deleteMany({ where: { userId: user.id } }),
    system.passwordReset.create({ data: { userId: user.id, requestedBy: principal.userId, tokenHash: sha256(token), expiresAt } }),
  ]);
  const transport = createMailTransport(mail);
  try {
    await transport.sendMail({
      from: mail.from,
      to: user.email,
      subject: 'Set your Gatehouse password',
      text: [
        `Hello ${user.name},`,
        '',
        `${principal.email} asked Gatehouse to let you set a new password. Open this link within ${RESET_MINUTES} minutes:`,
        '',
        `${baseUrl.replace(/\/$/, '')}/password/reset/${token}`,
        '',
        'The link works once. If you did not expect this mail, ignore it: your password stays as it is.',
      ].join('\n'),
    });
  } catch (err) {
    // A link nobody received is no link: remove it, so the admin's retry is the only one that counts.
    await system.passwordReset.deleteMany({ where: { tokenHash: sha256(token) } });
    throw new AppError(AppErrorCode.Unavailable, 'the mail server did not accept the reset mail; try again shortly', { cause: err });
  } finally {
    transport.close();
  }
  await audit(system, { actorType: 'user', actorId: principal.userId, action: 'user.password_reset_sent', target: user.email, data: { userId: user.id, expiresAt: expiresAt.toISOString() } });
  return { email: user.email, expiresAt };
}

/** The pending reset behind a token, or why it cannot be used (for the page to say). */
export async function pendingPasswordReset(system: PrismaClient, token: string) {
  const parsed = ResetToken.safeParse(token);
  const reset = parsed.success ? await system.passwordReset.findUnique({ where: { tokenHash: sha256(parsed.data) }, include: { user: true } }) : null;
  if (!reset || reset.user.disabledAt) return { problem: 'unknown' as const };
  if (reset.usedAt) return { problem: 'used' as const };
  if (reset.expiresAt.getTime() <= Date.now()) return { problem: 'expired' as const };
  return { reset };
}

/**
 * Until now someone else chose the password (a partner admin who created the user with one), so anyone who knew it
 * could sign in as the user and make credentials that outlive it: an API key, a passkey (the one that signs T4
 * approvals), an OAuth grant, a Slack link. The reset makes the password the user's own, so the approval rules no
 * longer count the account as set up by that admin (lib/approval-authority.ts `vouchedByAuthors`); if those
 * credentials survived, the admin could still approve its own T4 call in the user's name with them. They all end
 * here, in the reset's transaction; the user makes new ones.
 */
async function revokeCredentialsMadeUnderAnotherPassword(tx: Prisma.TransactionClient, user: { id: string; email: string }, chosenBy: string): Promise<void> {
  const now = new Date();
  const apiKeys = await tx.apiKey.updateMany({ where: { userId: user.id, revokedAt: null }, data: { revokedAt: now } });
  const passkeys = await tx.passkeyCredential.updateMany({ where: { userId: user.id, removedAt: null }, data: { removedAt: now } });
  const grants = await tx.oAuthGrant.findMany({ where: { userId: user.id, revokedAt: null }, select: { id: true } });
  const grantIds = grants.map((g) => g.id);
  await tx.oAuthGrant.updateMany({ where: { id: { in: grantIds } }, data: { revokedAt: now, revokedWhy: 'password_reset' } });
  await tx.oAuthToken.updateMany({ where: { grantId: { in: grantIds }, revokedAt: null }, data: { revokedAt: now } });
  const slackLinks = await tx.slackUserLink.deleteMany({ where: { userId: user.id } });
  await audit(tx, {
    actorType: 'user',
    actorId: user.id,
    action: 'auth.credentials_revoked',
    target: user.email,
    data: { why: 'the password was chosen by someone else until this reset', passwordChosenBy: chosenBy, apiKeys: apiKeys.count, passkeys: passkeys.count, oauthGrants: grantIds.length, slackLinks: slackLinks.count },
  });
}

/**
 * Spends the token and sets the password, ending every signed-in web session of the user (and, when someone else
 * had chosen the old password, every credential made meanwhile), in one transaction:
 * false when the token was spent or expired in the meantime (nothing changed).
 */
export async function completePasswordReset(system: PrismaClient, token: string, password: string): Promise<boolean> {
  const tokenHash = sha256(token);
  const passwordHash = await hashPassword(password);
  return system.$transaction(async (tx) => {
    const claimed = await tx.passwordReset.updateMany({ where: { tokenHash, usedAt: null, expiresAt: { gt: new Date() } }, data: { usedAt: new Date() } });
    if (claimed.count !== 1) return false;
    const reset = await tx.passwordReset.findUniqueOrThrow({ where: { tokenHash }, include: { user: true } });
    await tx.user.update({ where: { id: reset.userId }, data: { passwordHash, passwordChosenBy: reset.userId } });
    await tx.$executeRaw`DELETE FROM web_session WHERE sess->>'userId' = ${reset.userId}`;
    await audit(tx, { actorType: 'user', actorId: reset.userId, action: 'auth.password_reset', target: reset.user.email, data: { requestedBy: reset.requestedBy } });
    const chosenBy = reset.user.passwordChosenBy;
    if (chosenBy !== null && chosenBy !== reset.userId) await revokeCredentialsMadeUnderAnotherPassword(tx, reset.user, chosenBy);
    return true;
  });
}
