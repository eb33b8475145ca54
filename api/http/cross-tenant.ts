/**
 * Another organization's id answers exactly like an unknown id: the route's fenced query finds nothing and throws
 * the same 404. Only afterwards, off the response path, this probe asks (unfenced) whether the ids of the request
 * belong to another organization, and if so writes a `security.cross_tenant_access` event into that
 * organization's audit chain. Both kinds of 404 run the same probe, so they stay in the same timing class.
 */
import { Prisma } from '@prisma/client';
import { z } from 'zod';
import { audit } from '../../audit/log';
import type { Logger } from '../../lib/logger';
import type { PrismaClient } from '../../lib/prisma';
import { orgsWhere, type Principal } from './access';

/** Tables whose rows are addressed by id in routes, each with the column that names its organization. */
const ADDRESSABLE: [table: string, orgColumn: string][] = [
  ['Organization', 'id'],
  ['Site', 'orgId'],
  ['DeviceGroup', 'orgId'],
  ['Device', 'orgId'],
  ['CopilotSession', 'orgId'],
  ['ToolInvocation', 'orgId'],
  ['Approval', 'orgId'],
  ['Script', 'orgId'],
  ['EnrollmentKey', 'orgId'],
  ['RoleBinding', 'orgId'],
  ['DeviceCommand', 'orgId'],
  ['TerminalSession', 'orgId'],
  ['TerminalRecording', 'orgId'],
];

const PROBE = Prisma.raw(
  ADDRESSABLE.map(([table, column]) => `SELECT '${table}' AS "table", "${column}"::text AS "orgId" FROM "${table}" WHERE "id"::text = ANY($1::text[])`).join(' UNION ALL ') +
    ` UNION ALL SELECT 'Organization', "id"::text FROM "Organization" WHERE "slug" = ANY($1::text[])`,
);

const Candidate = z.string().min(1).max(100);

export function probeCrossTenant(system: PrismaClient, logger: Logger, principal: Principal, request: { method: string; path: string; ids: unknown[] }): void {
  const ids = request.ids.filter((v): v is string => Candidate.safeParse(v).success);
  if (ids.length === 0) return;
  const own = new Set(orgsWhere(principal));
  void (async () => {
    const rows = await system.$queryRawUnsafe<{ table: string; orgId: string }[]>(PROBE.sql, ids);
    for (const row of rows.filter((r) => !own.has(r.orgId))) {
      await audit(system, {
        orgId: row.orgId,
        actorType: 'user',
        actorId: principal.userId,
        action: 'security.cross_tenant_access',
        target: `${row.table}`,
        data: { method: request.method, path: request.path.slice(0, 300), email: principal.email },
      });
    }
  })().catch((err: unknown) => logger.warn({ err: (err as Error).message }, 'cross-tenant probe failed'));
}
