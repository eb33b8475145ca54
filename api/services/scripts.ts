/**
 * The operations on an org's script library, one each: list it, add or replace a script, remove one. Changes are
 * the admins', audited with the SHA-256 of the body (and of the body it replaced); the routes in routes/scripts.ts
 * parse, call and shape the answer.
 */
import type { Prisma } from '@prisma/client';
import { AppError } from '../../lib/app-error';
import { audit } from '../../audit/log';
import { sha256 } from '../../lib/secrets';
import { findOrgFor, Role } from '../http/access';
import type { Caller } from './caller';

export async function listScripts({ deps, principal }: Caller, orgRef: string) {
  const org = await findOrgFor(deps, principal, orgRef);
  const scripts = await deps.prisma.script.findMany({ where: { orgId: org.id }, orderBy: { name: 'asc' } });
  return { org, scripts };
}

export interface ScriptInput {
  description: string;
  interpreter: 'bash' | 'powershell';
  body: string;
  parameters: Record<string, unknown>;
  /** Library scripts that check and undo this one (a remediation canary's read-back and roll back). */
  check?: string;
  undo?: string;
}

/** Adds or replaces the script `name` (admins). */
export async function saveScript({ deps, principal }: Caller, orgRef: string, name: string, input: ScriptInput) {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin]);
  const data = { description: input.description, interpreter: input.interpreter, body: input.body, parameters: input.parameters as Prisma.InputJsonValue, checkScript: input.check ?? null, undoScript: input.undo ?? null };
  return deps.prisma.$transaction(async (tx) => {
    const before = await tx.script.findUnique({ where: { orgId_name: { orgId: org.id, name } } });
    const script = await tx.script.upsert({ where: { orgId_name: { orgId: org.id, name } }, create: { orgId: org.id, name, ...data }, update: data });
    await audit(tx, {
      orgId: org.id,
      actorType: 'user',
      actorId: principal.userId,
      action: before ? 'script.updated' : 'script.created',
      target: name,
      data: { interpreter: input.interpreter, bodySha256: sha256(input.body), previousBodySha256: before ? sha256(before.body) : null, parameters: Object.keys(input.parameters), check: input.check ?? null, undo: input.undo ?? null },
    });
    return script;
  });
}

/** Removes the script `name` (admins); calls that name it are denied from then on. */
export async function removeScript({ deps, principal }: Caller, orgRef: string, name: string): Promise<void> {
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin]);
  const removed = await deps.prisma.$transaction(async (tx) => {
    const script = await tx.script.findUnique({ where: { orgId_name: { orgId: org.id, name } } });
    if (!script) return null;
    await tx.script.delete({ where: { id: script.id } });
    await audit(tx, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'script.deleted', target: name, data: { bodySha256: sha256(script.body) } });
    return script;
  });
  if (!removed) throw AppError.notFound('script');
}
