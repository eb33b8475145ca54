/**
 * Tells approvers by email that an approval waits for them, and reminds them once when half of its time has
 * passed (by email, and in the Slack thread when the approval was posted there; see slack.ts). Run by the api's sweep over the Approval table (not by the workflow), so an approval made while the api
 * or the mail server was down is still announced when they are back; `notifiedAt`/`remindedAt` make each mail go
 * out once per approval.
 *
 * Each approver gets their own link `/a/<token>`: 256 random bits, stored only as a SHA-256, single use, expiring
 * with the approval, bound to the approval, the approver and the digest of the call they are shown.
 */
import crypto from 'node:crypto';
import type { Approval } from '@prisma/client';
import nodemailer, { type Transporter } from 'nodemailer';
import { APPROVER_ROLE, sessionAuthors, sitesCover, sitesOfDevices, targetIds, vouchedByAuthors } from '../../lib/approval-authority';
import { audit } from '../../audit/log';
import { narrowedSites } from '../../lib/site-scope';
import { sha256 } from '../../lib/secrets';
import { Tier } from '../../common/tools';
import type { WebClient } from '@slack/web-api';
import { sweptApprovals, type ApiDeps, type MailConfig } from '../deps';
import { emailOf } from './decide-approval';
import { remindInSlack } from './slack';


export function createMailTransport(config: MailConfig): Transporter {
  return nodemailer.createTransport(config.smtpUrl);
}

/**
 * The approvers who may decide it (lib/approval-authority.ts): of its org, with sites covering every target, and
 * for T4 nobody who wrote a turn of its session or was vouched for by such an author. Only they get a link: a link is a way to decide.
 */
async function approversOf(deps: ApiDeps, a: Approval) {
  const bindings = await deps.prisma.roleBinding.findMany({
    where: { orgId: a.orgId, role: APPROVER_ROLE, user: { disabledAt: null } },
    include: { user: { select: { id: true, email: true } } },
  });
  const siteOf = await sitesOfDevices(deps.prisma, [a.orgId], targetIds(a.targets) ?? []);
  const authors = a.tier >= Tier.T4 ? await sessionAuthors(deps.prisma, a.sessionId) : new Set<string>();
  const users = new Map(bindings.map((b) => [b.user.id, b.user]));
  const vouched = await vouchedByAuthors(deps.prisma, a.orgId, [...users.keys()], authors);
  return [...users.values()].filter((u) => !authors.has(u.id) && !vouched.has(u.id) && sitesCover(narrowedSites(bindings.filter((b) => b.user.id === u.id)), a.targets, siteOf));
}

/** A fresh link for one approver; the token is returned once and never stored. */
export async function createApprovalLink(deps: ApiDeps, a: Approval, userId: string): Promise<string> {
  const token = crypto.randomBytes(32).toString('base64url');
  await deps.prisma.approvalLink.create({
    data: { approvalId: a.id, orgId: a.orgId, userId, tokenHash: sha256(token), digest: a.digest, expiresAt: a.expiresAt },
  });
  return token;
}

function mailText(a: Approval, requester: string, link: string, reminder: boolean): { subject: string; text: string } {
  const devices = (a.targets as { name: string }[]).map((d) => d.name);
  const subject = `${reminder ? 'Reminder: ' : ''}Gatehouse approval needed (T${a.tier}): ${a.toolName} on ${devices.length === 1 ? devices[0] : `${devices.length} devices`}`;
  const text = [
    reminder ? 'This approval is still waiting, and half of its time has passed.' : 'The copilot is waiting for a human decision.',
    '',
    `What:    ${a.summary}`,
    `Tool:    ${a.toolName} (tier T${a.tier})`,
    `Devices: ${devices.join(', ')}`,
    `Asked by: ${requester}`,
    `Expires: ${a.expiresAt.toISOString()}`,
    `Ref:     approval ${a.id}`,
    '',
    `Review and decide (the link is yours alone, works once, and expires with the approval):`,
    link,
    '',
    'Opening the link changes nothing; the decision is the button on the page.',
  ].join('\n');
  return { subject, text };
}

async function mailApprovers(deps: ApiDeps, mail: { transport: Transporter; config: MailConfig; baseUrl: string }, a: Approval, reminder: boolean): Promise<number> {
  let sent = 0;
  const requester = await emailOf(deps, a.requestedBy);
  for (const user of await approversOf(deps, a)) {
    const token = await createApprovalLink(deps, a, user.id);
    const { subject, text } = mailText(a, requester, new URL(`/a/${token}`, mail.baseUrl).toString(), reminder);
    await mail.transport.sendMail({ from: mail.config.from, to: user.email, subject, text });
    sent += 1;
  }
  return sent;
}

export interface NotifyChannels {
  mail?: { transport: Transporter; config: MailConfig; baseUrl: string };
  slack?: WebClient;
}

/** One pass of the sweep: announce new pending approvals by email, remind on the half-way ones. */
export async function notifyApprovers(deps: ApiDeps, { mail, slack }: NotifyChannels): Promise<void> {
  const now = new Date();
  const fresh = mail ? await deps.prisma.approval.findMany({ where: { status: 'pending', notifiedAt: null, expiresAt: { gt: now }, ...sweptApprovals(deps) }, take: 50 }) : [];
  for (const a of fresh) {
    // Claim first, so two api nodes do not both mail; a failed send releases the claim for the next pass.
    const claimed = await deps.prisma.approval.updateMany({ where: { id: a.id, notifiedAt: null }, data: { notifiedAt: now } });
    if (claimed.count !== 1) continue;
    try {
      const sent = await mailApprovers(deps, mail!, a, false);
      await audit(deps.prisma, { orgId: a.orgId, actorType: 'system', action: 'approval.notified', target: a.id, sessionId: a.sessionId, data: { channel: 'email', approvers: sent } });
    } catch (err) {
      await deps.prisma.approval.update({ where: { id: a.id }, data: { notifiedAt: null } });
      deps.logger.warn({ approvalId: a.id, err: (err as Error).message }, 'approval mail not sent; will retry');
    }
  }
  const due = await deps.prisma.approval.findMany({
    where: { status: 'pending', remindedAt: null, expiresAt: { gt: now }, ...sweptApprovals(deps), OR: [{ notifiedAt: { not: null } }, { slackTs: { not: null } }] },
    take: 200,
  });
  for (const a of due) {
    const half = a.createdAt.getTime() + (a.expiresAt.getTime() - a.createdAt.getTime()) / 2;
    if (now.getTime() < half) continue;
    const claimed = await deps.prisma.approval.updateMany({ where: { id: a.id, remindedAt: null }, data: { remindedAt: now } });
    if (claimed.count !== 1) continue;
    // Once per approval: a channel that fails here is logged, not retried (the other channels were reminded).
    const channels: string[] = [];
    if (mail && a.notifiedAt) {
      await mailApprovers(deps, mail, a, true).then(
        () => channels.push('email'),
        (err: unknown) => deps.logger.warn({ approvalId: a.id, err: (err as Error).message }, 'approval reminder mail not sent'),
      );
    }
    if (slack && a.slackTs) {
      await remindInSlack(slack, a).then(
        () => channels.push('slack'),
        (err: unknown) => deps.logger.warn({ approvalId: a.id, err: (err as Error).message }, 'approval reminder not posted to Slack'),
      );
    }
    await audit(deps.prisma, { orgId: a.orgId, actorType: 'system', action: 'approval.reminded', target: a.id, sessionId: a.sessionId, data: { channels } });
  }
}
