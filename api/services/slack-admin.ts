/**
 * The org admins' Slack operations: set the channel the org's approvals are posted to, and refuse (audited) the old
 * request to link a Slack account on someone else's behalf. The links themselves are services/slack-links.ts's.
 */
import { AppError, AppErrorCode } from '../../lib/app-error';
import { audit } from '../../audit/log';
import { findOrgFor, Role } from '../http/access';
import type { Caller } from './caller';

export async function setSlackChannel({ deps, principal }: Caller, orgRef: string, channel: { teamId: string; channelId: string }) {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin]);
  await deps.prisma.slackChannel.upsert({ where: { orgId: org.id }, create: { orgId: org.id, ...channel }, update: channel });
  await audit(deps.prisma, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'slack.channel_set', target: org.slug, data: channel });
  return org;
}

/** An admin's word that a Slack account is someone's is exactly what must not count: always refused, and audited. */
export async function refuseLinkForSomeoneElse({ deps, principal }: Caller, orgRef: string, input: { teamId: string; slackUserId: string; email: string }): Promise<never> {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin]);
  await audit(deps.prisma, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'slack.link_refused', target: input.email, data: { teamId: input.teamId, slackUserId: input.slackUserId, why: 'linking on behalf of someone else' } });
  throw new AppError(AppErrorCode.Forbidden, 'a Slack account can only be linked by its owner: ask them to type /gatehouse link in Slack and confirm while signed in to Gatehouse');
}
