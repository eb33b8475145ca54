/**
 * Org admins mint site-scoped enrollment keys for new endpoints. The key is shown once; only its hash is kept. The
 * operations are services/enrollment-keys.ts's.
 */
import { EnrollmentKeyAnswer, EnrollmentKeyCreatedAnswer, EnrollmentKeysAnswer } from '../../common/api-answers';
import { z } from 'zod';
import type { EnrollmentKey } from '@prisma/client';
import { IdParams, OrgParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';
import * as enrollmentKeys from '../services/enrollment-keys';

export const createEnrollmentKeyRoute = defineRoute({
  method: 'post',
  path: '/v1/enrollment-keys',
  summary: 'Create an enrollment key for a site (org admins)',
  tag: 'agents',
  auth: 'user',
  body: z
    .object({
      org: z.string().min(1).max(100).describe('Organization slug or id'),
      site: z.string().min(1).max(100).optional().describe('Site name or id (default: the organization\'s first site)'),
      maxUses: z.number().int().min(1).max(10_000).default(1),
      ttlMinutes: z.number().int().min(1).max(30 * 24 * 60).default(60),
    })
    .strict(),
  responses: { 201: 'The key, shown once', 400: 'Invalid body', 401: 'No valid API key', 404: 'Unknown organization or site' },
  response: EnrollmentKeyCreatedAnswer,
  async handler(ctx) {
    const { key, org, site, expiresAt } = await enrollmentKeys.mintEnrollmentKey(ctx, ctx.body);
    return { status: 201, body: { key, org: org.slug, site: site.name, maxUses: ctx.body.maxUses, expiresAt: expiresAt.toISOString() } };
  },
});

const keyView = (k: EnrollmentKey & { site: { name: string } }) => ({
  id: k.id,
  prefix: k.prefix,
  site: k.site.name,
  siteId: k.siteId,
  maxUses: k.maxUses,
  useCount: k.useCount,
  expiresAt: k.expiresAt.toISOString(),
  revokedAt: k.revokedAt?.toISOString() ?? null,
  createdAt: k.createdAt.toISOString(),
});

export const listEnrollmentKeys = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/enrollment-keys',
  summary: "The organization's enrollment keys: prefix, site, uses, expiry, revocation (its admins; never the key)",
  tag: 'agents',
  auth: 'user',
  params: OrgParams,
  responses: { 200: 'The keys', 401: 'Not authenticated', 404: 'Unknown organization' },
  response: EnrollmentKeysAnswer,
  async handler(ctx) {
    const { org, keys } = await enrollmentKeys.listEnrollmentKeys(ctx, ctx.params.id);
    return { status: 200, body: { org: org.slug, keys: keys.map(keyView) } };
  },
});

export const revokeEnrollmentKey = defineRoute({
  method: 'delete',
  path: '/v1/enrollment-keys/:id',
  summary: 'Revoke an enrollment key: no more devices enroll with it (its org\'s admins)',
  tag: 'agents',
  auth: 'user',
  params: IdParams,
  responses: { 200: 'Revoked', 401: 'Not authenticated', 404: 'Unknown key' },
  response: EnrollmentKeyAnswer,
  async handler(ctx) {
    const revoked = await enrollmentKeys.revokeEnrollmentKey(ctx, ctx.params.id);
    return { status: 200, body: keyView(revoked) };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const enrollmentKeyRoutes: AnyRoute[] = [createEnrollmentKeyRoute, listEnrollmentKeys, revokeEnrollmentKey];
