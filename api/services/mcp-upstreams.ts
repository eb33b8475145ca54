/**
 * Upstream MCP servers behind Gatehouse, one org's: an admin registers one (a command the worker runs over stdio,
 * among those the operator allows, or a Streamable HTTP URL); its tools join the org's catalog as
 * `upstream.<server>.<tool>` and run only through the cage (authorization, approval, the worker's activity).
 *
 * At registration every tool's definition (title, description, input schema) is scanned for tool poisoning
 * (cage/tool-poisoning.ts) and pinned by its SHA-256: a flagged tool is disabled, the rest are enabled at T3 until an
 * admin assigns a tier. A refresh (or the worker, before a call) that finds a definition other than the pinned one
 * disables the tool ("changed") until an admin approves the new definition by its hash, which is scanned first.
 * Every change is audited. Everyone with a role in the org may list them.
 */
import { Prisma } from '@prisma/client';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { scanToolDefinition } from '../../cage/tool-poisoning';
import { Tier } from '../../common/tier';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { connectUpstream, definitionHash, definitionOf, listUpstreamTools, NO_UPSTREAMS, targetOf, qualifiedName, refusal, UPSTREAM_TOOL_NAME, type UpstreamTarget } from '../../lib/mcp-upstream';
import { audit } from '../../audit/log';
import { findOrgFor, Role } from '../http/access';
import type { Caller } from './caller';

export type UpstreamInput = { name: string } & UpstreamTarget;

type UpstreamRow = Prisma.McpUpstreamGetPayload<{ include: { tools: true } }>;

/** The tools the upstream lists, as Gatehouse reads them (refused: names that cannot be a catalog name). */
async function announced(caller: Caller, target: UpstreamTarget): Promise<{ tools: Tool[]; refused: string[] }> {
  const rules = caller.deps.config.mcpUpstream ?? NO_UPSTREAMS;
  const why = await refusal(target, rules);
  if (why) throw new AppError(AppErrorCode.BadRequest, `upstream refused: ${why}`);
  let client;
  try {
    client = await connectUpstream(target, rules);
  } catch (err) {
    caller.deps.logger.warn({ err: (err as Error).message }, 'upstream MCP server unreachable');
    throw new AppError(AppErrorCode.BadRequest, 'the upstream MCP server could not be started or reached, or did not complete the MCP handshake', { cause: err });
  }
  try {
    const all = await listUpstreamTools(client);
    return { tools: all.filter((t) => UPSTREAM_TOOL_NAME.test(t.name)), refused: all.filter((t) => !UPSTREAM_TOOL_NAME.test(t.name)).map((t) => t.name.slice(0, 100)) };
  } catch (err) {
    throw new AppError(AppErrorCode.BadRequest, 'the upstream MCP server did not list its tools', { cause: err });
  } finally {
    await client.close().catch(() => undefined);
  }
}

/** A tool as it is pinned: its definition, hash, scan and status. */
function pinned(tool: Tool) {
  const d = definitionOf(tool);
  const scan = scanToolDefinition(d);
  return { name: tool.name, title: d.title, description: d.description, inputSchema: d.inputSchema as Prisma.InputJsonValue, sha256: definitionHash(tool.name, d), status: scan.flagged ? 'flagged' : 'enabled', findings: scan.categories };
}

export async function registerUpstream(caller: Caller, orgRef: string, input: UpstreamInput): Promise<UpstreamRow & { refusedTools: string[] }> {
  const { deps, principal, system } = caller;
  const org = await findOrgFor(deps, principal, orgRef, [Role.Admin]);
  if (await deps.prisma.mcpUpstream.findUnique({ where: { orgId_name: { orgId: org.id, name: input.name } } })) {
    throw new AppError(AppErrorCode.Conflict, `an upstream named "${input.name}" is already registered in this organization`);
  }
  const target: UpstreamTarget = input.transport === 'stdio' ? { transport: 'stdio', command: input.command, args: input.args } : { transport: 'http', url: input.url };
  let listed;
  try {
    listed = await announced(caller, target);
  } catch (err) {
    await audit(system, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'mcp_upstream.refused', target: input.name, data: { ...describe(target), reason: (err as Error).message } });
    throw err;
  }
  const tools = listed.tools.map(pinned);
  const upstream = await deps.prisma.$transaction(async (tx) => {
    const created = await tx.mcpUpstream.create({
      data: {
        orgId: org.id,
        name: input.name,
        transport: target.transport,
        command: target.transport === 'stdio' ? target.command : null,
        args: target.transport === 'stdio' ? target.args : [],
        url: target.transport === 'http' ? target.url : null,
        createdBy: principal.userId,
        tools: { create: tools.map((t) => ({ ...t, orgId: org.id, tier: Tier.T3 })) },
      },
      include: { tools: { orderBy: { name: 'asc' } } },
    });
    await audit(tx, {
      orgId: org.id,
      actorType: 'user',
      actorId: principal.userId,
      action: 'mcp_upstream.registered',
      target: input.name,
      data: { ...describe(target), tools: tools.map((t) => ({ name: t.name, sha256: t.sha256, status: t.status })), refusedTools: listed.refused },
    });
    for (const t of tools.filter((x) => x.status === 'flagged')) {
      await audit(tx, { orgId: org.id, actorType: 'system', action: 'mcp_upstream.tool_flagged', target: qualifiedName(input.name, t.name), data: { sha256: t.sha256, categories: t.findings } });
    }
    return created;
  });
  return { ...upstream, refusedTools: listed.refused };
}

const describe = (t: UpstreamTarget) => (t.transport === 'stdio' ? { transport: t.transport, command: t.command, args: t.args } : { transport: t.transport, url: t.url });

export async function listUpstreams({ deps, principal }: Caller, orgRef: string) {
  const org = await findOrgFor(deps, principal, orgRef);
  const upstreams = await deps.prisma.mcpUpstream.findMany({ where: { orgId: org.id }, include: { tools: { orderBy: { name: 'asc' } } }, orderBy: { name: 'asc' } });
  return { org, upstreams };
}

async function upstreamOf({ deps, principal }: Caller, orgRef: string, name: string, roles?: Role[]) {
  const org = await findOrgFor(deps, principal, orgRef, roles);
  const upstream = await deps.prisma.mcpUpstream.findUnique({ where: { orgId_name: { orgId: org.id, name } }, include: { tools: { orderBy: { name: 'asc' } } } });
  if (!upstream) throw AppError.notFound('upstream');
  return { org, upstream };
}

export async function getUpstream(caller: Caller, orgRef: string, name: string) {
  return (await upstreamOf(caller, orgRef, name)).upstream;
}

/**
 * Reads the upstream's tools again (admins): a definition other than the pinned one disables its tool until an admin
 * approves it; a new tool is pinned and scanned as at registration. A tool the upstream no longer lists stays (a call
 * of it fails at the upstream).
 */
export async function refreshUpstream(caller: Caller, orgRef: string, name: string) {
  const { deps, principal } = caller;
  const { org, upstream } = await upstreamOf(caller, orgRef, name, [Role.Admin]);
  const { tools } = await announced(caller, { ...targetOf(upstream) });
  await deps.prisma.$transaction(async (tx) => {
    for (const live of tools) {
      const now = pinned(live);
      const row = upstream.tools.find((t) => t.name === live.name);
      if (!row) {
        await tx.mcpUpstreamTool.create({ data: { ...now, orgId: org.id, upstreamId: upstream.id, tier: Tier.T3 } });
        await audit(tx, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: now.status === 'flagged' ? 'mcp_upstream.tool_flagged' : 'mcp_upstream.tool_added', target: qualifiedName(name, live.name), data: { sha256: now.sha256, categories: now.findings } });
        continue;
      }
      if (row.sha256 === now.sha256 || row.pendingSha256 === now.sha256) continue;
      await tx.mcpUpstreamTool.update({
        where: { id: row.id },
        data: { status: row.status === 'flagged' ? 'flagged' : 'changed', pendingTitle: now.title, pendingDescription: now.description, pendingInputSchema: now.inputSchema, pendingSha256: now.sha256 },
      });
      await audit(tx, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'mcp_upstream.tool_changed', target: qualifiedName(name, row.name), data: { pinnedSha256: row.sha256, announcedSha256: now.sha256, categories: now.findings } });
    }
  });
  return (await upstreamOf(caller, orgRef, name)).upstream;
}

async function toolOf(caller: Caller, orgRef: string, server: string, tool: string) {
  const { org, upstream } = await upstreamOf(caller, orgRef, server, [Role.Admin]);
  const row = upstream.tools.find((t) => t.name === tool);
  if (!row) throw AppError.notFound('upstream tool');
  return { org, upstream, row };
}

/**
 * Approves the definition the upstream now announces for a changed tool (admins), named by its hash so the admin
 * approves what they read: it is scanned first (a flagged one is refused), then pinned and the tool enabled.
 */
export async function approveToolChange(caller: Caller, orgRef: string, server: string, tool: string, sha256: string) {
  const { deps, principal } = caller;
  const { org, row } = await toolOf(caller, orgRef, server, tool);
  if (row.status !== 'changed' || !row.pendingSha256 || row.pendingDescription === null || row.pendingInputSchema === null) {
    throw new AppError(AppErrorCode.Conflict, 'this tool has no change waiting for approval');
  }
  if (row.pendingSha256 !== sha256) throw new AppError(AppErrorCode.Conflict, `the change waiting is ${row.pendingSha256}, not ${sha256}: read it again`);
  const scan = scanToolDefinition({ title: row.pendingTitle, description: row.pendingDescription, inputSchema: row.pendingInputSchema });
  const name = qualifiedName(server, tool);
  if (scan.flagged) {
    await audit(deps.prisma, { orgId: org.id, actorType: 'system', action: 'mcp_upstream.tool_flagged', target: name, data: { sha256, categories: scan.categories } });
    throw new AppError(AppErrorCode.Conflict, `the new definition was flagged as a prompt injection (${scan.categories.join(', ')}); it cannot be approved`);
  }
  return deps.prisma.$transaction(async (tx) => {
    const updated = await tx.mcpUpstreamTool.update({
      where: { id: row.id },
      data: {
        title: row.pendingTitle,
        description: row.pendingDescription!,
        inputSchema: row.pendingInputSchema as Prisma.InputJsonValue,
        sha256,
        status: 'enabled',
        findings: scan.categories,
        pendingTitle: null,
        pendingDescription: null,
        pendingInputSchema: Prisma.DbNull,
        pendingSha256: null,
      },
    });
    await audit(tx, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'mcp_upstream.tool_change_approved', target: name, data: { previousSha256: row.sha256, sha256 } });
    return updated;
  });
}

/** Assigns a tool's tier (admins); audited with the tier it had. */
export async function setToolTier(caller: Caller, orgRef: string, server: string, tool: string, tier: Tier) {
  const { deps, principal } = caller;
  const { org, row } = await toolOf(caller, orgRef, server, tool);
  // Every upstream tool starts at T3 (a tool nobody has judged yet needs a human). Below that is a lowering, as for
  // a built-in tool's default (docs/policy.md): only with a partner admin's allowance for this org. Without this, the
  // registered tier would be a way around the rule the policy document keeps.
  if (tier < Tier.T3 && org.policyLoweringAllowedAt === null) {
    await audit(deps.prisma, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'policy.lowering_refused', target: org.slug, data: { lowered: [`${qualifiedName(server, tool)} T${tier}`] } });
    throw new AppError(AppErrorCode.Forbidden, `upstream tools start at T3; assigning ${qualifiedName(server, tool)} T${tier} lowers it and needs a partner admin's allowance for this organization (PUT /v1/orgs/:id/policy/lowering)`);
  }
  return deps.prisma.$transaction(async (tx) => {
    const updated = await tx.mcpUpstreamTool.update({ where: { id: row.id }, data: { tier } });
    await audit(tx, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'mcp_upstream.tool_tier_set', target: qualifiedName(server, tool), data: { from: row.tier, to: tier } });
    return updated;
  });
}

export async function removeUpstream(caller: Caller, orgRef: string, name: string): Promise<void> {
  const { deps, principal } = caller;
  const { org, upstream } = await upstreamOf(caller, orgRef, name, [Role.Admin]);
  await deps.prisma.$transaction(async (tx) => {
    await tx.mcpUpstream.delete({ where: { id: upstream.id } });
    await audit(tx, { orgId: org.id, actorType: 'user', actorId: principal.userId, action: 'mcp_upstream.removed', target: name, data: { ...describe(targetOf(upstream)), tools: upstream.tools.map((t) => t.name) } });
  });
}

/** The enabled upstream tools of an org, as /mcp lists them (name, description with the tier, pinned schema). */
export async function enabledUpstreamTools(prisma: Caller['deps']['prisma'], orgId: string) {
  return prisma.mcpUpstreamTool.findMany({ where: { orgId, status: 'enabled' }, include: { upstream: { select: { name: true } } }, orderBy: [{ upstream: { name: 'asc' } }, { name: 'asc' }] });
}

/** Whether the org has an upstream tool of this catalog name (enabled or not: a disabled one is denied with its reason). */
export async function hasUpstreamTool(prisma: Caller['deps']['prisma'], orgId: string, server: string, tool: string): Promise<boolean> {
  return (await prisma.mcpUpstreamTool.count({ where: { orgId, name: tool, upstream: { name: server, orgId } } })) > 0;
}
