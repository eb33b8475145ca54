/**
 * An org's script library: the only scripts `run_library_script` and library remediations can run. Everyone with
 * a role in the org reads it; admins add, change and remove scripts, audited with the SHA-256 of the body. A
 * changed body changes the digest of any call that uses it, so a pending approval for the old body cannot run
 * the new one.
 */
import { ScriptAnswer, ScriptRemovedAnswer, ScriptsAnswer } from '../../common/api-answers';
import type { Prisma } from '@prisma/client';
import { z } from 'zod';
import { AppError } from '../../lib/app-error';
import { audit } from '../../audit/log';
import { sha256 } from '../../lib/secrets';
import { ScriptParameters } from '../../common/script-parameters';
import { findOrgFor, Role } from '../http/access';
import { OrgParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';

const ScriptName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a script name: lower-case letters, digits and -, at most 63');

const view = (s: { name: string; description: string; interpreter: string; body: string; parameters: unknown; updatedAt: Date }) => ({
  name: s.name,
  description: s.description,
  interpreter: s.interpreter,
  body: s.body,
  bodySha256: sha256(s.body),
  parameters: s.parameters,
  updatedAt: s.updatedAt.toISOString(),
});

export const listScripts = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/scripts',
  summary: "The org's script library",
  tag: 'scripts',
  auth: 'user',
  params: OrgParams,
  responses: { 200: 'Scripts', 401: 'No valid API key', 404: 'Unknown organization' },
  response: ScriptsAnswer,
  async handler({ deps, principal, params }) {
    const org = await findOrgFor(deps, principal, params.id);
    const scripts = await deps.prisma.script.findMany({ where: { orgId: org.id }, orderBy: { name: 'asc' } });
    return { status: 200, body: { org: org.slug, scripts: scripts.map(view) } };
  },
});

export const putScript = defineRoute({
  method: 'put',
  path: '/v1/orgs/:id/scripts/:name',
  summary: 'Add or replace a library script: interpreter, body and the parameters it takes (admins)',
  tag: 'scripts',
  auth: 'user',
  params: OrgParams.extend({ name: ScriptName }),
  body: z
    .object({
      description: z.string().min(1).max(500),
      interpreter: z.enum(['bash', 'powershell']),
      body: z.string().min(1).max(64 * 1024),
      parameters: ScriptParameters.default({}),
    })
    .strict(),
  responses: { 200: 'Saved', 400: 'Invalid body', 401: 'No valid API key', 404: 'Unknown organization' },
  response: ScriptAnswer,
  async handler({ deps, principal, params, body }) {
    const org = await findOrgFor(deps, principal, params.id, [Role.Admin]);
    const data = { description: body.description, interpreter: body.interpreter, body: body.body, parameters: body.parameters as Prisma.InputJsonValue };
    const saved = await deps.prisma.$transaction(async (tx) => {
      const before = await tx.script.findUnique({ where: { orgId_name: { orgId: org.id, name: params.name } } });
      const script = await tx.script.upsert({ where: { orgId_name: { orgId: org.id, name: params.name } }, create: { orgId: org.id, name: params.name, ...data }, update: data });
      await audit(tx, {
        orgId: org.id,
        actorType: 'user',
        actorId: principal.userId,
        action: before ? 'script.updated' : 'script.created',
        target: params.name,
        data: { interpreter: body.interpreter, bodySha256: sha256(body.body), previousBodySha256: before ? sha256(before.body) : null, parameters: Object.keys(body.parameters) },
      });
      return script;
    });
    return { status: 200, body: view(saved) };
  },
});

export const deleteScript = defineRoute({
  method: 'delete',
  path: '/v1/orgs/:id/scripts/:name',
  summary: 'Remove a library script (admins); calls that name it are denied from then on',
  tag: 'scripts',
  auth: 'user',
  params: OrgParams.extend({ name: ScriptName }),
  responses: { 200: 'Removed', 401: 'No valid API key', 404: 'Unknown organization or script' },
  response: ScriptRemovedAnswer,
  async handler({ deps, principal, params }) {
    const org = await findOrgFor(deps, principal, params.id, [Role.Admin]);
    const removed = await deps.prisma.$transaction(async (tx) => {
      const script = await tx.script.findUnique({ where: { orgId_name: { orgId: org.id, name: params.name } } });
      if (!script) return null;
      await tx.script.delete({ where: { id: script.id } });
      await audit(tx, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'script.deleted', target: params.name, data: { bodySha256: sha256(script.body) } });
      return script;
    });
    if (!removed) throw AppError.notFound('script');
    return { status: 200, body: { removed: params.name } };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const scriptRoutes: AnyRoute[] = [listScripts, putScript, deleteScript];
