/**
 * The operations on enrollment keys, one each: an org admin mints a site-scoped key (shown once; only its hash is
 * kept), lists the org's keys, revokes one. Each is audited; the routes in routes/enrollment-keys.ts parse, call
 * and shape the answer.
 */
import { z } from 'zod';
// eslint-disable-next-line import-x/no-restricted-paths -- one of the two breaks api/README.md names
import { createEnrollmentKey } from '../../prisma/seed-demo';
import { AppError } from '../../lib/app-error';
import { audit } from '../../audit/log';
import { findOrgFor, orgIdOrSlug, orgsWhere, Role, rowFor } from '../http/access';
import type { Caller } from './caller';

/** Mints a key for a site (by name or id; the org's first site when none is named) of an org the caller administers. */
export async function mintEnrollmentKey({ deps, principal }: Caller, input: { org: string; site?: string; maxUses: number; ttlMinutes: number }) {
  const org = await deps.prisma.organization.findFirst({
    where: { id: { in: orgsWhere(principal, [Role.Admin]) }, ...orgIdOrSlug(input.org) },
  });
  if (!org) throw AppError.notFound('organization');
  const site = await deps.prisma.site.findFirst({
    where: { orgId: org.id, ...(input.site ? { OR: [{ name: input.site }, ...(z.uuid().safeParse(input.site).success ? [{ id: input.site }] : [])] } : {}) },
    orderBy: { createdAt: 'asc' },
  });
  if (!site) throw AppError.notFound('site');
  const key = await createEnrollmentKey(deps.prisma, { orgId: org.id, siteId: site.id, maxUses: input.maxUses, ttlMinutes: input.ttlMinutes });
  await audit(deps.prisma, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'enrollment_key.created', target: site.name, data: { maxUses: input.maxUses, ttlMinutes: input.ttlMinutes } });
  const expiresAt = new Date(Date.now() + input.ttlMinutes * 60_000);
  return { key, org, site, expiresAt };
}

export async function listEnrollmentKeys({ deps, principal }: Caller, orgRef: string) {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin]);
  const keys = await deps.prisma.enrollmentKey.findMany({ where: { orgId: org.id }, include: { site: true }, orderBy: { createdAt: 'asc' } });
  return { org, keys };
}

/** Revokes a key (its org's admins): no more devices enroll with it; revoking twice changes nothing. */
export async function revokeEnrollmentKey({ deps, system, principal }: Caller, keyId: string) {
  const key = rowFor(principal, await deps.prisma.enrollmentKey.findUnique({ where: { id: keyId }, include: { site: true } }), [Role.Admin], 'enrollment key');
  if (key.revokedAt) return key;
  const revoked = await deps.prisma.enrollmentKey.update({ where: { id: key.id }, data: { revokedAt: new Date() }, include: { site: true } });
  await audit(system, { orgId: key.orgId, actorType: 'user', actorId: principal.userId, action: 'enrollment_key.revoked', target: key.prefix, data: { keyId: key.id, site: key.site.name } });
  return revoked;
}
