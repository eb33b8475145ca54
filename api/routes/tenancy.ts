/**
 * The tenant tree below the partner: organizations (partner admins create them), their sites and device groups
 * (the org's admins), and where a device sits. Every change is audited; another org's id answers like an
 * unknown one. The operations are services/tenancy.ts's.
 */
import { DeviceUpdatedAnswer, GroupCreatedAnswer, OrgCreatedAnswer, OrgsAnswer, RemovedAnswer, SiteCreatedAnswer, SitesAnswer } from '../../common/api-answers';
import { z } from 'zod';
import { IdParams, OrgParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';
import * as tenancy from '../services/tenancy';

const Name = z.string().trim().min(1).max(100);
const Slug = z
  .string()
  .min(2)
  .max(60)
  .regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and hyphens, starting with a letter or digit');

export const listOrgs = defineRoute({
  method: 'get',
  path: '/v1/orgs',
  summary: 'The organizations you hold a role in, with your roles',
  tag: 'orgs',
  auth: 'user',
  responses: { 200: 'The organizations', 401: 'Not authenticated' },
  response: OrgsAnswer,
  async handler(ctx) {
    return { status: 200, body: { orgs: await tenancy.listOrgs(ctx) } };
  },
});

export const createOrg = defineRoute({
  method: 'post',
  path: '/v1/orgs',
  summary: 'Create an organization of your partner with a first site; you become its admin (partner admins)',
  tag: 'orgs',
  auth: 'user',
  body: z.object({ slug: Slug, name: Name, site: Name.default('Main') }).strict(),
  responses: { 201: 'Created', 400: 'Invalid body', 401: 'Not authenticated', 403: 'Not a partner admin', 409: 'Slug taken' },
  response: OrgCreatedAnswer,
  async handler(ctx) {
    const { org, site } = await tenancy.createOrg(ctx, ctx.body);
    return { status: 201, body: { id: org.id, slug: org.slug, name: org.name, sites: [{ id: site.id, name: site.name }] } };
  },
});

export const listSites = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/sites',
  summary: 'Sites of the organization with their device groups and device counts',
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  responses: { 200: 'The sites', 401: 'Not authenticated', 404: 'Unknown organization' },
  response: SitesAnswer,
  async handler(ctx) {
    const { org, sites } = await tenancy.listSites(ctx, ctx.params.id);
    return {
      status: 200,
      body: {
        org: org.slug,
        sites: sites.map((s) => ({
          id: s.id,
          name: s.name,
          devices: s._count.devices,
          groups: s.groups.map((g) => ({ id: g.id, name: g.name, devices: g._count.devices })),
        })),
      },
    };
  },
});

export const createSite = defineRoute({
  method: 'post',
  path: '/v1/orgs/:id/sites',
  summary: 'Add a site to the organization (its admins)',
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  body: z.object({ name: Name }).strict(),
  responses: { 201: 'Created', 400: 'Invalid body', 401: 'Not authenticated', 404: 'Unknown organization', 409: 'Name taken' },
  response: SiteCreatedAnswer,
  async handler(ctx) {
    const { org, site } = await tenancy.createSite(ctx, ctx.params.id, ctx.body.name);
    return { status: 201, body: { id: site.id, name: site.name, org: org.slug } };
  },
});

export const deleteSite = defineRoute({
  method: 'delete',
  path: '/v1/sites/:id',
  summary: 'Remove an empty site: no devices, groups or enrollment keys left (its org\'s admins)',
  tag: 'orgs',
  auth: 'user',
  params: IdParams,
  responses: { 200: 'Removed', 401: 'Not authenticated', 404: 'Unknown site', 409: 'Not empty' },
  response: RemovedAnswer,
  async handler(ctx) {
    await tenancy.removeSite(ctx, ctx.params.id);
    return { status: 200, body: { removed: true } };
  },
});

export const createGroup = defineRoute({
  method: 'post',
  path: '/v1/sites/:id/groups',
  summary: 'Add a device group to a site (its org\'s admins)',
  tag: 'orgs',
  auth: 'user',
  params: IdParams,
  body: z.object({ name: Name }).strict(),
  responses: { 201: 'Created', 400: 'Invalid body', 401: 'Not authenticated', 404: 'Unknown site', 409: 'Name taken' },
  response: GroupCreatedAnswer,
  async handler(ctx) {
    const group = await tenancy.createGroup(ctx, ctx.params.id, ctx.body.name);
    return { status: 201, body: { id: group.id, name: group.name, siteId: group.siteId } };
  },
});

export const deleteGroup = defineRoute({
  method: 'delete',
  path: '/v1/groups/:id',
  summary: 'Remove a device group; its devices stay in the site without a group (its org\'s admins)',
  tag: 'orgs',
  auth: 'user',
  params: IdParams,
  responses: { 200: 'Removed', 401: 'Not authenticated', 404: 'Unknown group' },
  response: RemovedAnswer,
  async handler(ctx) {
    await tenancy.removeGroup(ctx, ctx.params.id);
    return { status: 200, body: { removed: true } };
  },
});

export const moveDevice = defineRoute({
  method: 'patch',
  path: '/v1/devices/:id',
  summary: 'Rename a device or move it to another site or group of its organization (its org\'s admins)',
  tag: 'devices',
  auth: 'user',
  params: IdParams,
  body: z
    .object({ name: Name.optional(), siteId: z.uuid().optional(), groupId: z.uuid().nullable().optional() })
    .strict()
    .refine((b) => Object.keys(b).length > 0, 'nothing to change'),
  responses: { 200: 'Updated', 400: 'Invalid body', 401: 'Not authenticated', 404: 'Unknown device, site or group', 409: 'Name taken in the organization' },
  response: DeviceUpdatedAnswer,
  async handler(ctx) {
    const updated = await tenancy.moveDevice(ctx, ctx.params.id, ctx.body);
    return { status: 200, body: { id: updated.id, name: updated.name, siteId: updated.siteId, groupId: updated.groupId } };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const tenancyRoutes: AnyRoute[] = [listOrgs, createOrg, listSites, createSite, deleteSite, createGroup, deleteGroup, moveDevice];
