/**
 * Tenancy against real PostgreSQL (row-level security), Temporal and the api: the second wall holds when a query
 * forgets its org condition; every route of /openapi.json answers another org's ids exactly like unknown ids,
 * changes nothing and audits the probe; sign-in with a session cookie and CSRF token; the admin API; a technician
 * narrowed to one site reaches nothing else, through the API or the copilot.
 */
import crypto from 'node:crypto';
import { toolInvocationId } from '../common/ids';
import { createEnrollmentKey } from '../prisma/seed-demo';
import { issueSecret } from '../lib/secrets';
import { tenantDb } from '../lib/tenant-db';
import { orgRowsDigest, startTestSystem, toolCall, toolStepOf, waitUntil, type TestSystem } from '../test/harness';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ simulated: 2 });
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;
const acme = () => sys.seed.orgs.acme;
const globex = () => sys.seed.orgs.globex;

/** Rows of every kind a route can address, in globex (and a user and API key of another partner). */
async function globexFixtures() {
  const p = sys.prisma;
  const g = globex();
  const owner = await p.user.findFirstOrThrow({ where: { roleBindings: { some: { orgId: g.id, role: 'technician' } } } });
  const group = await p.deviceGroup.create({ data: { orgId: g.id, siteId: g.siteIds[0]!, name: `fx-${crypto.randomUUID()}` } });
  const device = await p.device.create({ data: { orgId: g.id, siteId: g.siteIds[0]!, groupId: group.id, name: 'GLOBEX-FX', hostname: 'globex-fx', os: 'Windows 11', executor: 'simulated' } });
  const sessionId = crypto.randomUUID();
  await p.copilotSession.create({ data: { id: sessionId, orgId: g.id, userId: owner.id, workflowId: `fx-${sessionId}` } });
  const invocationId = toolInvocationId(sessionId, 'toolu_fx');
  await p.toolInvocation.create({
    data: { id: invocationId, sessionId, orgId: g.id, turnId: 'turn-1', toolUseId: 'toolu_fx', toolName: 'run_remediation', input: {}, tier: 3, decision: 'allow', status: 'running' },
  });
  const approval = await p.approval.create({
    data: {
      orgId: g.id, sessionId, workflowId: `fx-${sessionId}`, invocationId, tier: 3, digest: 'x'.repeat(64), toolName: 'run_remediation', input: {}, targets: [device.id],
      summary: 'fixture', requestedBy: owner.id, status: 'pending', expiresAt: new Date(Date.now() + 3600_000),
    },
  });
  await p.script.create({ data: { orgId: g.id, name: 'fx-script', description: 'fixture', interpreter: 'bash', body: 'echo hi' } });
  await createEnrollmentKey(p, { orgId: g.id, siteId: g.siteIds[0]!, maxUses: 1, ttlMinutes: 60 });
  const enrollmentKey = await p.enrollmentKey.findFirstOrThrow({ where: { orgId: g.id } });
  const binding = await p.roleBinding.findFirstOrThrow({ where: { orgId: g.id } });
  const partner = await p.partner.create({ data: { slug: `other-msp-${crypto.randomUUID().slice(0, 8)}`, name: 'Other MSP' } });
  const stranger = await p.user.create({ data: { partnerId: partner.id, email: `stranger-${crypto.randomUUID().slice(0, 8)}@other.example`, name: 'Stranger' } });
  const secret = issueSecret('gh');
  const strangerKey = await p.apiKey.create({ data: { userId: stranger.id, name: 'theirs', prefix: secret.prefix, hash: secret.hash } });
  // A command waiting for the device, and a terminal grant with one recording.
  const command = await p.deviceCommand.create({
    data: { id: `${invocationId}:${device.id}`, orgId: g.id, deviceId: device.id, invocationId, kind: 'get_device_info', params: {}, status: 'pending', reportTo: `fx-${sessionId}`, expiresAt: new Date(Date.now() + 3600_000) },
  });
  const terminal = await p.terminalSession.create({
    data: { orgId: g.id, deviceId: device.id, requestedBy: owner.id, reason: 'fixture', windowSeconds: 1800, tier: 4, workflowId: `fx-terminal-${sessionId}`, status: 'approved' },
  });
  const recording = await p.terminalRecording.create({ data: { orgId: g.id, terminalSessionId: terminal.id, deviceId: device.id, userId: owner.id, cols: 80, rows: 24 } });
  return { group, device, sessionId, invocationId, approval, enrollmentKey, binding, stranger, strangerKey, command, terminal, recording };
}

/**
 * A digest of everything globex holds (audit events aside: probes add to them on purpose), and of the users and API
 * keys of the other partner (`theirPartnerId`). Only theirs: other test files running meanwhile add users and keys
 * of their own to the same database.
 */
async function globexDigest(theirPartnerId: string): Promise<string> {
  const tables = ['Organization', 'Site', 'DeviceGroup', 'Device', 'CopilotSession', 'ToolInvocation', 'Approval', 'Script', 'EnrollmentKey', 'RoleBinding', 'PolicyVersion', 'SlackChannel', 'DeviceCommand', 'TerminalSession', 'TerminalRecording'];
  const parts = [await orgRowsDigest(sys.prisma, tables, [globex().id])];
  const users = await sys.prisma.$queryRaw<{ d: string | null }[]>`SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS d FROM "User" t WHERE t."partnerId" = ${theirPartnerId}::uuid`;
  const keys = await sys.prisma.$queryRaw<{ d: string | null }[]>`
    SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) AS d
    FROM (SELECT k.id, k."revokedAt" FROM "ApiKey" k JOIN "User" u ON u.id = k."userId" WHERE u."partnerId" = ${theirPartnerId}::uuid) t`;
  return [...parts, `User:${users[0]?.d}`, `ApiKey:${keys[0]?.d}`].join('\n');
}

describe('row-level security', () => {
  it('keeps a query that forgets its org condition inside the scope', async () => {
    const fenced = tenantDb(sys.prisma, { orgIds: [acme().id] });
    const globexSite = globex().siteIds[0]!;
    // No where clause at all: only acme's rows come back, though globex has sites too.
    const sites = await fenced.site.findMany();
    expect(sites.length).toBeGreaterThan(0);
    expect(new Set(sites.map((s) => s.orgId))).toEqual(new Set([acme().id]));
    expect(await fenced.site.findUnique({ where: { id: globexSite } })).toBeNull();
    expect(await fenced.organization.findMany({ select: { id: true } })).toEqual([{ id: acme().id }]);
    const raw = await fenced.$queryRaw<{ n: bigint }[]>`SELECT count(*) AS n FROM "Site" WHERE "orgId" = ${globex().id}::uuid`;
    expect(Number(raw[0]!.n)).toBe(0);
    // Writes too: an update aimed at globex touches nothing, an insert into globex is refused by the database.
    const renamed = await fenced.site.updateMany({ where: { id: globexSite }, data: { name: 'hijacked' } });
    expect(renamed.count).toBe(0);
    await expect(fenced.site.create({ data: { orgId: globex().id, name: 'planted' } })).rejects.toThrow(/row-level security/);
    expect((await sys.prisma.site.findUniqueOrThrow({ where: { id: globexSite } })).name).not.toBe('hijacked');
    // Inside an interactive transaction as well.
    const inTx = await fenced.$transaction(async (tx) => tx.site.count({ where: { orgId: globex().id } }));
    expect(inTx).toBe(0);
    // No organization set: nothing at all.
    expect(await tenantDb(sys.prisma, { orgIds: [] }).device.count()).toBe(0);
  });

  it('is on for every table that holds an orgId', async () => {
    const unfenced = await sys.prisma.$queryRaw<{ table: string }[]>`
      SELECT c.relname AS table FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
      WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace AND a.attname = 'orgId' AND NOT c.relrowsecurity`;
    expect(unfenced).toEqual([]);
  });
});

describe('cross-tenant matrix over /openapi.json', () => {
  it('answers every route with another org\'s ids exactly like unknown ids, changes nothing, and audits the probe', async () => {
    const fx = await globexFixtures();
    // The caller holds every role in acme and is a partner admin: nothing but the tenant boundary stops it.
    const caller = await sys.createUser(['technician', 'approver', 'admin', 'auditor']);
    await sys.prisma.user.update({ where: { id: caller.userId }, data: { partnerAdmin: true } });
    const acmeUser = await sys.createUser(['technician']);

    const theirs: Record<string, string[]> = {
      orgs: [globex().id, globex().slug],
      sessions: [fx.sessionId],
      audit: [fx.sessionId],
      approvals: [fx.approval.id],
      remediations: [fx.invocationId],
      sites: [globex().siteIds[0]!],
      groups: [fx.group.id],
      devices: [fx.device.id],
      users: [fx.stranger.id],
      bindings: [fx.binding.id],
      'api-keys': [fx.strangerKey.id],
      'enrollment-keys': [fx.enrollmentKey.id],
      commands: [fx.command.id],
      terminals: [fx.terminal.id],
      'terminal-recordings': [fx.recording.id],
      passkeys: [(await sys.prisma.passkeyCredential.create({ data: { userId: fx.stranger.id, credentialId: crypto.randomBytes(16).toString('base64url'), publicKey: 'AQ', name: 'theirs' } })).id],
      // An MCP client's OAuth grant of the stranger, in globex.
      oauth: [
        (
          await sys.prisma.oAuthGrant.create({
            data: {
              user: { connect: { id: fx.stranger.id } },
              client: { create: { id: crypto.randomUUID(), name: 'their agent', redirectUris: ['http://127.0.0.1/cb'], metadata: {} } },
              orgIds: [globex().id],
              scopes: ['mcp:read'],
              resource: `${sys.url}/mcp`,
            },
          })
        ).id,
      ],
      // Another partner's identity provider (/v1/partner/oidc-providers/{id}).
      partner: [(await sys.prisma.oidcProvider.create({ data: { partnerId: fx.stranger.partnerId, name: 'theirs', issuer: 'https://idp.other.example', clientId: 'theirs', clientSecret: 'sealed', emailDomains: [] } })).id],
    };
    const bodies: Record<string, unknown> = {
      'POST /v1/sessions/{id}/messages': { text: 'hello' },
      'POST /v1/approvals/{id}/decision': { decision: 'reject', reason: 'no' },
      'PUT /v1/orgs/{id}/policy': { overrides: [], reason: 'probe' },
      'POST /v1/orgs/{id}/policy/rollback': { toVersion: 0, reason: 'probe' },
      'POST /v1/orgs/{id}/policy/what-if': { policy: { overrides: [] } },
      'DELETE /v1/orgs/{id}/policy/standing-approvals/{sid}': { reason: 'probe' },
      'PUT /v1/orgs/{id}/policy/lowering': { allowed: true, reason: 'probe' },
      'PUT /v1/orgs/{id}/budget': { dailyUsd: 1, monthlyUsd: 10, reason: 'tenancy' },
      'PUT /v1/orgs/{id}/scripts/{name}': { description: 'x', interpreter: 'bash', body: 'echo planted' },
      'PUT /v1/orgs/{id}/slack': { teamId: 'T0001', channelId: 'C0001' },
      'PUT /v1/orgs/{id}/mcp-upstreams/{name}': { transport: 'http', url: 'https://mcp.example.com/mcp' },
      'PUT /v1/orgs/{id}/mcp-upstreams/{name}/tools/{tool}/tier': { tier: 1 },
      'POST /v1/orgs/{id}/mcp-upstreams/{name}/tools/{tool}/approve': { sha256: 'a'.repeat(64) },
      'PUT /v1/orgs/{id}/email-approvals': { signInForEveryTier: true },
      'PUT /v1/orgs/{id}/passkey-rule': { requireForT3: true },
      'POST /v1/approvals/{id}/passkey-options': {},
      'POST /v1/orgs/{id}/slack/users': { teamId: 'T0001', slackUserId: 'U0001', email: 'technician@nowhere.example' },
      'POST /v1/orgs/{id}/sites': { name: 'planted' },
      'POST /v1/orgs/{id}/bindings': { userId: acmeUser.userId, role: 'technician' },
      'POST /v1/sites/{id}/groups': { name: 'planted' },
      'PATCH /v1/devices/{id}': { name: 'renamed' },
      'PATCH /v1/users/{id}': { name: 'renamed' },
      'POST /v1/devices/{id}/terminals': { reason: 'a probe' },
      'POST /v1/terminals/{id}/revoke': { reason: 'a probe' },
      'POST /v1/remediations/{id}/canary-decision': { decision: 'cancel', reason: 'a probe' },
      'POST /v1/remediations/{id}/canary-decision/passkey-options': {},
    };

    // A standing approval's id: globex has none, so any id is as unknown there as here.
    const STANDING_ID = crypto.randomUUID();
    const openapi = (await sys.request('GET', '/openapi.json')).body as { paths: Record<string, Record<string, { security: unknown[]; requestBody?: unknown }>> };
    const before = await globexDigest(fx.stranger.partnerId);
    const auditBefore = (await sys.prisma.auditEvent.aggregate({ where: { orgId: globex().id }, _max: { seq: true } }))._max.seq ?? 0;
    const cases: string[] = [];
    let orgOwned = 0; // cases whose id belongs to globex (users and API keys belong to another partner, not an org)
    for (const [template, methods] of Object.entries(openapi.paths)) {
      if (!template.includes('{')) continue;
      const kind = template.split('/')[2]!;
      const ids = theirs[kind];
      if (!ids) throw new Error(`the matrix has no ids for routes under /v1/${kind} (${template}): add them`);
      for (const [method, op] of Object.entries(methods)) {
        if (op.security.length === 0) continue;
        const key = `${method.toUpperCase()} ${template}`;
        const body = bodies[key];
        if (op.requestBody && body === undefined) {
          throw new Error(`the matrix has no body for ${key}: add one`);
        }
        for (const id of ids) {
          const fill = (value: string) => template.replace('{id}', value).replace('{name}', 'fx-script').replace('{tool}', 'fx_tool').replace('{n}', '1').replace('{sid}', STANDING_ID).replace('{turnId}', 't1');
          // An unknown id of the same shape: every UUID in it replaced by a fresh one (a slug by an unused slug).
          const unknownId = UUID.test(id) ? id.replace(new RegExp(UUID, 'g'), () => crypto.randomUUID()) : `no-such-${crypto.randomUUID().slice(0, 8)}`;
          const unknown = await sys.request(method.toUpperCase(), fill(unknownId), { key: caller.key, body });
          const cross = await sys.request(method.toUpperCase(), fill(id), { key: caller.key, body });
          cases.push(`${key} ${id}`);
          if (kind !== 'users' && kind !== 'api-keys' && kind !== 'passkeys' && kind !== 'oauth' && kind !== 'partner') orgOwned += 1;
          expect({ key, id, status: cross.status, body: cross.body }).toEqual({ key, id, status: 404, body: unknown.body });
        }
      }
    }
    expect(cases.length).toBeGreaterThan(40);
    expect(await globexDigest(fx.stranger.partnerId)).toBe(before);
    // Each probe of a globex id left a security event in globex's own audit chain, naming the caller.
    const newEvents = () => sys.prisma.auditEvent.findMany({ where: { orgId: globex().id, seq: { gt: auditBefore } } });
    await waitUntil(async () => (await newEvents()).length >= orgOwned, 'the probes to be audited');
    const events = await newEvents();
    expect(events).toHaveLength(orgOwned);
    expect(new Set(events.map((e) => e.action))).toEqual(new Set(['security.cross_tenant_access']));
    expect(new Set(events.map((e) => e.actorId))).toEqual(new Set([caller.userId]));
  }, 120_000);
});

/** A browser-like client: keeps cookies, sends the CSRF token when told to. */
function cookieClient() {
  const jar = new Map<string, string>();
  return async (method: string, route: string, opts: { body?: unknown; csrf?: string } = {}) => {
    const res = await fetch(new URL(route, sys.url), {
      method,
      headers: {
        cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
        ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(opts.csrf ? { 'x-csrf-token': opts.csrf } : {}),
      },
      body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const [name, value] = pair!.split('=') as [string, string];
      if (/Expires=Thu, 01 Jan 1970/.test(c)) jar.delete(name);
      else jar.set(name, value);
    }
    return { status: res.status, body: (await res.json()) as any, cookies: res.headers.getSetCookie() };
  };
}

describe('sign-in and the admin API', () => {
  it('signs a user in with a session cookie whose writes need the CSRF token', async () => {
    const admin = await sys.createUser(['admin']);
    await sys.prisma.user.update({ where: { id: admin.userId }, data: { partnerAdmin: true } });
    const email = `casey-${crypto.randomUUID().slice(0, 8)}@${acme().slug}.example`;
    const created = await sys.request('POST', '/v1/users', { key: admin.key, body: { email, name: 'Casey', password: 'correct horse battery' } });
    expect(created).toMatchObject({ status: 201, body: { email, canSignIn: true, disabled: false } });
    expect(JSON.stringify(created.body)).not.toMatch(/scrypt|correct horse/);
    const granted = await sys.request('POST', `/v1/orgs/${acme().slug}/bindings`, { key: admin.key, body: { userId: created.body.id, role: 'technician' } });
    expect(granted.status).toBe(201);

    const browser = cookieClient();
    const wrong = await browser('POST', '/v1/auth/signin', { body: { email, password: 'not the password' } });
    expect(wrong).toMatchObject({ status: 401, body: { error: { message: 'the email or the password is wrong' } } });
    expect(await sys.prisma.auditEvent.count({ where: { action: 'security.signin_failed', target: email } })).toBe(1);

    const signedIn = await browser('POST', '/v1/auth/signin', { body: { email: email.toUpperCase(), password: 'correct horse battery' } });
    expect(signedIn.status).toBe(200);
    expect(signedIn.body.orgs.map((o: { slug: string }) => o.slug)).toEqual([acme().slug]);
    const cookie = signedIn.cookies.find((c) => c.startsWith('gh_session='))!;
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);

    // Reads work with the cookie alone; a write without the token is refused and changes nothing.
    expect((await browser('GET', '/v1/devices')).status).toBe(200);
    const forged = await browser('POST', '/v1/sessions', { body: { org: acme().slug } });
    expect(forged).toMatchObject({ status: 403, body: { error: { code: 'FORBIDDEN' } } });
    expect(await sys.prisma.copilotSession.count({ where: { userId: created.body.id } })).toBe(0);
    const badToken = await browser('POST', '/v1/sessions', { body: { org: acme().slug }, csrf: 'x'.repeat(40) });
    expect(badToken.status).toBe(403);
    const ok = await browser('POST', '/v1/sessions', { body: { org: acme().slug }, csrf: signedIn.body.csrfToken });
    expect(ok.status).toBe(201);

    // Signing out ends the session; disabling the user ends their access however they come.
    expect((await browser('POST', '/v1/auth/signout', { csrf: signedIn.body.csrfToken })).status).toBe(200);
    expect((await browser('GET', '/v1/devices')).status).toBe(401);
    const again = await browser('POST', '/v1/auth/signin', { body: { email, password: 'correct horse battery' } });
    expect(again.status).toBe(200);
    expect((await sys.request('PATCH', `/v1/users/${created.body.id}`, { key: admin.key, body: { disabled: true } })).status).toBe(200);
    expect((await browser('GET', '/v1/devices')).status).toBe(401);
    expect((await browser('POST', '/v1/auth/signin', { body: { email, password: 'correct horse battery' } })).status).toBe(401);
  });

  it('issues API keys shown once, lists them by prefix with last use, and revokes them', async () => {
    const user = await sys.createUser(['technician']);
    const made = await sys.request('POST', '/v1/api-keys', { key: user.key, body: { name: 'laptop' } });
    expect(made.status).toBe(201);
    expect(made.body.key).toMatch(new RegExp(`^gh_${made.body.prefix}_`));
    expect((await sys.request('GET', '/v1/devices', { key: made.body.key })).status).toBe(200);
    await waitUntil(async () => (await sys.prisma.apiKey.findUniqueOrThrow({ where: { id: made.body.id } })).lastUsedAt !== null, 'last-used time');
    const listed = await sys.request('GET', '/v1/api-keys', { key: user.key });
    const entry = listed.body.keys.find((k: { id: string }) => k.id === made.body.id);
    expect(entry).toMatchObject({ name: 'laptop', prefix: made.body.prefix, revokedAt: null });
    expect(entry.lastUsedAt).not.toBeNull();
    expect(JSON.stringify(listed.body)).not.toContain(made.body.key);
    // Someone else's key is not yours to revoke: the same 404 as an unknown one.
    const other = await sys.createUser(['technician']);
    expect((await sys.request('DELETE', `/v1/api-keys/${made.body.id}`, { key: other.key })).status).toBe(404);
    expect((await sys.request('DELETE', `/v1/api-keys/${made.body.id}`, { key: user.key })).status).toBe(200);
    expect((await sys.request('GET', '/v1/devices', { key: made.body.key })).status).toBe(401);
    const events = await sys.prisma.auditEvent.findMany({ where: { actorId: user.userId, action: { startsWith: 'api_key.' } }, orderBy: { id: 'asc' } });
    expect(events.map((e) => e.action)).toEqual(['api_key.created', 'api_key.revoked']);
  });

  it('lets a partner admin build an organization with sites and groups, and revokes enrollment keys', async () => {
    const admin = await sys.createUser(['technician']);
    const slug = `initech-${crypto.randomUUID().slice(0, 6)}`;
    expect((await sys.request('POST', '/v1/orgs', { key: admin.key, body: { slug, name: 'Initech' } })).status).toBe(403);
    await sys.prisma.user.update({ where: { id: admin.userId }, data: { partnerAdmin: true } });
    const org = await sys.request('POST', '/v1/orgs', { key: admin.key, body: { slug, name: 'Initech', site: 'Austin' } });
    expect(org).toMatchObject({ status: 201, body: { slug, sites: [{ name: 'Austin' }] } });
    expect((await sys.request('POST', '/v1/orgs', { key: admin.key, body: { slug, name: 'Again' } })).status).toBe(409);
    expect((await sys.request('POST', '/v1/orgs', { key: admin.key, body: { slug: 'Bad Slug!', name: 'x' } })).body.error.message).toMatch(/^body\.slug: /);
    const site = await sys.request('POST', `/v1/orgs/${slug}/sites`, { key: admin.key, body: { name: 'Dallas' } });
    expect(site.status).toBe(201);
    const group = await sys.request('POST', `/v1/sites/${site.body.id}/groups`, { key: admin.key, body: { name: 'Servers' } });
    expect(group.status).toBe(201);
    expect((await sys.request('DELETE', `/v1/sites/${site.body.id}`, { key: admin.key })).status).toBe(409);
    const sites = await sys.request('GET', `/v1/orgs/${slug}/sites`, { key: admin.key });
    expect(sites.body.sites.map((s: { name: string; groups: { name: string }[] }) => [s.name, s.groups.map((g) => g.name)])).toEqual([['Austin', []], ['Dallas', ['Servers']]]);

    const key = await sys.request('POST', '/v1/enrollment-keys', { key: admin.key, body: { org: slug, site: 'Dallas', maxUses: 5 } });
    expect(key.status).toBe(201);
    const keys = await sys.request('GET', `/v1/orgs/${slug}/enrollment-keys`, { key: admin.key });
    expect(keys.body.keys).toHaveLength(1);
    expect(JSON.stringify(keys.body)).not.toContain(key.body.key);
    expect((await sys.request('DELETE', `/v1/enrollment-keys/${keys.body.keys[0].id}`, { key: admin.key })).body.revokedAt).not.toBeNull();
    const enroll = await sys.request('POST', '/v1/agents/enroll', { body: { key: key.body.key, hostname: 'late', os: 'Linux', executor: 'simulated' } });
    expect(enroll.status).toBe(401);
    const audited = await sys.prisma.auditEvent.findMany({ where: { orgId: org.body.id }, orderBy: { seq: 'asc' } });
    expect(audited.map((e) => e.action)).toEqual(['org.created', 'site.created', 'group.created', 'enrollment_key.created', 'enrollment_key.revoked']);
  });
});

describe('a technician narrowed to one site', () => {
  it('reaches only that site\'s devices, through the API and through the copilot', async () => {
    const [hqSite, branchSite] = acme().siteIds as [string, string];
    const names = [...sys.simulated.keys()];
    const [inside, outside] = [sys.simulated.get(names[0]!)!, sys.simulated.get(names[1]!)!];
    const admin = sys.keyOf('admin');
    expect((await sys.request('PATCH', `/v1/devices/${inside}`, { key: admin, body: { siteId: hqSite } })).status).toBe(200);
    expect((await sys.request('PATCH', `/v1/devices/${outside}`, { key: admin, body: { siteId: branchSite } })).status).toBe(200);

    const tech = await sys.createUser([]);
    const bound = await sys.request('POST', `/v1/orgs/${acme().slug}/bindings`, { key: admin, body: { userId: tech.userId, role: 'technician', siteIds: [hqSite] } });
    expect(bound).toMatchObject({ status: 201, body: { siteIds: [hqSite] } });

    const listed = await sys.request('GET', '/v1/devices', { key: tech.key });
    const ids = listed.body.devices.map((d: { id: string }) => d.id);
    expect(ids).toContain(inside);
    expect(ids).not.toContain(outside);

    const sessionId = await sys.startSession(tech.key);
    const denied = await sys.send(sessionId, tech.key, toolCall('get_device_info', { device_id: outside }));
    const deniedStep = toolStepOf(await sys.waitForTurn(sessionId, tech.key, denied), denied);
    expect(deniedStep).toMatchObject({ status: 'denied' });
    expect(deniedStep.summary).toMatch(/not found in the sites you work on/);
    expect(await sys.prisma.deviceCommand.count({ where: { deviceId: outside, id: { startsWith: sessionId } } })).toBe(0);

    const allowed = await sys.send(sessionId, tech.key, toolCall('get_device_info', { device_id: inside }));
    const allowedStep = toolStepOf(await sys.waitForTurn(sessionId, tech.key, allowed), allowed);
    expect(allowedStep.status).toBe('succeeded');

    const listedByCopilot = await sys.send(sessionId, tech.key, toolCall('list_devices', {}));
    const listStep = toolStepOf(await sys.waitForTurn(sessionId, tech.key, listedByCopilot), listedByCopilot);
    expect(listStep.summary).toMatch(/^1 devices/);
  }, 90_000);
});

describe('a technician narrowed to one site, and alerts', () => {
  it('acknowledges only alerts of devices in that site; another site\'s alert is denied as unknown and audited', async () => {
    const [hqSite, branchSite] = acme().siteIds as [string, string];
    const names = [...sys.simulated.keys()];
    const [inside, outside] = [sys.simulated.get(names[0]!)!, sys.simulated.get(names[1]!)!];
    const admin = sys.keyOf('admin');
    expect((await sys.request('PATCH', `/v1/devices/${inside}`, { key: admin, body: { siteId: hqSite } })).status).toBe(200);
    expect((await sys.request('PATCH', `/v1/devices/${outside}`, { key: admin, body: { siteId: branchSite } })).status).toBe(200);
    const tech = await sys.createUser([]);
    await sys.request('POST', `/v1/orgs/${acme().slug}/bindings`, { key: admin, body: { userId: tech.userId, role: 'technician', siteIds: [hqSite] } });
    const alert = (deviceId: string) => sys.prisma.alert.create({ data: { orgId: acme().id, deviceId, severity: 'critical', title: 'EDR offline', message: 'sensor stopped' } });
    const [theirs, mine] = [await alert(outside), await alert(inside)];

    const sessionId = await sys.startSession(tech.key);
    const denied = await sys.send(sessionId, tech.key, toolCall('acknowledge_alert', { alert_id: theirs.id }));
    expect(toolStepOf(await sys.waitForTurn(sessionId, tech.key, denied), denied)).toMatchObject({ status: 'denied', summary: expect.stringMatching(/not found in the sites you work on/) });
    expect((await sys.prisma.alert.findUniqueOrThrow({ where: { id: theirs.id } })).status).toBe('open');
    expect(await sys.prisma.auditEvent.findFirst({ where: { sessionId, action: 'security.device_out_of_scope', target: 'acknowledge_alert' } })).not.toBeNull();

    const allowed = await sys.send(sessionId, tech.key, toolCall('acknowledge_alert', { alert_id: mine.id }));
    expect(toolStepOf(await sys.waitForTurn(sessionId, tech.key, allowed), allowed)).toMatchObject({ status: 'succeeded', summary: 'alert acknowledged' });
  }, 90_000);
});
