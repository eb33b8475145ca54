/**
 * Talking to an upstream MCP server an org registered: connecting (a command run over stdio, or a Streamable HTTP
 * URL), listing its tools and calling one, with the operator's rules on what may be run or reached. Used by the api
 * when an admin registers or refreshes an upstream, and by the worker's `callUpstreamTool` activity, the only place
 * an upstream tool is called. The pinned hash of a tool's definition is computed here, the same way for both.
 */
import dns from 'node:dns/promises';
import canonicalize from 'canonicalize';
import ipaddr from 'ipaddr.js';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Env } from './env';
import { sha256 } from './secrets';

/** What the operator allows upstreams to be (MCP_UPSTREAM_STDIO_ALLOW, MCP_UPSTREAM_ALLOW_PRIVATE_URLS). */
export interface UpstreamRules {
  /** Command lines an org admin may register, each as its first words: a registration must start with one. */
  stdioAllow: string[][];
  /** Whether a URL may reach a loopback or private address (never in production: the api's own network). */
  allowPrivateUrls: boolean;
}

export const NO_UPSTREAMS: UpstreamRules = { stdioAllow: [], allowPrivateUrls: false };

/** MCP_UPSTREAM_STDIO_ALLOW: command lines separated by `;`, words by spaces ("node /opt/mcp/fs/dist/index.js; uvx mcp-server-time"). */
export function parseStdioAllow(value: string | undefined): string[][] {
  return (value ?? '')
    .split(';')
    .map((line) => line.trim().split(/\s+/).filter(Boolean))
    .filter((words) => words.length > 0);
}

/** The rules as the environment sets them. */
export function upstreamRules(env: Pick<Env, 'MCP_UPSTREAM_STDIO_ALLOW' | 'MCP_UPSTREAM_ALLOW_PRIVATE_URLS'>): UpstreamRules {
  return { stdioAllow: parseStdioAllow(env.MCP_UPSTREAM_STDIO_ALLOW), allowPrivateUrls: env.MCP_UPSTREAM_ALLOW_PRIVATE_URLS };
}

export type UpstreamTarget = { transport: 'stdio'; command: string; args: string[] } | { transport: 'http'; url: string };

/** A registered upstream's row as a target. */
export function targetOf(u: { transport: string; command: string | null; args: unknown; url: string | null }): UpstreamTarget {
  return u.transport === 'stdio' ? { transport: 'stdio', command: u.command ?? '', args: Array.isArray(u.args) ? u.args.map(String) : [] } : { transport: 'http', url: u.url ?? '' };
}

export class UpstreamRefused extends Error {}

/** Why the rules refuse this target, or undefined. Names are resolved: a host name that points inside is refused too. */
export async function refusal(target: UpstreamTarget, rules: UpstreamRules): Promise<string | undefined> {
  if (target.transport === 'stdio') {
    const line = [target.command, ...target.args];
    const allowed = rules.stdioAllow.some((prefix) => prefix.length <= line.length && prefix.every((w, i) => line[i] === w));
    return allowed ? undefined : 'this command is not one the operator allows upstream servers to run (MCP_UPSTREAM_STDIO_ALLOW)';
  }
  let url: URL;
  try {
    url = new URL(target.url);
  } catch {
    return 'not a URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'only http and https URLs';
  if (url.username || url.password) return 'no credentials in the URL';
  if (rules.allowPrivateUrls) return undefined;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const addresses = ipaddr.isValid(host) ? [host] : await dns.lookup(host, { all: true }).then((a) => a.map((x) => x.address), () => []);
  if (addresses.length === 0) return `cannot resolve ${host}`;
  const inside = addresses.find((a) => ipaddr.process(a).range() !== 'unicast');
  return inside ? `${host} is a loopback, private or reserved address (MCP_UPSTREAM_ALLOW_PRIVATE_URLS)` : undefined;
}

const CLIENT_INFO = { name: 'gatehouse-upstream', version: '1.0.0' };

/** A connected client; close it when done (a stdio server's process ends with it). */
export async function connectUpstream(target: UpstreamTarget, rules: UpstreamRules, timeoutMs = 20_000): Promise<Client> {
  const refused = await refusal(target, rules);
  if (refused) throw new UpstreamRefused(refused);
  const client = new Client(CLIENT_INFO);
  // stdio: the server gets the SDK's default environment (HOME, PATH, …), never Gatehouse's secrets; its stderr is dropped.
  const transport =
    target.transport === 'stdio'
      ? new StdioClientTransport({ command: target.command, args: target.args, stderr: 'ignore' })
      : new StreamableHTTPClientTransport(new URL(target.url));
  await client.connect(transport, { timeout: timeoutMs });
  return client;
}

/** Every tool the server lists (all pages, at most 1000). */
export async function listUpstreamTools(client: Client, timeoutMs = 20_000): Promise<Tool[]> {
  const tools: Tool[] = [];
  let cursor: string | undefined;
  do {
    const page = await client.listTools(cursor ? { cursor } : {}, { timeout: timeoutMs });
    tools.push(...page.tools);
    cursor = page.nextCursor;
  } while (cursor && tools.length < 1000);
  return tools.slice(0, 1000);
}

/** What is pinned of a tool: what an agent reads of it. */
export interface PinnedDefinition {
  title: string | null;
  description: string;
  inputSchema: Record<string, unknown>;
}

export function definitionOf(tool: Tool): PinnedDefinition {
  return { title: tool.title ?? tool.annotations?.title ?? null, description: tool.description ?? '', inputSchema: tool.inputSchema as Record<string, unknown> };
}

/** The SHA-256 of the definition in canonical JSON (RFC 8785): the same for the same definition, whatever the key order. */
export function definitionHash(name: string, d: PinnedDefinition): string {
  return sha256(canonicalize({ name, title: d.title, description: d.description, inputSchema: d.inputSchema }) ?? '');
}

/** An upstream's own tool names that fit a catalog name (`upstream.<server>.<tool>`, as Anthropic's API takes after mapping). */
export const UPSTREAM_TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;
export const UPSTREAM_PREFIX = 'upstream.';

export const qualifiedName = (server: string, tool: string) => `${UPSTREAM_PREFIX}${server}.${tool}`;

/** The server and tool a catalog name names, when it is an upstream tool's. */
export function parseQualifiedName(name: string): { server: string; tool: string } | undefined {
  const m = /^upstream\.([a-z0-9][a-z0-9-]{0,31})\.([A-Za-z0-9_-]{1,64})$/.exec(name);
  return m ? { server: m[1]!, tool: m[2]! } : undefined;
}

/**
 * The name the copilot's model knows an upstream tool by: `mcp__<server>__<tool>` (the Messages API takes only
 * `[A-Za-z0-9_-]{1,64}`, so no dots; Claude Code names MCP tools the same way). A server name has no `_`, so the
 * first `__` after the server ends it. Undefined when it would be longer than 64 characters (not offered).
 */
export function modelToolName(server: string, tool: string): string | undefined {
  const name = `mcp__${server}__${tool}`;
  return name.length <= 64 ? name : undefined;
}

/** The catalog name of a model's tool name (`mcp__<server>__<tool>` → `upstream.<server>.<tool>`); others as they are. */
export function fromModelToolName(name: string): string {
  const m = /^mcp__([a-z0-9][a-z0-9-]{0,31})__([A-Za-z0-9_-]{1,64})$/.exec(name);
  return m ? qualifiedName(m[1]!, m[2]!) : name;
}

export async function callUpstream(client: Client, name: string, args: Record<string, unknown>, timeoutMs: number): Promise<CallToolResult> {
  return (await client.callTool({ name, arguments: args }, undefined, { timeout: timeoutMs })) as CallToolResult;
}
