/** The MCP clients a user let act as them over OAuth: list and revoke (api/services/oauth-grants.ts). */
import { z } from 'zod';
import { OAuthGrantRevokedAnswer, OAuthGrantsAnswer } from '../../common/api-answers';
import { defineRoute, type AnyRoute } from '../http/route';
import * as grants from '../services/oauth-grants';

export const listOAuthGrants = defineRoute({
  method: 'get',
  path: '/v1/oauth/grants',
  summary: 'The MCP clients you let act as you (OAuth): which client, in which organizations, with which scopes',
  tag: 'auth',
  auth: 'user',
  responses: { 200: 'The grants in force', 401: 'Not authenticated' },
  response: OAuthGrantsAnswer,
  async handler(ctx) {
    return { status: 200, body: { grants: await grants.grantsOf(ctx) } };
  },
});

export const revokeOAuthGrant = defineRoute({
  method: 'delete',
  path: '/v1/oauth/grants/:id',
  summary: "Revoke an MCP client's grant: its tokens stop working at once (audited in each org it covered)",
  tag: 'auth',
  auth: 'user',
  params: z.object({ id: z.uuid() }),
  responses: { 200: 'Revoked', 401: 'Not authenticated', 403: 'Missing CSRF token', 404: 'No such grant of yours' },
  response: OAuthGrantRevokedAnswer,
  async handler(ctx) {
    await grants.revokeOwnGrant(ctx, ctx.params.id);
    return { status: 200, body: { revoked: true as const } };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const oauthGrantRoutes: AnyRoute[] = [listOAuthGrants, revokeOAuthGrant];
