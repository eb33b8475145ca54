/**
 * An org's script library: the only scripts `run_library_script` and library remediations can run. Everyone with
 * a role in the org reads it; admins add, change and remove scripts, audited with the SHA-256 of the body. A
 * changed body changes the digest of any call that uses it, so a pending approval for the old body cannot run
 * the new one. The operations are services/scripts.ts's.
 */
import { ScriptAnswer, ScriptRemovedAnswer, ScriptsAnswer } from '../../common/api-answers';
import { z } from 'zod';
import { sha256 } from '../../lib/secrets';
import { ScriptParameters } from '../../common/script-parameters';
import { OrgParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';
import { listScripts as scriptsOf, removeScript, saveScript } from '../services/scripts';

const ScriptName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a script name: lower-case letters, digits and -, at most 63');

const view = (s: { name: string; description: string; interpreter: string; body: string; parameters: unknown; checkScript: string | null; undoScript: string | null; updatedAt: Date }) => ({
  name: s.name,
  description: s.description,
  interpreter: s.interpreter,
  body: s.body,
  bodySha256: sha256(s.body),
  parameters: s.parameters,
  check: s.checkScript,
  undo: s.undoScript,
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
  async handler(ctx) {
    const { org, scripts } = await scriptsOf(ctx, ctx.params.id);
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
      check: ScriptName.optional().describe("The library script that checks this one worked (exit 0): a remediation canary's read-back"),
      undo: ScriptName.optional().describe("The library script that undoes this one: a failed canary's roll back"),
    })
    .strict(),
  responses: { 200: 'Saved', 400: 'Invalid body', 401: 'No valid API key', 404: 'Unknown organization' },
  response: ScriptAnswer,
  async handler(ctx) {
    const saved = await saveScript(ctx, ctx.params.id, ctx.params.name, ctx.body);
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
  async handler(ctx) {
    await removeScript(ctx, ctx.params.id, ctx.params.name);
    return { status: 200, body: { removed: ctx.params.name } };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const scriptRoutes: AnyRoute[] = [listScripts, putScript, deleteScript];
