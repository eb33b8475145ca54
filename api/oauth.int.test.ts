/**
 * OAuth 2.1 for MCP clients, driven by the MCP SDK's own client OAuth support (an OAuthClientProvider, the
 * Streamable HTTP transport with `authProvider`) against the whole system: discovery from the 401, dynamic
 * registration, /authorize with PKCE, the consent page with a signed-in console session (fetch, and Chromium once),
 * the code caught at a loopback redirect, the token, then a tools/call acting as the user. Then what must be refused:
 * a wrong verifier, plain PKCE, a token for another resource, an expired token, a reused refresh token (which revokes
 * the grant), a revoked grant, another org's device, and a read-only token asking for a T2 call.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { hashPassword } from '../lib/passwords';
import { launchChromium } from '../test/browser';
import { startTestSystem, waitUntil, type TestSystem } from '../test/harness';
import { csrfIn } from '../test/slack';

let sys: TestSystem;
/** Where the client's browser is sent back: a real loopback server that keeps the codes it receives. */
let callback: http.Server;
let callbackUrl: string;
const codes = new Map<string, string>();

beforeAll(async () => {
  sys = await startTestSystem({ simulated: 1 });
  callback = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const state = url.searchParams.get('state') ?? '';
    codes.set(state, url.searchParams.get('code') ?? `error:${url.searchParams.get('error') ?? ''}`);
    res.end('You can close this window.');
  });
  await new Promise<void>((resolve) => callback.listen(0, '127.0.0.1', resolve));
  callbackUrl = `http://127.0.0.1:${(callback.address() as AddressInfo).port}/callback`;
}, 180_000);
afterAll(async () => {
  callback?.close();
  await sys?.stop();
});

const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});

/** The test's MCP client application: what it stores, as a desktop client would on disk. */
class TestOAuthClient implements OAuthClientProvider {
  info?: OAuthClientInformationMixed;
  saved?: OAuthTokens;
  verifier = '';
  authorizationUrl?: URL;
  readonly stateValue = crypto.randomBytes(8).toString('hex');
  constructor(private readonly scope?: string) {}
  get redirectUrl() {
    return callbackUrl;
  }
  get clientMetadata(): OAuthClientMetadata {
    return { client_name: 'Test Agent', redirect_uris: [callbackUrl], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none', ...(this.scope ? { scope: this.scope } : {}) };
  }
  state() {
    return this.stateValue;
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: OAuthClientInformationMixed) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: OAuthTokens) {
    this.saved = tokens;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
}

/** A browser's requests with its cookie jar (redirects not followed), as the person's console session. */
function browser(base: string) {
  const jar = new Map<string, string>();
  const cookies = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
  const send = async (method: string, url: string, body?: { json?: unknown; form?: URLSearchParams }) => {
    const res = await fetch(new URL(url, base), {
      method,
      redirect: 'manual',
      headers: { cookie: cookies(), ...(body?.json !== undefined ? { 'content-type': 'application/json' } : body?.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
      body: body?.json !== undefined ? JSON.stringify(body.json) : body?.form?.toString(),
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const at = pair!.indexOf('=');
      jar.set(pair!.slice(0, at), pair!.slice(at + 1));
    }
    return { status: res.status, text: await res.text(), location: res.headers.get('location') };
  };
  return send;
}

/** A technician of acme (and, with `globex`, of globex too) who can sign in to the console. */
async function technician(opts: { globex?: boolean } = {}) {
  const user = await sys.createUser(['technician']);
  const password = `pw-${crypto.randomBytes(8).toString('hex')}`;
  const row = await sys.prisma.user.update({ where: { id: user.userId }, data: { passwordHash: await hashPassword(password) } });
  if (opts.globex) await sys.prisma.roleBinding.create({ data: { userId: user.userId, orgId: sys.seed.orgs.globex.id, role: 'technician' } });
  const b = browser(sys.url);
  expect((await b('POST', '/v1/auth/signin', { json: { email: row.email, password } })).status).toBe(200);
  return { ...user, email: row.email, password, browser: b };
}

const mcpUrl = (org = sys.seed.orgs.acme.slug) => new URL(`/mcp?org=${org}`, sys.url);

/** Connects with the provider: the first attempt is refused and starts the authorization, which the test answers. */
async function startAuthorization(app: TestOAuthClient, org?: string) {
  const transport = new StreamableHTTPClientTransport(mcpUrl(org), { authProvider: app });
  const client = new Client({ name: 'test-agent', version: '1.0.0' });
  await expect(client.connect(transport)).rejects.toBeInstanceOf(UnauthorizedError);
  expect(app.authorizationUrl).toBeDefined();
  return transport;
}

/** The user answers the consent page in their signed-in browser; returns the code the loopback redirect received. */
async function consent(user: Awaited<ReturnType<typeof technician>>, app: TestOAuthClient, answer: { orgs: string[]; scopes?: string[]; decision?: 'approve' | 'deny' }) {
  const authorize = await user.browser('GET', app.authorizationUrl!.href);
  expect(authorize.status).toBe(302);
  const shown = await user.browser('GET', authorize.location!);
  expect(shown.status).toBe(200);
  expect(shown.text).toContain('Test Agent');
  const form = new URLSearchParams({ _csrf: csrfIn(shown.text), decision: answer.decision ?? 'approve' });
  for (const o of answer.orgs) form.append('org', o);
  for (const s of answer.scopes ?? ['mcp:read', 'mcp:act']) form.append('scope', s);
  const answered = await user.browser('POST', authorize.location!, { form });
  expect(answered.status).toBe(303);
  // The browser follows to the client's loopback redirect, which keeps the code.
  await fetch(answered.location!);
  return codes.get(app.stateValue)!;
}

/** The whole dance: authorization, consent, token; then a connected client acting as the user. */
async function authorized(user: Awaited<ReturnType<typeof technician>>, answer: { orgs: string[]; scopes?: string[] }, scope?: string) {
  const app = new TestOAuthClient(scope);
  const first = await startAuthorization(app);
  const code = await consent(user, app, answer);
  await first.finishAuth(code);
  const client = new Client({ name: 'test-agent', version: '1.0.0' });
  clients.push(client);
  await client.connect(new StreamableHTTPClientTransport(mcpUrl(), { authProvider: app }));
  return { app, client };
}

/** The MCP session the user's client started (one per test user). */
async function waitForSession(userId: string) {
  await waitUntil(async () => (await sys.prisma.copilotSession.count({ where: { userId, startedVia: 'mcp' } })) > 0, 'the MCP session');
  return sys.prisma.copilotSession.findFirstOrThrow({ where: { userId, startedVia: 'mcp' } });
}

const textOf = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
const callTool = (client: Client, name: string, args: Record<string, unknown>) => client.callTool({ name, arguments: args }, undefined, { timeout: 120_000 }) as Promise<CallToolResult>;
const deviceOf = (org: 'acme' | 'globex') => sys.prisma.device.findFirstOrThrow({ where: { orgId: sys.seed.orgs[org].id, executor: 'simulated' }, orderBy: { name: 'asc' } });

it('publishes the resource and authorization server metadata, and a 401 from /mcp points at them', async () => {
  const prm = await (await fetch(new URL('/.well-known/oauth-protected-resource/mcp', sys.url))).json();
  expect(prm).toMatchObject({ resource: `${sys.url}/mcp`, authorization_servers: [`${sys.url}/`], scopes_supported: ['mcp:read', 'mcp:act'] });
  expect(await (await fetch(new URL('/.well-known/oauth-protected-resource', sys.url))).json()).toMatchObject({ resource: `${sys.url}/mcp` });
  const as = await (await fetch(new URL('/.well-known/oauth-authorization-server', sys.url))).json();
  expect(as).toMatchObject({ code_challenge_methods_supported: ['S256'], registration_endpoint: `${sys.url}/register`, revocation_endpoint: `${sys.url}/revoke` });
  const none = await fetch(mcpUrl(), { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
  expect(none.status).toBe(401);
  expect(none.headers.get('www-authenticate')).toContain(`resource_metadata="${sys.url}/.well-known/oauth-protected-resource/mcp"`);
});

it('lets an MCP client act as the user who granted it: discovery, registration, consent, token, then a tools/call', async () => {
  const user = await technician();
  const { app, client } = await authorized(user, { orgs: [sys.seed.orgs.acme.id] });
  expect(app.saved?.access_token).toMatch(/^gho_/);
  const device = await deviceOf('acme');
  const result = await callTool(client, 'get_device_info', { device_id: device.id });
  expect(result.isError).toBe(false);
  expect(textOf(result)).toContain(device.name);
  // The session is the user's, the audit names the client; the token itself is stored only as a hash.
  const session = await sys.prisma.copilotSession.findFirstOrThrow({ where: { userId: user.userId, startedVia: 'mcp' } });
  expect(session.mcpClient).toContain('OAuth: Test Agent');
  const authorizedEvent = await sys.prisma.auditEvent.findFirstOrThrow({ where: { sessionId: session.id, action: 'tool.authorized' } });
  expect(authorizedEvent.data).toMatchObject({ userId: user.userId, oauthClient: 'Test Agent' });
  expect(await sys.prisma.oAuthToken.count({ where: { hash: app.saved!.access_token } })).toBe(0);
  expect(await sys.prisma.oAuthToken.count({ where: { hash: crypto.createHash('sha256').update(app.saved!.access_token).digest('hex') } })).toBe(1);
  // The user sees the grant and can revoke it; API keys keep working meanwhile.
  const listed = await sys.request('GET', '/v1/oauth/grants', { key: user.key });
  expect(listed.body.grants).toEqual([expect.objectContaining({ client: expect.objectContaining({ name: 'Test Agent' }), scopes: ['mcp:read', 'mcp:act'], orgs: [expect.objectContaining({ slug: sys.seed.orgs.acme.slug })] })]);
});

it('prunes requests and tokens a day past their expiry as new authorizations come, and keeps the rest', async () => {
  const user = await technician();
  const { app } = await authorized(user, { orgs: [sys.seed.orgs.acme.id] });
  const grant = await sys.prisma.oAuthGrant.findFirstOrThrow({ where: { userId: user.userId } });
  const longAgo = new Date(Date.now() - 2 * 86_400_000);
  const hash = () => crypto.randomBytes(32).toString('hex');
  const stale = await sys.prisma.oAuthToken.create({ data: { grantId: grant.id, kind: 'access', hash: hash(), scopes: grant.scopes, expiresAt: longAgo } });
  const recent = await sys.prisma.oAuthToken.create({ data: { grantId: grant.id, kind: 'access', hash: hash(), scopes: grant.scopes, expiresAt: new Date(Date.now() - 60_000) } });
  const staleRequest = await sys.prisma.oAuthAuthorization.create({
    data: { requestHash: hash(), clientId: app.info!.client_id, redirectUri: callbackUrl, codeChallenge: 'x', scopes: grant.scopes, resource: grant.resource, expiresAt: longAgo },
  });
  await authorized(user, { orgs: [sys.seed.orgs.acme.id] });
  const gone = async () => (await sys.prisma.oAuthToken.count({ where: { id: stale.id } })) + (await sys.prisma.oAuthAuthorization.count({ where: { id: staleRequest.id } }));
  for (let i = 0; i < 50 && (await gone()) > 0; i++) await new Promise((r) => setTimeout(r, 100));
  expect(await gone()).toBe(0);
  expect(await sys.prisma.oAuthToken.count({ where: { id: recent.id } })).toBe(1);
  expect(await sys.prisma.oAuthToken.count({ where: { grantId: grant.id, expiresAt: { gt: new Date() } } })).toBeGreaterThan(0);
});

it('refuses a wrong PKCE verifier, plain PKCE, an unregistered redirect URI and a token meant for another resource', async () => {
  const user = await technician();
  const app = new TestOAuthClient();
  const transport = await startAuthorization(app);
  const code = await consent(user, app, { orgs: [sys.seed.orgs.acme.id] });
  const token = (body: Record<string, string>) => fetch(new URL('/token', sys.url), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body).toString() });
  const wrong = await token({ grant_type: 'authorization_code', client_id: app.info!.client_id, code, code_verifier: 'x'.repeat(64), redirect_uri: callbackUrl });
  expect(wrong.status).toBe(400);
  expect(await wrong.json()).toMatchObject({ error: 'invalid_grant' });
  // The right verifier still works (the code was not spent by the failed attempt).
  await transport.finishAuth(code);
  expect(app.saved?.access_token).toBeDefined();

  const plain = new URL(app.authorizationUrl!);
  plain.searchParams.set('code_challenge_method', 'plain');
  const refused = await user.browser('GET', plain.href);
  expect(new URL(refused.location!).searchParams.get('error')).toBe('invalid_request');
  const elsewhere = new URL(app.authorizationUrl!);
  elsewhere.searchParams.set('redirect_uri', 'http://127.0.0.1:1/elsewhere');
  expect((await user.browser('GET', elsewhere.href)).status).toBe(400);
  const otherResource = new URL(app.authorizationUrl!);
  otherResource.searchParams.set('resource', 'https://other.example/mcp');
  expect(new URL((await user.browser('GET', otherResource.href)).location!).searchParams.get('error')).toBe('invalid_target');

  // A token issued for this server at 127.0.0.1 is not one for the server reached as localhost: another resource.
  const atLocalhost = new URL(mcpUrl().href.replace('127.0.0.1', 'localhost'));
  const res = await fetch(atLocalhost, {
    method: 'POST',
    headers: { authorization: `Bearer ${app.saved!.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }),
  });
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toMatch(/invalid_token.*not issued for this resource/);
});

it('refuses an expired access token, rotates refresh tokens, and revokes the grant when a rotated one comes back', async () => {
  const user = await technician();
  const { app } = await authorized(user, { orgs: [sys.seed.orgs.acme.id] });
  const grant = await sys.prisma.oAuthGrant.findFirstOrThrow({ where: { userId: user.userId } });
  // The access token's lifetime passes (its row says so): /mcp answers it as expired.
  await sys.prisma.oAuthToken.updateMany({ where: { grantId: grant.id, kind: 'access' }, data: { expiresAt: new Date(Date.now() - 1000) } });
  const expired = await fetch(mcpUrl(), { method: 'POST', headers: { authorization: `Bearer ${app.saved!.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
  expect(expired.status).toBe(401);
  expect(expired.headers.get('www-authenticate')).toMatch(/Token has expired/);

  const refresh = (token: string) =>
    fetch(new URL('/token', sys.url), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'refresh_token', client_id: app.info!.client_id, refresh_token: token }).toString() });
  const first = app.saved!.refresh_token!;
  const rotated = await refresh(first);
  expect(rotated.status).toBe(200);
  const next = (await rotated.json()) as OAuthTokens;
  expect(next.refresh_token).not.toBe(first);
  // The old refresh token again: someone holds a copy. The grant ends; the newest tokens with it.
  const reused = await refresh(first);
  expect(await reused.json()).toMatchObject({ error: 'invalid_grant', error_description: expect.stringMatching(/already used/) });
  expect((await refresh(next.refresh_token!)).status).toBe(400);
  expect(await sys.prisma.oAuthGrant.findUniqueOrThrow({ where: { id: grant.id } })).toMatchObject({ revokedWhy: 'refresh_token_reuse' });
  expect(await sys.prisma.auditEvent.count({ where: { orgId: sys.seed.orgs.acme.id, action: 'oauth.grant_revoked', data: { path: ['grantId'], equals: grant.id } } })).toBe(1);
});

it("refuses a revoked grant's token at once, while the user's API key keeps working", async () => {
  const user = await technician();
  const { app, client } = await authorized(user, { orgs: [sys.seed.orgs.acme.id] });
  const grant = (await sys.request('GET', '/v1/oauth/grants', { key: user.key })).body.grants[0];
  expect((await sys.request('DELETE', `/v1/oauth/grants/${grant.id}`, { key: user.key })).status).toBe(200);
  await expect(client.listTools()).rejects.toThrow(/revoked|401|Unauthorized/i);
  expect((await sys.request('GET', '/v1/oauth/grants', { key: user.key })).body.grants).toEqual([]);
  const res = await fetch(mcpUrl(), { method: 'POST', headers: { authorization: `Bearer ${app.saved!.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
  expect(res.status).toBe(401);
  // Scripts with the key are untouched.
  expect((await sys.request('GET', '/v1/auth/session', { key: user.key })).status).toBe(200);
});

it("keeps a token granted for one org out of the user's other org: its devices are unknown and the attempt is audited", async () => {
  const user = await technician({ globex: true });
  const { app, client } = await authorized(user, { orgs: [sys.seed.orgs.acme.id] });
  const foreign = await sys.enrollDevice(`oauth-globex-${crypto.randomBytes(3).toString('hex')}`, 'globex');
  const result = await callTool(client, 'get_device_info', { device_id: foreign.deviceId });
  expect(result.isError).toBe(true);
  const own = await callTool(client, 'get_device_info', { device_id: crypto.randomUUID() });
  // Exactly as a device that does not exist.
  expect(textOf(result)).toMatch(/device not found in this organization/);
  expect(textOf(result)).toBe(textOf(own));
  const session = await sys.prisma.copilotSession.findFirstOrThrow({ where: { userId: user.userId, startedVia: 'mcp' } });
  expect(await sys.prisma.auditEvent.count({ where: { sessionId: session.id, action: 'tool.denied', data: { path: ['oauthClient'], equals: 'Test Agent' } } })).toBe(2);
  expect(await sys.prisma.auditEvent.count({ where: { sessionId: session.id, action: 'security.device_out_of_scope' } })).toBe(2);
  // Nor can it open a session there, though the user works in globex: the org is unknown to the token.
  const there = new Client({ name: 'test-agent', version: '1.0.0' });
  clients.push(there);
  await expect(there.connect(new StreamableHTTPClientTransport(mcpUrl(sys.seed.orgs.globex.slug), { authProvider: app }))).rejects.toThrow(/organization not found/);
});

it('refuses a T2 call made with a read-only token, with a clear reason, audited, while its T1 calls run', async () => {
  const user = await technician();
  const { client } = await authorized(user, { orgs: [sys.seed.orgs.acme.id], scopes: ['mcp:read'] }, 'mcp:read');
  const device = await deviceOf('acme');
  expect((await callTool(client, 'get_device_info', { device_id: device.id })).isError).toBe(false);
  const refused = await callTool(client, 'add_device_note', { device_id: device.id, text: 'from the agent' });
  expect(refused.isError).toBe(true);
  expect(textOf(refused)).toMatch(/T2 call and the OAuth grant of "Test Agent" allows T1 calls only/);
  const session = await sys.prisma.copilotSession.findFirstOrThrow({ where: { userId: user.userId, startedVia: 'mcp' } });
  expect(await sys.prisma.auditEvent.findFirstOrThrow({ where: { sessionId: session.id, action: 'tool.denied', target: 'add_device_note' } })).toMatchObject({ data: expect.objectContaining({ oauthClient: 'Test Agent' }) });
  expect(await sys.prisma.deviceNote.count({ where: { deviceId: device.id, text: 'from the agent' } })).toBe(0);
});

it('offers a read-only token only the tools a T1 call can reach, and a token that may act every tool', async () => {
  const user = await technician();
  const reader = (await authorized(user, { orgs: [sys.seed.orgs.acme.id], scopes: ['mcp:read'] }, 'mcp:read')).client;
  const readable = (await reader.listTools()).tools;
  expect(readable.map((t) => t.name)).toContain('get_device_info');
  expect(readable.map((t) => t.name)).not.toContain('add_device_note');
  expect(readable.map((t) => t.name)).not.toContain('restart_device');
  const actor = (await authorized(user, { orgs: [sys.seed.orgs.acme.id] })).client;
  const all = (await actor.listTools()).tools.map((t) => t.name);
  expect(all).toEqual(expect.arrayContaining(['get_device_info', 'add_device_note', 'restart_device', 'manage_service']));
  expect(all.length).toBeGreaterThan(readable.length);
});

it('does not run a T3 call whose grant was revoked while it waited for its approver, even once approved', async () => {
  const user = await technician();
  const { client } = await authorized(user, { orgs: [sys.seed.orgs.acme.id] });
  const device = await deviceOf('acme');
  const pending = client.callTool({ name: 'manage_service', arguments: { device_id: device.id, service: 'Spooler', action: 'restart' } }, undefined, { timeout: 120_000, onprogress: () => undefined, resetTimeoutOnProgress: true }) as Promise<CallToolResult>;
  const session = await waitForSession(user.userId);
  const approval = await sys.waitForApproval(session.id);
  const grant = (await sys.request('GET', '/v1/oauth/grants', { key: user.key })).body.grants[0];
  expect((await sys.request('DELETE', `/v1/oauth/grants/${grant.id}`, { key: user.key })).status).toBe(200);
  expect((await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve', reason: 'printing is down' } })).status).toBe(200);
  const result = await pending;
  expect(result.isError).toBe(true);
  expect(textOf(result)).toMatch(/grant of "Test Agent" was revoked while the call waited/);
  const { invocationId } = await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } });
  expect(await sys.prisma.deviceCommand.count({ where: { invocationId } })).toBe(0);
});

it('registers public clients only with safe redirect URIs, sends a denial back as access_denied, and revokes at /revoke', async () => {
  const register = (body: unknown) => fetch(new URL('/register', sys.url), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  for (const [uri, why] of [['javascript:alert(1)', /javascript/], ['file:///etc/passwd', /is not allowed/], ['http://attacker.example/cb', /is not allowed/]] as const) {
    const refused = await register({ client_name: 'Bad', redirect_uris: [uri] });
    expect(refused.status).toBe(400);
    expect(await refused.json()).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringMatching(why) });
  }
  // Asking for a secret gets a public client (PKCE is its proof): no secret is made, none is stored.
  const registered = (await (await register({ client_name: 'Wants a secret', redirect_uris: [callbackUrl], token_endpoint_auth_method: 'client_secret_post' })).json()) as Record<string, unknown>;
  expect(registered).toMatchObject({ token_endpoint_auth_method: 'none' });
  expect(registered.client_secret).toBeUndefined();

  const user = await technician();
  const denied = new TestOAuthClient();
  await startAuthorization(denied);
  await consent(user, denied, { orgs: [sys.seed.orgs.acme.id], decision: 'deny' });
  expect(codes.get(denied.stateValue)).toBe('error:access_denied');
  expect(await sys.prisma.oAuthGrant.count({ where: { userId: user.userId } })).toBe(0);

  const { app } = await authorized(user, { orgs: [sys.seed.orgs.acme.id] });
  const revoked = await fetch(new URL('/revoke', sys.url), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: app.info!.client_id, token: app.saved!.refresh_token! }).toString() });
  expect(revoked.status).toBe(200);
  expect(await sys.prisma.oAuthGrant.findFirstOrThrow({ where: { userId: user.userId } })).toMatchObject({ revokedWhy: 'client' });
  const res = await fetch(mcpUrl(), { method: 'POST', headers: { authorization: `Bearer ${app.saved!.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
  expect(res.status).toBe(401);
});

it('shows the consent page in Chromium to a signed-in user, who grants one of their orgs', async () => {
  const user = await technician({ globex: true });
  const app = new TestOAuthClient();
  const transport = await startAuthorization(app);
  const chromium = await launchChromium();
  try {
    const page = await chromium.newPage();
    // Not signed in: the consent page sends the browser to sign in, and back.
    await page.goto(app.authorizationUrl!.href);
    await page.getByLabel('E-mail').fill(user.email);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Allow Test Agent to act as you?' }).waitFor();
    // Both of the user's orgs are offered, none ticked; they tick acme only.
    await page.getByLabel(new RegExp(`\\(${sys.seed.orgs.globex.slug};`)).waitFor();
    await page.getByLabel(new RegExp(`\\(${sys.seed.orgs.acme.slug};`)).check();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.getByText('You can close this window.').waitFor();
    await transport.finishAuth(codes.get(app.stateValue)!);
    const grant = await sys.prisma.oAuthGrant.findFirstOrThrow({ where: { userId: user.userId } });
    expect(grant.orgIds).toEqual([sys.seed.orgs.acme.id]);

    // The console lists it under Connected apps, where the user revokes it.
    await page.goto(`${sys.url}/#/connected-apps`);
    await page.getByRole('button', { name: 'Revoke Test Agent' }).click();
    await page.getByText('Revoked Test Agent: its tokens no longer work.').waitFor();
    expect(await sys.prisma.oAuthGrant.findUniqueOrThrow({ where: { id: grant.id } })).toMatchObject({ revokedWhy: 'user' });
  } finally {
    await chromium.close();
  }
});
