/**
 * How much an e-mailed approval link is worth in an org. T4 links always need the approver's own signed-in
 * session (api/pages/approval-link.ts); an org's admins can require it for every tier, so that no link alone,
 * forwarded or read from a mail log, decides anything in the org. Changes are audited (services/orgs.ts).
 */
import { EmailApprovalsAnswer } from '../../common/api-answers';
import { z } from 'zod';
import { OrgParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';
import * as orgs from '../services/orgs';

const view = (org: { slug: string; emailLinksNeedSignIn: boolean }) => ({ org: org.slug, signInForEveryTier: org.emailLinksNeedSignIn, signInForT4: true });

export const getEmailApprovals = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/email-approvals',
  summary: "Whether the org's e-mailed approval links need the approver's signed-in session for every tier (T4 always does)",
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  responses: { 200: 'The setting', 401: 'Not authenticated', 404: 'Unknown organization' },
  response: EmailApprovalsAnswer,
  async handler(ctx) {
    return { status: 200, body: view(await orgs.emailApprovalRule(ctx, ctx.params.id)) };
  },
});

export const putEmailApprovals = defineRoute({
  method: 'put',
  path: '/v1/orgs/:id/email-approvals',
  summary: "Require the approver's signed-in session on e-mailed approval links of every tier, or only T4 (admins; audited)",
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  body: z.object({ signInForEveryTier: z.boolean() }).strict(),
  responses: { 200: 'Saved', 400: 'Invalid body', 401: 'Not authenticated', 404: 'Unknown organization' },
  response: EmailApprovalsAnswer,
  async handler(ctx) {
    return { status: 200, body: view(await orgs.setEmailApprovalRule(ctx, ctx.params.id, ctx.body.signInForEveryTier)) };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const emailApprovalRoutes: AnyRoute[] = [getEmailApprovals, putEmailApprovals];
