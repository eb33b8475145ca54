/**
 * Admin routes for the Slack approval channel: the org's channel, and which Slack user is which Gatehouse user.
 * A linked Slack user decides as that Gatehouse user; the approver role is checked at decision time, so linking
 * grants nothing by itself.
 */
import { z } from 'zod';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { audit } from '../../lib/audit';
import { Role } from '../http/auth';
import { OrgParams } from '../http/params';
import { defineRoute } from '../http/route';
import { findOrgFor } from './orgs';

const SlackId = z.string().regex(/^[A-Z0-9]{2,30}$/, 'a Slack id (upper-case letters and digits)');

export const putSlackChannel = defineRoute({
  method: 'put',
  path: '/v1/orgs/:id/slack',
  summary: "Post the org's approvals to this Slack channel (admins)",
  tag: 'slack',
  auth: 'user',
  params: OrgParams,
  body: z.object({ teamId: SlackId, channelId: SlackId }).strict(),
  responses: { 200: 'Saved', 400: 'Invalid body', 401: 'No valid API key', 404: 'Unknown organization' },
  async handler({ deps, principal, params, body }) {
    const org = await findOrgFor(deps, principal, params.id, [Role.Admin]);
    await deps.prisma.slackChannel.upsert({ where: { orgId: org.id }, create: { orgId: org.id, ...body }, update: body });
    await audit(deps.prisma, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'slack.channel_set', target: org.slug, data: body });
    return { status: 200, body: { org: org.slug, ...body } };
  },
});

export const linkSlackUser = defineRoute({
  method: 'post',
  path: '/v1/orgs/:id/slack/users',
  summary: 'Link a Slack user (team id + user id) to a Gatehouse user of the org (admins)',
  tag: 'slack',
  auth: 'user',
  params: OrgParams,
  body: z.object({ teamId: SlackId, slackUserId: SlackId, email: z.email().max(320) }).strict(),
  responses: { 201: 'Linked', 400: 'Invalid body', 401: 'No valid API key', 404: 'Unknown organization or user', 409: 'Linked by another partner' },
  async handler({ deps, system, principal, params, body }) {
    const org = await findOrgFor(deps, principal, params.id, [Role.Admin]);
    const user = await deps.prisma.user.findFirst({ where: { email: body.email, roleBindings: { some: { orgId: org.id } } } });
    if (!user) throw AppError.notFound('user');
    // A Slack workspace belongs to one partner: a link made by another partner is not this one's to move.
    const existing = await system.slackUserLink.findUnique({ where: { teamId_slackUserId: { teamId: body.teamId, slackUserId: body.slackUserId } }, select: { userId: true } });
    if (existing && !(await deps.prisma.user.findUnique({ where: { id: existing.userId }, select: { id: true } }))) {
      throw new AppError(AppErrorCode.Conflict, 'this Slack user is linked to a user of another partner');
    }
    const link = await deps.prisma.slackUserLink.upsert({
      where: { teamId_slackUserId: { teamId: body.teamId, slackUserId: body.slackUserId } },
      create: { teamId: body.teamId, slackUserId: body.slackUserId, userId: user.id },
      update: { userId: user.id },
    });
    await audit(deps.prisma, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'slack.user_linked', target: user.email, data: { teamId: body.teamId, slackUserId: body.slackUserId } });
    return { status: 201, body: { id: link.id, teamId: link.teamId, slackUserId: link.slackUserId, email: user.email } };
  },
});
