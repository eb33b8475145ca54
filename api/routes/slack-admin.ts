/**
 * Routes for the Slack approval channel: the org's channel (admins), and the Slack links: listed by their owner
 * and by the admins of the owner's orgs, removed by either. Nobody creates a link for someone else: the person
 * links their own account from Slack (api/services/slack-links.ts). A linked Slack user decides as that Gatehouse
 * user; the approver role is checked at decision time, so linking grants nothing by itself. The operations are
 * services/slack-admin.ts's and services/slack-links.ts's.
 */
import { NoAnswer, SlackChannelAnswer, SlackLinkRemovedAnswer, SlackLinksAnswer } from '../../common/api-answers';
import { z } from 'zod';
import { OrgParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';
import { refuseLinkForSomeoneElse, setSlackChannel } from '../services/slack-admin';
import { linkView, orgSlackLinks, ownSlackLinks, removeSlackLink, SlackId, SlackUserRef } from '../services/slack-links';

export const putSlackChannel = defineRoute({
  method: 'put',
  path: '/v1/orgs/:id/slack',
  summary: "Post the org's approvals to this Slack channel (admins)",
  tag: 'slack',
  auth: 'user',
  params: OrgParams,
  body: z.object({ teamId: SlackId, channelId: SlackId }).strict(),
  responses: { 200: 'Saved', 400: 'Invalid body', 401: 'No valid API key', 404: 'Unknown organization' },
  response: SlackChannelAnswer,
  async handler(ctx) {
    const org = await setSlackChannel(ctx, ctx.params.id, ctx.body);
    return { status: 200, body: { org: org.slug, ...ctx.body } };
  },
});

/**
 * The old admin route, kept so that a script or an admin still calling it gets a clear refusal (and an audit event)
 * instead of a bare 404: an admin's word that a Slack account is someone's is exactly what must not count.
 */
export const linkSlackUser = defineRoute({
  method: 'post',
  path: '/v1/orgs/:id/slack/users',
  summary: 'Refused: Slack accounts are linked only by their owner (/gatehouse link in Slack)',
  tag: 'slack',
  auth: 'user',
  params: OrgParams,
  body: z.object({ teamId: SlackId, slackUserId: SlackId, email: z.email().max(320) }).strict(),
  responses: { 400: 'Invalid body', 401: 'No valid API key', 403: 'Always: links are made by their owner', 404: 'Unknown organization' },
  response: NoAnswer,
  async handler(ctx) {
    return refuseLinkForSomeoneElse(ctx, ctx.params.id, ctx.body);
  },
});

export const listOrgSlackUsers = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/slack/users',
  summary: "The Slack accounts linked to users of the org (admins); each was linked by its owner",
  tag: 'slack',
  auth: 'user',
  params: OrgParams,
  responses: { 200: 'The links', 401: 'No valid API key', 404: 'Unknown organization' },
  response: SlackLinksAnswer,
  async handler(ctx) {
    return { status: 200, body: { links: (await orgSlackLinks(ctx, ctx.params.id)).map(linkView) } };
  },
});

export const listMySlackLinks = defineRoute({
  method: 'get',
  path: '/v1/slack/links',
  summary: 'The Slack accounts linked to you (link one by typing /gatehouse link in Slack)',
  tag: 'slack',
  auth: 'user',
  responses: { 200: 'Your links', 401: 'Not authenticated' },
  response: SlackLinksAnswer,
  async handler(ctx) {
    return { status: 200, body: { links: (await ownSlackLinks(ctx)).map(linkView) } };
  },
});

export const deleteSlackLink = defineRoute({
  method: 'delete',
  path: '/v1/slack/links',
  summary: "Remove a Slack link: your own, or (org admins) one of a user of an org you administer",
  tag: 'slack',
  auth: 'user',
  body: SlackUserRef,
  responses: { 200: 'Removed', 400: 'Invalid body', 401: 'Not authenticated', 404: 'No such link of yours or of your orgs\' users' },
  response: SlackLinkRemovedAnswer,
  async handler(ctx) {
    await removeSlackLink(ctx, ctx.body);
    return { status: 200, body: { removed: true, ...ctx.body } };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const slackAdminRoutes: AnyRoute[] = [putSlackChannel, linkSlackUser, listOrgSlackUsers, listMySlackLinks, deleteSlackLink];
