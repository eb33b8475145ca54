/**
 * Audit routes for the auditor role: the sessions of an org, and one session's export (histories with encoded
 * payloads, the org's audit events for it, and a manifest with the SHA-256 of every file), the same bundle
 * `npm run audit -- export` writes to disk. Another org's session, or one that reached a site outside an auditor's
 * sites, answers exactly like an unknown one.
 */
import { AuditExportAnswer, AuditSessionsAnswer } from '../../common/api-answers';
import { z } from 'zod';
import { exportSession } from '../../audit/export';
import { findOrgFor, findVisibleSession, Role, visibleSessions } from '../http/access';
import { IdParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';
import { temporalUnavailable } from '../http/temporal-errors';

export const listAuditSessions = defineRoute({
  method: 'get',
  path: '/v1/audit/sessions',
  summary: 'Copilot sessions of an organization, newest first (auditors)',
  tag: 'audit',
  auth: 'user',
  query: z
    .object({
      org: z.string().min(1).max(100).describe('Organization id or slug'),
      limit: z.coerce.number().int().min(1).max(500).default(100),
    })
    .strict(),
  responses: { 200: 'Sessions', 401: 'No valid API key', 404: 'Unknown organization' },
  response: AuditSessionsAnswer,
  async handler({ deps, principal, query }) {
    const org = await findOrgFor(deps, principal, query.org, [Role.Auditor]);
    const found = await deps.prisma.copilotSession.findMany({
      where: { orgId: org.id },
      orderBy: { createdAt: 'desc' },
      take: query.limit,
      select: { id: true, orgId: true, workflowId: true, userId: true, createdAt: true },
    });
    // An auditor narrowed to sites sees only sessions within them (or their own), as on every session read.
    const sessions = (await visibleSessions(deps, principal, found, [Role.Auditor])).map(({ orgId: _orgId, ...s }) => ({ ...s, createdAt: s.createdAt.toISOString() }));
    return { status: 200, body: { org: org.slug, sessions } };
  },
});

export const exportAuditSession = defineRoute({
  method: 'get',
  path: '/v1/audit/sessions/:id/export',
  summary: "One session's audit export: workflow histories, audit events and a manifest of SHA-256 hashes (auditors)",
  tag: 'audit',
  auth: 'user',
  params: IdParams,
  responses: { 200: 'The export: manifest and files (path → exact content)', 401: 'No valid API key', 404: 'Unknown session' },
  response: AuditExportAnswer,
  async handler({ deps, principal, params }) {
    const session = await findVisibleSession(deps, principal, params.id, [Role.Auditor]);
    const bundle = await exportSession({ prisma: deps.prisma, temporal: deps.temporal }, session.workflowId).catch((err: unknown) => {
      throw temporalUnavailable(err);
    });
    return { status: 200, body: { manifest: bundle.manifest, files: Object.fromEntries(bundle.files) } };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const auditRoutes: AnyRoute[] = [listAuditSessions, exportAuditSession];
