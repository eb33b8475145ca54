/**
 * Upstream MCP servers behind Gatehouse (services/mcp-upstreams.ts): an org admin registers one, assigns its tools'
 * tiers, approves a tool's changed definition, refreshes or removes it; everyone with a role in the org lists them.
 * The tools are called only through the cage, as `upstream.<server>.<tool>` at /mcp.
 */
import { z } from 'zod';
import { UpstreamAnswer, UpstreamRemovedAnswer, UpstreamsAnswer } from '../../common/api-answers';
import { Tier } from '../../common/tier';
import { qualifiedName } from '../../lib/mcp-upstream';
import { OrgParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';
import { approveToolChange, getUpstream, listUpstreams, refreshUpstream, registerUpstream, removeUpstream, setToolTier } from '../services/mcp-upstreams';

const UpstreamName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'an upstream name: lower-case letters, digits and -, at most 32');
const ToolName = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "the upstream's own tool name");
const UpstreamParams = OrgParams.extend({ name: UpstreamName });
const ToolParams = UpstreamParams.extend({ tool: ToolName });

type ToolRow = {
  name: string;
  title: string | null;
  description: string;
  inputSchema: unknown;
  sha256: string;
  tier: number;
  status: string;
  findings: unknown;
  pendingTitle: string | null;
  pendingDescription: string | null;
  pendingInputSchema: unknown;
  pendingSha256: string | null;
};
type UpstreamRow = { name: string; transport: string; command: string | null; args: unknown; url: string | null; createdAt: Date; tools: ToolRow[]; refusedTools?: string[] };

const toolView = (server: string) => (t: ToolRow) => ({
  name: qualifiedName(server, t.name),
  upstreamName: t.name,
  title: t.title,
  description: t.description,
  inputSchema: t.inputSchema,
  sha256: t.sha256,
  tier: t.tier,
  status: t.status as 'enabled' | 'changed' | 'flagged',
  findings: Array.isArray(t.findings) ? t.findings.map(String) : [],
  pending: t.pendingSha256 && t.pendingDescription !== null ? { title: t.pendingTitle, description: t.pendingDescription, inputSchema: t.pendingInputSchema, sha256: t.pendingSha256 } : null,
});

const view = (u: UpstreamRow) => ({
  name: u.name,
  transport: u.transport as 'stdio' | 'http',
  command: u.command,
  args: Array.isArray(u.args) ? u.args.map(String) : [],
  url: u.url,
  createdAt: u.createdAt.toISOString(),
  tools: u.tools.map(toolView(u.name)),
  ...(u.refusedTools ? { refusedTools: u.refusedTools } : {}),
});

export const listMcpUpstreams = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/mcp-upstreams',
  summary: "The org's upstream MCP servers and their tools (status, tier, pinned hash, a change waiting)",
  tag: 'mcp',
  auth: 'user',
  params: OrgParams,
  responses: { 200: 'Upstreams', 401: 'No valid API key', 404: 'Unknown organization' },
  response: UpstreamsAnswer,
  async handler(ctx) {
    const { org, upstreams } = await listUpstreams(ctx, ctx.params.id);
    return { status: 200, body: { org: org.slug, upstreams: upstreams.map(view) } };
  },
});

export const getMcpUpstream = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/mcp-upstreams/:name',
  summary: 'One upstream MCP server and its tools',
  tag: 'mcp',
  auth: 'user',
  params: UpstreamParams,
  responses: { 200: 'Upstream', 401: 'No valid API key', 404: 'Unknown organization or upstream' },
  response: UpstreamAnswer,
  async handler(ctx) {
    return { status: 200, body: view(await getUpstream(ctx, ctx.params.id, ctx.params.name)) };
  },
});

export const putMcpUpstream = defineRoute({
  method: 'put',
  path: '/v1/orgs/:id/mcp-upstreams/:name',
  summary: 'Register an upstream MCP server (admins): a command Gatehouse runs over stdio (one the operator allows) or a Streamable HTTP URL; its tools are scanned, pinned and T3',
  tag: 'mcp',
  auth: 'user',
  params: UpstreamParams,
  body: z.discriminatedUnion('transport', [
    z.object({ transport: z.literal('stdio'), command: z.string().min(1).max(500), args: z.array(z.string().max(1000)).max(50).default([]) }).strict(),
    z.object({ transport: z.literal('http'), url: z.string().min(1).max(2000) }).strict(),
  ]),
  responses: { 201: 'Registered', 400: 'Refused: not allowed, unreachable or not MCP', 401: 'No valid API key', 404: 'Unknown organization', 409: 'Name taken' },
  response: UpstreamAnswer,
  async handler(ctx) {
    const registered = await registerUpstream(ctx, ctx.params.id, { name: ctx.params.name, ...ctx.body });
    return { status: 201, body: view(registered) };
  },
});

export const refreshMcpUpstream = defineRoute({
  method: 'post',
  path: '/v1/orgs/:id/mcp-upstreams/:name/refresh',
  summary: "Read the upstream's tools again (admins): a changed definition disables its tool until approved; new tools are scanned and pinned at T3",
  tag: 'mcp',
  auth: 'user',
  params: UpstreamParams,
  responses: { 200: 'Refreshed', 400: 'Unreachable', 401: 'No valid API key', 404: 'Unknown organization or upstream' },
  response: UpstreamAnswer,
  async handler(ctx) {
    return { status: 200, body: view(await refreshUpstream(ctx, ctx.params.id, ctx.params.name)) };
  },
});

export const approveMcpUpstreamTool = defineRoute({
  method: 'post',
  path: '/v1/orgs/:id/mcp-upstreams/:name/tools/:tool/approve',
  summary: "Approve a changed tool's new definition by its SHA-256 (admins): scanned, pinned, enabled again",
  tag: 'mcp',
  auth: 'user',
  params: ToolParams,
  body: z.object({ sha256: z.string().regex(/^[0-9a-f]{64}$/, 'the SHA-256 of the pending definition, in hex') }).strict(),
  responses: { 200: 'Approved', 401: 'No valid API key', 404: 'Unknown organization, upstream or tool', 409: 'No such change waiting, or it was flagged' },
  response: UpstreamAnswer,
  async handler(ctx) {
    await approveToolChange(ctx, ctx.params.id, ctx.params.name, ctx.params.tool, ctx.body.sha256);
    return { status: 200, body: view(await getUpstream(ctx, ctx.params.id, ctx.params.name)) };
  },
});

export const setMcpUpstreamToolTier = defineRoute({
  method: 'put',
  path: '/v1/orgs/:id/mcp-upstreams/:name/tools/:tool/tier',
  summary: "Assign an upstream tool's tier (admins; audited)",
  tag: 'mcp',
  auth: 'user',
  params: ToolParams,
  body: z.object({ tier: z.union([z.literal(Tier.T1), z.literal(Tier.T2), z.literal(Tier.T3), z.literal(Tier.T4)]) }).strict(),
  responses: { 200: 'Set', 400: 'Not a tier', 401: 'No valid API key', 404: 'Unknown organization, upstream or tool' },
  response: UpstreamAnswer,
  async handler(ctx) {
    await setToolTier(ctx, ctx.params.id, ctx.params.name, ctx.params.tool, ctx.body.tier);
    return { status: 200, body: view(await getUpstream(ctx, ctx.params.id, ctx.params.name)) };
  },
});

export const deleteMcpUpstream = defineRoute({
  method: 'delete',
  path: '/v1/orgs/:id/mcp-upstreams/:name',
  summary: 'Remove an upstream MCP server and its tools (admins); calls of them are denied from then on',
  tag: 'mcp',
  auth: 'user',
  params: UpstreamParams,
  responses: { 200: 'Removed', 401: 'No valid API key', 404: 'Unknown organization or upstream' },
  response: UpstreamRemovedAnswer,
  async handler(ctx) {
    await removeUpstream(ctx, ctx.params.id, ctx.params.name);
    return { status: 200, body: { removed: ctx.params.name } };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const mcpUpstreamRoutes: AnyRoute[] = [listMcpUpstreams, getMcpUpstream, putMcpUpstream, refreshMcpUpstream, approveMcpUpstreamTool, setMcpUpstreamToolTier, deleteMcpUpstream];
