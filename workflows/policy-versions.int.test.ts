/**
 * The versioned policy end to end (docs/policy.md), with real Temporal, PostgreSQL and simulated agents: every change
 * a version with its diff in the audit chain, rollback, raising a tier applies to the next call while an older
 * session's timeline keeps the version it ran under, lowering only with the partner admin's allowance, the what-if
 * over recorded calls (identical verdicts under the policy in force), standing approvals and the tenant fence.
 */
import { Prisma } from '@prisma/client';
import { verifyOrgChain } from '../audit/chain';
import { decideUnder, type DecisionInputs } from '../cage/policy-decision';
import { policyVersion } from '../lib/policy-store';
import { startTestSystem, waitUntil, type TestSystem } from '../test/harness';
import { startTestUpstream, type TestUpstream } from '../test/mcp-upstream-server';

let sys: TestSystem;
let tech: string;
let approver: string;
let admin: string;
let orgId: string;
let policyPath: string;
let vendor: TestUpstream;
const pc = (n: number) => sys.simulated.get(`${sys.seed.orgs.acme.slug.toUpperCase()}-PC-${String(n).padStart(2, '0')}`)!;
const restart = (n: number, service = 'Spooler') => `/tool manage_service ${JSON.stringify({ device_id: pc(n), service, action: 'restart' })}`;
const decide = (id: string, key: string, body: Record<string, unknown>) => sys.request('POST', `/v1/approvals/${id}/decision`, { key, body });
const toolStep = (session: any, turnId: string) => session.turns.find((t: { turnId: string }) => t.turnId === turnId).steps.find((s: { kind: string }) => s.kind === 'tool');
const put = (body: Record<string, unknown>, key = admin) => sys.request('PUT', policyPath, { key, body });
const raiseRestart = { overrides: [{ tool: 'manage_service', action: 'restart', tier: 4 }] };

beforeAll(async () => {
  // A small upstream MCP server over HTTP on 127.0.0.1 (test/mcp-upstream-server.ts): its tool is registered below.
  vendor = await startTestUpstream([{ name: 'get_forecast', description: 'The weather forecast for a city.', inputSchema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }], (_n, args) => `Forecast for ${String(args.city)}: sunny`);
  sys = await startTestSystem({ simulated: 6, env: { RATE_USER_MESSAGES_PER_MINUTE: '1000', RATE_ORG_MESSAGES_PER_HOUR: '100000', MCP_UPSTREAM_ALLOW_PRIVATE_URLS: 'true' } });
  tech = sys.keyOf('technician');
  approver = sys.keyOf('approver');
  admin = sys.keyOf('admin');
  orgId = sys.seed.orgs.acme.id;
  policyPath = `/v1/orgs/${sys.seed.orgs.acme.slug}/policy`;
});
afterAll(async () => {
  await sys?.stop();
  await vendor?.close();
});

/** Asks for a T3 restart on pc(n) and approves it (optionally as a standing approval); returns the session. */
async function approvedRestart(n: number, standing?: { days: number }) {
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, restart(n));
  const approval = await sys.waitForApproval(sessionId);
  expect(approval.tier).toBe(3);
  const res = await decide(approval.id, approver, { decision: 'approve', digest: approval.digest, ...(standing ? { standing } : {}) });
  expect(res.status).toBe(200);
  const session = await sys.waitForTurn(sessionId, tech, turnId);
  expect(toolStep(session, turnId)).toMatchObject({ tier: 3, status: 'succeeded' });
  return { sessionId, turnId, approval, decided: res.body };
}

async function timelineText(sessionId: string): Promise<string[]> {
  const res = await sys.request('GET', `/v1/sessions/${sessionId}/timeline`, { key: admin });
  expect(res.status).toBe(200);
  // The authorization entries ("tool <name>(…): …"), not the results.
  return res.body.entries.filter((e: { kind: string; text: string }) => e.kind === 'tool' && !e.text.startsWith('tool result')).map((e: { text: string }) => e.text);
}

describe('versions', () => {
  it('refuses a change without a reason with a 400 naming it', async () => {
    const res = await put({ overrides: [] });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/reason/);
  });

  it('keeps every change as a version with its author, reason and diff, rolls back as a new version, all in the audit chain', async () => {
    const before = (await sys.request('GET', policyPath, { key: admin })).body.version.number;
    const saved = await put({ overrides: [{ tool: 'restart_device', tier: 4 }], reason: 'reboots need two people' });
    expect(saved.status).toBe(200);
    expect(saved.body.version).toBe(before + 1);
    const got = (await sys.request('GET', policyPath, { key: admin })).body;
    expect(got.version).toMatchObject({ number: before + 1, reason: 'reboots need two people', createdBy: expect.stringContaining('@') });

    const one = await sys.request('GET', `${policyPath}/versions/${before + 1}`, { key: admin });
    expect(one.body).toMatchObject({ kind: 'edit', diff: [{ path: 'overrides.restart_device:*', before: null, after: 4 }] });

    const back = await sys.request('POST', `${policyPath}/rollback`, { key: admin, body: { toVersion: before, reason: 'undo' } });
    expect(back.status).toBe(200);
    expect(back.body.version).toBe(before + 2);
    const list = (await sys.request('GET', `${policyPath}/versions`, { key: admin })).body.versions;
    expect(list.slice(0, 2)).toEqual([
      expect.objectContaining({ number: before + 2, kind: 'rollback', reason: 'undo' }),
      expect.objectContaining({ number: before + 1, kind: 'edit', reason: 'reboots need two people' }),
    ]);
    const undone = await sys.request('GET', `${policyPath}/versions/${before + 2}`, { key: admin });
    expect(undone.body.diff).toEqual([{ path: 'overrides.restart_device:*', before: 4, after: null }]);

    const events = await sys.prisma.auditEvent.findMany({ where: { orgId, action: { in: ['policy.updated', 'policy.rolled_back'] } }, orderBy: { seq: 'asc' } });
    expect(events.map((e) => (e.data as { version: number }).version)).toEqual(expect.arrayContaining([before + 1, before + 2]));
    expect((await verifyOrgChain(sys.prisma, orgId)).broken).toBeNull();
  });

  it('lets an org admin only raise tiers; lowering needs the partner admin allowance and is audited', async () => {
    const lower = { overrides: [{ tool: 'manage_service', action: 'stop', tier: 2 }], reason: 'stops are routine here' };
    const refused = await put(lower);
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(/partner admin/);
    expect(await sys.prisma.auditEvent.count({ where: { orgId, action: 'policy.lowering_refused' } })).toBe(1);
    // A blast-radius threshold above the default is a lowering too; below it, a raise any org admin may make.
    const wider = await put({ overrides: [], blastRadiusThreshold: 50, reason: 'large fleets' });
    expect(wider.status).toBe(403);
    expect(wider.body.error.message).toMatch(/blast-radius threshold to 50/);
    const narrower = await put({ overrides: [], blastRadiusThreshold: 5, reason: 'small offices' });
    expect(narrower.status).toBe(200);
    expect((await sys.request('GET', policyPath, { key: admin })).body.blastRadiusThreshold).toBe(5);
    expect((await sys.request('GET', `${policyPath}/versions/${narrower.body.version}`, { key: admin })).body.diff).toEqual([{ path: 'blastRadiusThreshold', before: 10, after: 5 }]);

    // An org admin cannot grant themselves the allowance.
    const orgAdmin = await sys.createUser(['admin']);
    expect((await sys.request('PUT', `${policyPath}/lowering`, { key: orgAdmin.key, body: { allowed: true, reason: 'please' } })).status).toBe(403);
    const partner = await sys.createUser(['admin']);
    await sys.prisma.user.update({ where: { id: partner.userId }, data: { partnerAdmin: true } });
    expect((await sys.request('PUT', `${policyPath}/lowering`, { key: partner.key, body: { allowed: true, reason: 'this org runs its own lab' } })).status).toBe(200);
    expect((await sys.request('GET', policyPath, { key: admin })).body.loweringAllowed).toBe(true);

    const allowed = await put(lower);
    expect(allowed.status).toBe(200);
    const event = await sys.prisma.auditEvent.findFirst({ where: { orgId, action: 'policy.lowered' }, orderBy: { seq: 'desc' } });
    expect(event?.data).toMatchObject({ version: allowed.body.version, lowered: [{ tool: 'manage_service', action: 'stop', tier: 2 }] });

    expect((await sys.request('PUT', `${policyPath}/lowering`, { key: partner.key, body: { allowed: false, reason: 'lab is over' } })).status).toBe(200);
    expect((await put({ overrides: [], blastRadiusThreshold: 10, reason: 'back to the defaults' })).status).toBe(200);
  });
});

describe('raising manage_service:restart to T4', () => {
  let older: Awaited<ReturnType<typeof approvedRestart>>;
  let olderVersion: number;

  it('what-if under the policy in force re-decides every recorded call to its recorded verdict', async () => {
    older = await approvedRestart(2);
    olderVersion = (await sys.request('GET', policyPath, { key: admin })).body.version.number;
    const res = await sys.request('POST', `${policyPath}/what-if`, { key: admin, body: { policy: { overrides: [] } } });
    expect(res.status).toBe(200);
    expect(res.body.callsConsidered).toBeGreaterThan(0);
    expect(res.body.changed).toEqual([]);
    expect(res.body.approvals).toMatchObject({ added: 0, removed: 0 });
  });

  it('what-if of the raise lists the recorded restart as T3 approval → T4 approval', async () => {
    const res = await sys.request('POST', `${policyPath}/what-if`, { key: admin, body: { policy: raiseRestart, windowDays: 7 } });
    expect(res.status).toBe(200);
    const invocation = await sys.prisma.approval.findUniqueOrThrow({ where: { id: older.approval.id } });
    expect(res.body.changed).toEqual([
      expect.objectContaining({
        toolCallId: invocation.invocationId,
        sessionId: older.sessionId,
        tool: 'manage_service',
        action: 'restart',
        devices: [`${sys.seed.orgs.acme.slug.toUpperCase()}-PC-02`],
        before: { outcome: 'approval', tier: 3 },
        after: { outcome: 'approval', tier: 4 },
      }),
    ]);
    // Still one approval each: the tier changes, not whether a human is asked.
    expect(res.body.approvals).toMatchObject({ added: 0, removed: 0 });
  });

  it('adopted, the next restart needs T4 while the older session still shows the version it ran under', async () => {
    const saved = await put({ ...raiseRestart, reason: 'restarts during business hours hurt' });
    expect(saved.status).toBe(200);
    const sessionId = await sys.startSession(tech);
    await sys.send(sessionId, tech, restart(3));
    const approval = await sys.waitForApproval(sessionId);
    expect(approval.tier).toBe(4);
    const row = await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } });
    expect(row.policyVersion).toBe(saved.body.version);
    // A T4 call is never a standing approval.
    const standing = await decide(approval.id, approver, { decision: 'approve', digest: approval.digest, confirmation: approval.confirmationPhrase, standing: { days: 1 } });
    expect(standing.status).toBe(400);
    expect(standing.body.error.message).toMatch(/T4/);
    expect((await decide(approval.id, approver, { decision: 'reject', reason: 'not today' })).status).toBe(200);

    await waitUntil(async () => (await timelineText(sessionId)).some((t) => t.includes(`under policy v${saved.body.version}`)), 'the new call to show its version');
    const old = await timelineText(older.sessionId);
    expect(old).toEqual([expect.stringMatching(new RegExp(`needs approval \\(T3\\) under policy v${olderVersion}$`))]);
    const inv = await sys.prisma.toolInvocation.findUniqueOrThrow({ where: { id: row.invocationId } });
    expect(inv.policyVersion).toBe(saved.body.version);
    expect((await put({ overrides: [], reason: 'restarts back to T3' })).status).toBe(200);
  });
});

describe('standing approvals', () => {
  let rule: { id: string };

  it('approving a T3 call as standing lets that exact call through, audited with the rule', async () => {
    const first = await approvedRestart(4, { days: 2 });
    expect(first.decided.standingRuleId).toEqual(expect.any(String));
    const list = (await sys.request('GET', `${policyPath}/standing-approvals`, { key: admin })).body.standing;
    expect(list).toEqual([expect.objectContaining({ id: first.decided.standingRuleId, tool: 'manage_service', action: 'restart', author: expect.stringContaining('@'), uses: 0 })]);
    rule = list[0];
    expect(list[0].devices).toEqual([{ id: pc(4), name: `${sys.seed.orgs.acme.slug.toUpperCase()}-PC-04` }]);
    expect((await sys.request('GET', `${policyPath}/versions`, { key: admin })).body.versions[0]).toMatchObject({ kind: 'standing-approval' });

    // What-if shows the approval it saves for a proposed rule of the same call.
    const whatIf = await sys.request('POST', `${policyPath}/what-if`, {
      key: admin,
      body: { policy: { overrides: [], standing: [{ tool: 'manage_service', params: { device_id: pc(2), service: 'Spooler', action: 'restart' }, devices: [pc(2)] }] } },
    });
    expect(whatIf.body.standingApprovalsSaved).toBeGreaterThanOrEqual(1);

    const sessionId = await sys.startSession(tech);
    const turnId = await sys.send(sessionId, tech, restart(4));
    const session = await sys.waitForTurn(sessionId, tech, turnId);
    expect(toolStep(session, turnId)).toMatchObject({ tier: 3, status: 'succeeded' });
    const approvals = await sys.prisma.approval.findMany({ where: { sessionId } });
    expect(approvals).toEqual([expect.objectContaining({ status: 'approved', channel: 'standing', standingRuleId: rule.id })]);
    const event = await sys.prisma.auditEvent.findFirst({ where: { orgId, sessionId, action: 'tool.authorized' } });
    expect(event?.data).toMatchObject({ tier: 3, standingApproval: { id: rule.id } });
    expect((await timelineText(sessionId)).join('\n')).toContain(`by standing approval ${rule.id}`);
    expect((await sys.request('GET', `${policyPath}/standing-approvals`, { key: admin })).body.standing[0].uses).toBe(1);
  });

  it('does not let a different device or parameter through', async () => {
    for (const message of [restart(5), restart(4, 'W32Time')]) {
      const sessionId = await sys.startSession(tech);
      await sys.send(sessionId, tech, message);
      const approval = await sys.waitForApproval(sessionId);
      expect(approval.tier).toBe(3);
      expect((await decide(approval.id, approver, { decision: 'reject', reason: 'not now' })).status).toBe(200);
    }
  });

  it('is refused to another org (404) and revoked at once: the same call needs an approval again', async () => {
    const other = sys.keyOf('admin', 'globex');
    const path = `${policyPath}/standing-approvals/${rule.id}`;
    expect((await sys.request('DELETE', path, { key: other, body: { reason: 'not mine' } })).status).toBe(404);
    expect((await sys.request('GET', `${policyPath}/versions`, { key: other })).status).toBe(404);
    expect((await sys.request('POST', `${policyPath}/what-if`, { key: other, body: { policy: { overrides: [] } } })).status).toBe(404);

    const revoked = await sys.request('DELETE', path, { key: admin, body: { reason: 'the maintenance window is over' } });
    expect(revoked.status).toBe(200);
    expect((await sys.request('GET', `${policyPath}/standing-approvals`, { key: admin })).body.standing).toEqual([]);
    expect(await sys.prisma.auditEvent.count({ where: { orgId, action: 'policy.standing_revoked', target: rule.id } })).toBe(1);
    const sessionId = await sys.startSession(tech);
    await sys.send(sessionId, tech, restart(4));
    const approval = await sys.waitForApproval(sessionId);
    expect(approval.tier).toBe(3);
    expect((await decide(approval.id, approver, { decision: 'reject' })).status).toBe(200);
  });
});

describe('upstream MCP tools in the policy', () => {
  const forecast = 'upstream.vendor.get_forecast';
  const ask = (city: string) => `/tool mcp__vendor__get_forecast ${JSON.stringify({ city })}`;
  const raise = { overrides: [{ tool: forecast, action: '*', tier: 3 }] };
  let first: { sessionId: string; invocationId: string };

  /** Asks for the forecast in a new session; answers the session and its one invocation once it is decided. */
  async function forecastCall(city: string) {
    const sessionId = await sys.startSession(tech);
    const turnId = await sys.send(sessionId, tech, ask(city));
    return { sessionId, turnId };
  }

  it('registers the upstream at T2 and runs its call under the policy, recording the inputs the what-if needs', async () => {
    const org = sys.seed.orgs.acme.slug;
    expect((await sys.request('PUT', `/v1/orgs/${org}/mcp-upstreams/vendor`, { key: admin, body: { transport: 'http', url: vendor.url } })).status).toBe(201);
    // T2 is below the T3 every upstream tool starts at: a lowering, allowed for the moment by a partner admin.
    expect((await sys.request('PUT', `/v1/orgs/${org}/mcp-upstreams/vendor/tools/get_forecast/tier`, { key: admin, body: { tier: 2 } })).status).toBe(403);
    const partner = await sys.createUser(['admin']);
    await sys.prisma.user.update({ where: { id: partner.userId }, data: { partnerAdmin: true } });
    const allow = (allowed: boolean) => sys.request('PUT', `/v1/orgs/${org}/policy/lowering`, { key: partner.key, body: { allowed, reason: allowed ? 'the vendor forecast is a harmless read' : 'done' } });
    expect((await allow(true)).status).toBe(200);
    expect((await sys.request('PUT', `/v1/orgs/${org}/mcp-upstreams/vendor/tools/get_forecast/tier`, { key: admin, body: { tier: 2 } })).status).toBe(200);
    expect((await allow(false)).status).toBe(200);
    const { sessionId, turnId } = await forecastCall('Oslo');
    const session = await sys.waitForTurn(sessionId, tech, turnId);
    expect(toolStep(session, turnId)).toMatchObject({ tier: 2, status: 'succeeded' });
    const inv = await sys.prisma.toolInvocation.findFirstOrThrow({ where: { orgId, sessionId, toolName: forecast } });
    expect(inv.policyInputs).toMatchObject({ tool: forecast, upstreamTier: 2, devices: [] });
    first = { sessionId, invocationId: inv.id };

    const got = (await sys.request('GET', policyPath, { key: admin })).body;
    expect(got.upstreamTools).toEqual([{ tool: forecast, upstream: 'vendor', name: 'get_forecast', status: 'enabled', registeredTier: 2, override: null }]);
  });

  it('what-if: no change under the policy in force; the raise shows the upstream call T2 → T3 and an approval added', async () => {
    const same = await sys.request('POST', `${policyPath}/what-if`, { key: admin, body: { policy: { overrides: [] } } });
    expect(same.status).toBe(200);
    // Earlier calls of this file ran under other versions (a T4 raise, a revoked standing approval): only the upstream ones here.
    const upstreamOf = (changed: { tool: string }[]) => changed.filter((c) => c.tool === forecast);
    expect(same.body.callsConsidered).toBeGreaterThan(0);
    expect(upstreamOf(same.body.changed)).toEqual([]);
    const raised = await sys.request('POST', `${policyPath}/what-if`, { key: admin, body: { policy: raise } });
    expect(raised.status).toBe(200);
    expect(upstreamOf(raised.body.changed)).toEqual([expect.objectContaining({ toolCallId: first.invocationId, sessionId: first.sessionId, tool: forecast, before: { outcome: 'allowed', tier: 2 }, after: { outcome: 'approval', tier: 3 } })]);
    expect(raised.body.approvals.added - same.body.approvals.added).toBe(1);
    expect(raised.body.approvals.removed).toBe(same.body.approvals.removed);
  });

  it('refuses an override of an upstream tool the org did not register, and an action other than "*", with a 400 naming it', async () => {
    const unknown = await put({ overrides: [{ tool: 'upstream.vendor.delete_city', action: '*', tier: 4 }], reason: 'no such tool' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/^body\.overrides\.0\.tool: no upstream MCP server of this organization registered "upstream\.vendor\.delete_city"/);
    const action = await put({ overrides: [{ tool: forecast, action: 'read', tier: 4 }], reason: 'no actions' });
    expect(action.status).toBe(400);
    expect(action.body.error.message).toMatch(/^body\.overrides\.0\.action: .* use "\*"/);
  });

  it('raised to T3 by a policy version, the next call of it waits for an approver', async () => {
    const saved = await put({ ...raise, reason: 'forecasts cost money' });
    expect(saved.status).toBe(200);
    expect((await sys.request('GET', policyPath, { key: admin })).body.upstreamTools[0]).toMatchObject({ registeredTier: 2, override: 3 });
    const { sessionId } = await forecastCall('Bergen');
    const approval = await sys.waitForApproval(sessionId);
    expect(approval.tier).toBe(3);
    expect((await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).policyVersion).toBe(saved.body.version);
    expect(vendor.calls.get('get_forecast')).toBe(1);
    expect((await decide(approval.id, approver, { decision: 'reject', reason: 'not now' })).status).toBe(200);
  });

  it('lowering it below its registered tier needs the partner admin allowance (403 and audited without, audited with)', async () => {
    const lower = { overrides: [{ tool: forecast, action: '*', tier: 1 }], reason: 'a read really' };
    const refusedBefore = await sys.prisma.auditEvent.count({ where: { orgId, action: 'policy.lowering_refused' } });
    const refused = await put(lower);
    expect(refused.status).toBe(403);
    expect(refused.body.error.message).toMatch(/upstream\.vendor\.get_forecast to T1 below the default needs a partner admin/);
    const events = await sys.prisma.auditEvent.findMany({ where: { orgId, action: 'policy.lowering_refused' }, orderBy: { seq: 'asc' } });
    expect(events).toHaveLength(refusedBefore + 1);
    expect(events.at(-1)?.data).toMatchObject({ lowered: [{ tool: forecast, action: '*', tier: 1 }] });

    const partner = await sys.createUser(['admin']);
    await sys.prisma.user.update({ where: { id: partner.userId }, data: { partnerAdmin: true } });
    expect((await sys.request('PUT', `${policyPath}/lowering`, { key: partner.key, body: { allowed: true, reason: 'vendor is read-only' } })).status).toBe(200);
    const allowed = await put(lower);
    expect(allowed.status).toBe(200);
    const event = await sys.prisma.auditEvent.findFirst({ where: { orgId, action: 'policy.lowered' }, orderBy: { seq: 'desc' } });
    expect(event?.data).toMatchObject({ version: allowed.body.version, lowered: [{ tool: forecast, action: '*', tier: 1 }] });
    // Lowered, it runs at T1 at once.
    const { sessionId, turnId } = await forecastCall('Tromso');
    expect(toolStep(await sys.waitForTurn(sessionId, tech, turnId), turnId)).toMatchObject({ tier: 1, status: 'succeeded' });

    expect((await sys.request('PUT', `${policyPath}/lowering`, { key: partner.key, body: { allowed: false, reason: 'done' } })).status).toBe(200);
    expect((await put({ overrides: [], reason: 'forecasts back to their registered tier' })).status).toBe(200);
  });
});

describe('one decision function', () => {
  it('gives every call this file recorded its recorded verdict again, under the version it was decided under', async () => {
    const calls = await sys.prisma.toolInvocation.findMany({ where: { orgId, policyInputs: { not: Prisma.DbNull } }, orderBy: { createdAt: 'asc' } });
    // Seven built-in calls and three of the upstream MCP tool.
    expect(calls.length).toBe(10);
    expect(calls.filter((c) => c.toolName === 'upstream.vendor.get_forecast').map((c) => `${c.decision} T${c.tier}`)).toEqual(['allow T2', 'approve T3', 'allow T1']);
    const outcomes = new Set<string>();
    for (const call of calls) {
      const version = await policyVersion(sys.prisma, orgId, call.policyVersion!);
      const verdict = decideUnder(version!.document, call.policyInputs as unknown as DecisionInputs, call.createdAt);
      const again = verdict.ok ? `${verdict.tier >= 3 && !verdict.standing ? 'approve' : 'allow'} T${verdict.tier}${verdict.standing ? ` standing ${verdict.standing.id}` : ''}` : 'deny';
      const recorded = call.decision === 'deny' ? 'deny' : `${call.standingRuleId ? 'allow' : call.decision} T${call.tier}${call.standingRuleId ? ` standing ${call.standingRuleId}` : ''}`;
      expect({ id: call.id, verdict: again }).toEqual({ id: call.id, verdict: recorded });
      outcomes.add(recorded.replace(/ standing .*/, ' standing'));
    }
    // T3 approvals, a T4 approval and a standing approval's pass were all among them.
    expect([...outcomes]).toEqual(expect.arrayContaining(['approve T3', 'approve T4', 'allow T3 standing']));
  });
});

describe('what-if of the rate limits and approval expiry a proposal holds', () => {
  const limits = (manageService: number) => ({ userMessagesPerMinute: null, orgMessagesPerHour: null, toolCallsPerUser: { manage_service: manageService } });

  it('a recorded decision that came after the proposed expiry of its tier shows the approval as expired', async () => {
    const sessionId = await sys.startSession(tech);
    const turnId = await sys.send(sessionId, tech, restart(6));
    const approval = await sys.waitForApproval(sessionId);
    // The approver takes longer than the 2 s the proposal below gives a T3 approval (the least a policy allows).
    await new Promise((r) => setTimeout(r, 2500));
    expect((await decide(approval.id, approver, { decision: 'approve', digest: approval.digest })).status).toBe(200);
    expect(toolStep(await sys.waitForTurn(sessionId, tech, turnId), turnId)).toMatchObject({ status: 'succeeded' });
    const { invocationId } = await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } });

    const strict = await sys.request('POST', `${policyPath}/what-if`, { key: admin, body: { policy: { overrides: [], approvalTtlSeconds: { t3: 2, t4: 900 } } } });
    expect(strict.status).toBe(200);
    const mine = strict.body.changed.find((c: { toolCallId: string }) => c.toolCallId === invocationId);
    expect(mine).toMatchObject({
      sessionId,
      before: { outcome: 'approval', tier: 3 },
      after: { outcome: 'expired', tier: 3 },
      why: expect.stringMatching(/^the approval would have expired: approved after \d+ s, and a T3 approval expires after 2 s$/),
    });
    expect(strict.body.approvals.expired).toBeGreaterThanOrEqual(1);
    // Still asked, so not an approval removed (against the same proposal without an expiry); under a longer expiry it came in time.
    const base = await sys.request('POST', `${policyPath}/what-if`, { key: admin, body: { policy: { overrides: [] } } });
    expect(strict.body.approvals.removed).toBe(base.body.approvals.removed);
    const lenient = await sys.request('POST', `${policyPath}/what-if`, { key: admin, body: { policy: { overrides: [], approvalTtlSeconds: { t3: 3600, t4: 900 } } } });
    expect(lenient.body.changed.find((c: { toolCallId: string }) => c.toolCallId === invocationId)).toBeUndefined();
    expect(lenient.body.approvals.expired).toBe(0);
  });

  it('a tighter per-tool limit refuses the recorded calls past it, counted per user in recorded order, and says which limit', async () => {
    const restarts = await sys.prisma.toolInvocation.findMany({ where: { orgId, toolName: 'manage_service', policyInputs: { not: Prisma.DbNull } }, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], select: { id: true } });
    expect(restarts.length).toBeGreaterThan(2);
    // Every manage_service call of this file came from the technician within a few minutes: the first one in the
    // 10-minute window passes a limit of 1, every later one would have been refused.
    const base = await sys.request('POST', `${policyPath}/what-if`, { key: admin, body: { policy: { overrides: [] } } });
    const liveKey = `tool:manage_service:user:${(await sys.prisma.toolInvocation.findFirstOrThrow({ where: { id: restarts[0]!.id }, select: { session: { select: { userId: true } } } })).session.userId}`;
    const liveBefore = await sys.limiter.count(liveKey, 600_000);
    const one = await sys.request('POST', `${policyPath}/what-if`, { key: admin, body: { policy: { overrides: [], rateLimits: limits(1) } } });
    expect(one.status).toBe(200);
    const refused = one.body.changed.filter((c: { why: string }) => c.why.startsWith('rate limit:'));
    expect(refused.map((c: { toolCallId: string }) => c.toolCallId).sort()).toEqual(restarts.slice(1).map((r) => r.id).sort());
    expect(refused[0]).toMatchObject({ tool: 'manage_service', after: { outcome: 'denied', tier: null }, why: 'rate limit: manage_service at most 1 times per 10 min per user' });
    // The approvals they needed go with them.
    expect(one.body.approvals.removed).toBeGreaterThan(base.body.approvals.removed);

    // A limit as large as the calls made refuses none; the live counters were not touched by either replay.
    const enough = await sys.request('POST', `${policyPath}/what-if`, { key: admin, body: { policy: { overrides: [], rateLimits: limits(restarts.length) } } });
    expect(enough.body.changed.filter((c: { why: string }) => c.why.startsWith('rate limit:'))).toEqual([]);
    expect(await sys.limiter.count(liveKey, 600_000)).toBe(liveBefore);
  });
});
