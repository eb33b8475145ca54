/**
 * The remote terminal end to end, with the real api, PostgreSQL, Redis, Temporal, a real Linux agent process (a real
 * PTY through node-pty) and a simulated endpoint (its small shell): a terminal opens only once an approver other than
 * the technician approves; input and resizes sent before the agent said the PTY is open are neither lost nor
 * reordered; a `yes` flood waits for a browser that stopped drawing instead of piling up; the kill switch, a revoke
 * and the end of the approval's window close a live terminal at once; another org's device and terminal are unknown;
 * and every terminal leaves a recording whose SHA-256 is in the audit chain, a typed password redacted.
 */
import crypto from 'node:crypto';
import { TERMINAL_OUTPUT_WINDOW } from '../../common/terminal-protocol';
import { exportSession } from '../../audit/export';
import { startTestSystem, waitUntil, type TestSystem } from '../../test/harness';
import { approvalOfTerminal, approveTerminal, askForTerminal, openTerminal } from '../../test/terminal-client';

let sys: TestSystem;
let simulatedId: string;
beforeAll(async () => {
  sys = await startTestSystem({ agent: true, simulated: 1 });
  simulatedId = [...sys.simulated.values()][0]!;
}, 180_000);
afterAll(async () => {
  await sys?.stop();
});

const technician = () => sys.keyOf('technician');

/** A terminal on `deviceId`, asked for by the technician and approved by the approver. */
async function approvedTerminal(deviceId: string, windowSeconds?: number): Promise<string> {
  const id = await askForTerminal(sys, technician(), deviceId, { reason: 'look at the print spooler', ...(windowSeconds ? { windowSeconds } : {}) });
  await approveTerminal(sys, id);
  return id;
}

const auditOf = (terminalId: string, action: string) => sys.prisma.auditEvent.findMany({ where: { sessionId: terminalId, action }, orderBy: { id: 'asc' } });

describe('opening a terminal', () => {
  it('needs an approval by someone other than the technician, who types the device name', async () => {
    const id = await askForTerminal(sys, technician(), simulatedId);
    const approval = await approvalOfTerminal(sys, id);
    expect(approval.tier).toBe(4);
    const device = await sys.prisma.device.findUniqueOrThrow({ where: { id: simulatedId } });
    expect(approval.confirmationPhrase).toBe(device.name);

    const early = openTerminal(sys.url, technician(), id);
    expect(await early.opened).toEqual({ ok: false, error: 'this terminal is still waiting for an approver' });
    early.disconnect();

    // The technician cannot approve their own request, and a wrong phrase is refused.
    const own = await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: technician(), body: { decision: 'approve', digest: approval.digest, confirmation: device.name } });
    expect(own.status).toBe(403);
    const typo = await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve', digest: approval.digest, confirmation: 'ACME' } });
    expect(typo.status).toBe(400);

    await approveTerminal(sys, id);
    const term = openTerminal(sys.url, technician(), id);
    expect((await term.opened).ok).toBe(true);
    await term.connected;
    term.send('hostname\r');
    await term.waitFor(`${device.name}\r\n`, 'the hostname');
    term.send('exit 3\r');
    const closed = await term.closed;
    expect(closed).toMatchObject({ reason: 'exited', exitCode: 3 });
    term.disconnect();
    await waitUntil(async () => (await auditOf(id, 'terminal.closed')).length === 1, 'the close to be audited');
    expect((await auditOf(id, 'terminal.opened')).length).toBe(1);
  });

  it("takes its tier from the org's policy, never below T3", async () => {
    const admin = sys.keyOf('admin');
    const policy = `/v1/orgs/${sys.seed.orgs.acme.slug}/policy`;
    expect((await sys.request('PUT', policy, { key: admin, body: { overrides: [{ tool: 'open_terminal', tier: 1 }], reason: 'too low' } })).status).toBe(400);
    // Lowering below the default (T4) needs a partner admin's allowance for the org.
    const partner = await sys.createUser(['admin']);
    await sys.prisma.user.update({ where: { id: partner.userId }, data: { partnerAdmin: true } });
    expect((await sys.request('PUT', `${policy}/lowering`, { key: partner.key, body: { allowed: true, reason: 'terminals at T3 for this org' } })).status).toBe(200);
    expect((await sys.request('PUT', policy, { key: admin, body: { overrides: [{ tool: 'open_terminal', tier: 3 }], reason: 'terminals at T3' } })).status).toBe(200);
    try {
      const id = await askForTerminal(sys, technician(), simulatedId);
      const approval = await approvalOfTerminal(sys, id);
      expect(approval).toMatchObject({ tier: 3, confirmationPhrase: null });
      expect(await sys.prisma.auditEvent.count({ where: { orgId: sys.seed.orgs.acme.id, action: 'policy.lowered' } })).toBeGreaterThan(0);
    } finally {
      await sys.request('PUT', policy, { key: admin, body: { overrides: [], reason: 'back to the defaults' } });
      await sys.request('PUT', `${policy}/lowering`, { key: partner.key, body: { allowed: false, reason: 'done' } });
    }
  });

  it('opens for nobody but the technician who asked', async () => {
    const id = await approvedTerminal(simulatedId);
    const other = await sys.createUser(['technician']);
    const term = openTerminal(sys.url, other.key, id);
    expect(await term.opened).toEqual({ ok: false, error: 'only the technician who asked for this terminal can open it' });
    term.disconnect();
    expect((await auditOf(id, 'terminal.refused')).length).toBe(1);
  });

  it("answers another org's device and terminal exactly like unknown ones, and tells that org", async () => {
    const globex = sys.keyOf('technician', 'globex');
    const foreign = await sys.request('POST', `/v1/devices/${simulatedId}/terminals`, { key: globex, body: { reason: 'just looking around' } });
    const unknown = await sys.request('POST', `/v1/devices/${crypto.randomUUID()}/terminals`, { key: globex, body: { reason: 'just looking around' } });
    expect(foreign.status).toBe(404);
    expect(foreign.body).toEqual(unknown.body);

    const id = await approvedTerminal(simulatedId);
    const term = openTerminal(sys.url, globex, id);
    expect(await term.opened).toEqual({ ok: false, error: 'terminal not found' });
    term.disconnect();
    expect((await sys.request('GET', `/v1/terminals/${id}`, { key: globex })).status).toBe(404);
    await waitUntil(
      async () => (await sys.prisma.auditEvent.count({ where: { orgId: sys.seed.orgs.acme.id, action: 'security.cross_tenant_access' } })) >= 2,
      "the attempts to be audited in acme's chain",
    );
  });
});

describe('site scope', () => {
  const acme = () => sys.seed.orgs.acme;
  /** A new user holding `role` in acme, narrowed to `siteIds`. */
  async function narrowed(role: 'technician' | 'approver' | 'auditor' | 'admin', siteIds: string[]): Promise<{ userId: string; key: string; bindingId: string }> {
    const user = await sys.createUser([]);
    const bound = await sys.request('POST', `/v1/orgs/${acme().slug}/bindings`, { key: sys.keyOf('admin'), body: { userId: user.userId, role, siteIds } });
    expect(bound.status).toBe(201);
    return { ...user, bindingId: bound.body.id as string };
  }

  it("keeps a terminal and its recording from approvers, admins and auditors narrowed to another site, and tells the org", async () => {
    const [hq, warehouse] = acme().siteIds as [string, string];
    expect((await sys.prisma.device.findUniqueOrThrow({ where: { id: simulatedId } })).siteId).toBe(hq);
    const id = await approvedTerminal(simulatedId);
    const term = openTerminal(sys.url, technician(), id);
    await term.connected;
    term.send('exit\r');
    await term.closed;
    term.disconnect();
    const recording = await sys.prisma.terminalRecording.findFirstOrThrow({ where: { terminalSessionId: id } });
    await waitUntil(async () => (await sys.prisma.terminalRecording.findUniqueOrThrow({ where: { id: recording.id } })).sha256 !== null, 'the recording to be sealed');

    const [approver, admin, auditor] = [await narrowed('approver', [warehouse]), await narrowed('admin', [warehouse]), await narrowed('auditor', [warehouse])];
    for (const outsider of [approver, admin, auditor]) {
      const listed = await sys.request('GET', `/v1/terminals?org=${acme().slug}`, { key: outsider.key });
      expect(listed.status).toBe(200);
      expect(listed.body.terminals.map((t: { id: string }) => t.id)).not.toContain(id);
      const unknown = await sys.request('GET', `/v1/terminals/${crypto.randomUUID()}`, { key: outsider.key });
      const one = await sys.request('GET', `/v1/terminals/${id}`, { key: outsider.key });
      expect(one.status).toBe(404);
      expect(one.body).toEqual(unknown.body);
      expect((await sys.request('POST', `/v1/terminals/${id}/revoke`, { key: outsider.key, body: { reason: 'not mine' } })).status).toBe(404);
    }
    for (const outsider of [admin, auditor]) {
      const recordings = await sys.request('GET', `/v1/terminal-recordings?org=${acme().slug}`, { key: outsider.key });
      expect(recordings.status).toBe(200);
      expect(recordings.body.recordings.map((r: { id: string }) => r.id)).not.toContain(recording.id);
      const cast = await sys.request('GET', `/v1/terminal-recordings/${recording.id}`, { key: outsider.key });
      expect(cast.status).toBe(404);
    }
    expect(await sys.prisma.auditEvent.count({ where: { orgId: acme().id, action: 'terminal.view_refused', actorId: { in: [approver.userId, admin.userId, auditor.userId] } } })).toBeGreaterThanOrEqual(8);

    // Narrowed to the device's own site, and a whole-org auditor: they see it, and play it back.
    const insider = await narrowed('auditor', [hq]);
    expect((await sys.request('GET', `/v1/terminals/${id}`, { key: insider.key })).status).toBe(200);
    expect((await sys.request('GET', `/v1/terminal-recordings/${recording.id}`, { key: insider.key })).body.verified).toBe(true);
    expect((await sys.request('GET', `/v1/terminal-recordings?org=${acme().slug}`, { key: sys.keyOf('auditor') })).body.recordings.map((r: { id: string }) => r.id)).toContain(recording.id);
  });

  it('opens for the technician who asked only while their role still reaches the device', async () => {
    const [hq, warehouse] = acme().siteIds as [string, string];
    const tech = await narrowed('technician', [hq]);
    const id = await askForTerminal(sys, tech.key, simulatedId, { reason: 'look at the print spooler' });
    await approveTerminal(sys, id);
    // Moved to the other site after the approval: the grant is still theirs, the device no longer is.
    expect((await sys.request('DELETE', `/v1/bindings/${tech.bindingId}`, { key: sys.keyOf('admin') })).status).toBe(200);
    const moved = await sys.request('POST', `/v1/orgs/${acme().slug}/bindings`, { key: sys.keyOf('admin'), body: { userId: tech.userId, role: 'technician', siteIds: [warehouse] } });
    expect(moved.status).toBe(201);
    const term = openTerminal(sys.url, tech.key, id);
    expect(await term.opened).toEqual({ ok: false, error: 'you no longer hold a technician or admin role that reaches this device' });
    term.disconnect();
    expect(await sys.prisma.terminalRecording.count({ where: { terminalSessionId: id } })).toBe(0);
    expect((await auditOf(id, 'terminal.refused')).length).toBe(1);

    // Only an auditor now, of the whole org: no shell either.
    expect((await sys.request('DELETE', `/v1/bindings/${moved.body.id}`, { key: sys.keyOf('admin') })).status).toBe(200);
    expect((await sys.request('POST', `/v1/orgs/${acme().slug}/bindings`, { key: sys.keyOf('admin'), body: { userId: tech.userId, role: 'auditor', siteIds: [] } })).status).toBe(201);
    const again = openTerminal(sys.url, tech.key, id);
    expect(await again.opened).toEqual({ ok: false, error: 'you no longer hold a technician or admin role that reaches this device' });
    again.disconnect();
    expect(await sys.prisma.terminalRecording.count({ where: { terminalSessionId: id } })).toBe(0);
  });
});

describe('the connected acknowledgment', () => {
  it('holds input and resizes sent before the PTY is open and applies them in order', async () => {
    // The simulated shell runs each line as it is written, so the order in which input and resizes reach it shows.
    const id = await approvedTerminal(simulatedId);
    const term = openTerminal(sys.url, technician(), id, { cols: 80, rows: 24 });
    // Sent at once, before the open is even answered, let alone the PTY open on the endpoint.
    term.send('echo first\r');
    term.resize(101, 33);
    term.send('stty size\r');
    term.resize(90, 20);
    term.send('stty size\r');
    for (let i = 0; i < 20; i++) term.send(`echo line-${i}\r`);
    const connected = await term.connected;
    expect(connected).toMatchObject({ cols: 80, rows: 24 });
    const expected = ['first', '33 101', '20 90', ...Array.from({ length: 20 }, (_, i) => `line-${i}`)];
    await term.waitFor(new RegExp(expected.map((l) => `\\r\\n${l}\\r\\n`).join('[\\s\\S]*')), 'every early line in order, each after the resize before it');
    term.send('exit\r');
    await term.closed;
    term.disconnect();
    const resized = await auditOf(id, 'terminal.resized');
    expect(resized.map((e) => e.data)).toEqual([{ cols: 101, rows: 33 }, { cols: 90, rows: 20 }]);
  });

  it('loses nothing typed into a real shell before it started', async () => {
    const id = await approvedTerminal(sys.agent!.deviceId);
    const term = openTerminal(sys.url, technician(), id);
    term.send('echo early-$((40+2))\r');
    term.resize(101, 33);
    term.send('stty size; hostname\r');
    await term.connected;
    await term.waitFor(/early-42\r\n[\s\S]*33 101\r\n/, 'the early lines, run by bash once it started');
    // A password prompt on a real PTY (echo off in line mode) is told from bash's own line editor.
    term.send('read -s -p "pw: " X; echo got-${#X}\r');
    await term.waitFor('pw: ');
    await new Promise((r) => setTimeout(r, 300));
    term.send('hunter2\r');
    await term.waitFor('got-7');
    term.send('exit\r');
    await term.closed;
    term.disconnect();
    const recording = await sys.prisma.terminalRecording.findFirstOrThrow({ where: { terminalSessionId: id } });
    await waitUntil(async () => (await sys.prisma.terminalRecording.findUniqueOrThrow({ where: { id: recording.id } })).sha256 !== null, 'the recording to be sealed');
    const cast = (await sys.request('GET', `/v1/terminal-recordings/${recording.id}`, { key: sys.keyOf('auditor') })).body.cast as string;
    expect(cast).toContain('[redacted]');
    expect(cast).not.toContain('hunter2');
    expect(cast).toContain('"i","exit\\r"]');
  });
});

describe('backpressure', () => {
  it('pauses a `yes` flood while the browser does not keep up, then carries on', async () => {
    const id = await approvedTerminal(sys.agent!.deviceId);
    const term = openTerminal(sys.url, technician(), id);
    await term.connected;
    await term.waitFor(/[$#] $/, 'the prompt');
    term.acking(false);
    term.send('yes flood\r');
    await waitUntil(async () => term.bytes() > 0, 'the flood to start');
    // However long the browser does not acknowledge, at most a window (per hop) is ever in flight.
    await new Promise((r) => setTimeout(r, 2000));
    const heldBack = term.bytes();
    await new Promise((r) => setTimeout(r, 1000));
    expect(term.bytes()).toBe(heldBack);
    expect(heldBack).toBeLessThanOrEqual(2 * TERMINAL_OUTPUT_WINDOW);
    const relay = sys.api.terminals.live().find((r) => r.terminalSessionId === id)!;
    expect(relay.recorder.backlog()).toBeLessThan(2 * TERMINAL_OUTPUT_WINDOW);
    // Drawing again: the flood goes on, and Ctrl-C still reaches the shell through it.
    term.acking(true);
    await waitUntil(async () => term.bytes() > heldBack + 4 * TERMINAL_OUTPUT_WINDOW, 'the flood to go on');
    term.send('\x03');
    const mark = term.text().length;
    term.send('echo stopped-$((1+1))\r');
    await term.waitFor('stopped-2\r\n', 'the shell after Ctrl-C', 30_000, mark);
    term.send('exit\r');
    await term.closed;
    term.disconnect();
  });
});

describe('the cage closes a live terminal', () => {
  it('when an admin pauses the org (kill switch), and opens none until it is resumed', async () => {
    const id = await approvedTerminal(simulatedId);
    const term = openTerminal(sys.url, technician(), id);
    await term.connected;
    const paused = await sys.request('POST', `/v1/orgs/${sys.seed.orgs.acme.slug}/copilot/pause`, { key: sys.keyOf('admin') });
    expect(paused.status).toBe(200);
    try {
      expect(await term.closed).toMatchObject({ reason: 'paused' });
      term.disconnect();
      await waitUntil(async () => (await auditOf(id, 'terminal.killed')).length === 1, 'the kill to be audited');
      const again = openTerminal(sys.url, technician(), id);
      expect((await again.opened).ok).toBe(false);
      again.disconnect();
      const ask = await sys.request('POST', `/v1/devices/${simulatedId}/terminals`, { key: technician(), body: { reason: 'while paused' } });
      expect(ask.status).toBe(409);
    } finally {
      await sys.request('POST', `/v1/orgs/${sys.seed.orgs.acme.slug}/copilot/resume`, { key: sys.keyOf('admin') });
    }
  });

  it('when the pause lands while it opens, after its checks passed and before it is live', async () => {
    const id = await approvedTerminal(simulatedId);
    // The open's recording row waits on a lock held here, so the admin's pause commits after the open read the org
    // (not paused, the grant approved) and before its terminal is one the pause could close.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const lock = sys.prisma.$transaction(
      async (tx) => {
        await tx.$executeRawUnsafe('LOCK TABLE "TerminalRecording" IN EXCLUSIVE MODE');
        locked();
        await held;
      },
      { timeout: 60_000, maxWait: 10_000 },
    );
    await isLocked;
    const term = openTerminal(sys.url, technician(), id);
    try {
      const waiting = () => sys.prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS "n" FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'TerminalRecording' AND NOT l.granted`;
      await waitUntil(async () => (await waiting())[0]!.n > 0, 'the open to wait for its recording row');
      expect((await sys.request('POST', `/v1/orgs/${sys.seed.orgs.acme.slug}/copilot/pause`, { key: sys.keyOf('admin') })).status).toBe(200);
      release();
      await lock;
      expect(await term.opened).toEqual({ ok: false, error: expect.stringContaining('paused') });
      expect(await term.closed).toMatchObject({ reason: 'paused' });
      await waitUntil(async () => (await auditOf(id, 'terminal.killed')).length === 1, 'the kill to be audited');
    } finally {
      release();
      term.disconnect();
      await sys.request('POST', `/v1/orgs/${sys.seed.orgs.acme.slug}/copilot/resume`, { key: sys.keyOf('admin') });
    }
  });

  it('when its approval is revoked', async () => {
    const id = await approvedTerminal(simulatedId);
    const term = openTerminal(sys.url, technician(), id);
    await term.connected;
    const revoked = await sys.request('POST', `/v1/terminals/${id}/revoke`, { key: sys.keyOf('approver'), body: { reason: 'done here' } });
    expect(revoked.status).toBe(200);
    expect(await term.closed).toMatchObject({ reason: 'revoked' });
    term.disconnect();
  });

  it('when its approval window ends', async () => {
    const id = await approvedTerminal(simulatedId, 6);
    const term = openTerminal(sys.url, technician(), id);
    await term.connected;
    expect(await term.closed).toMatchObject({ reason: 'window' });
    term.disconnect();
    await waitUntil(async () => (await sys.prisma.terminalSession.findUniqueOrThrow({ where: { id } })).status === 'ended', 'the workflow to end the grant');
    const late = openTerminal(sys.url, technician(), id);
    expect((await late.opened).ok).toBe(false);
    late.disconnect();
  });
});

describe('the recording', () => {
  it('has every byte each way as asciicast, a typed password redacted, and its SHA-256 in the audit chain', async () => {
    const id = await approvedTerminal(simulatedId);
    const term = openTerminal(sys.url, technician(), id, { cols: 80, rows: 24 });
    await term.connected;
    term.send('echo héllo wörld ✓\r');
    await term.waitFor('héllo wörld ✓\r\n');
    term.send('sudo hostname\r');
    await term.waitFor('password for tech: ');
    term.send('hunter2-secret\r');
    await term.waitFor(/password for tech: \r\n/);
    term.resize(100, 30);
    term.send('stty size\r');
    await term.waitFor('30 100\r\n');
    term.send('exit\r');
    await term.closed;
    term.disconnect();

    const recording = await sys.prisma.terminalRecording.findFirstOrThrow({ where: { terminalSessionId: id } });
    await waitUntil(async () => (await sys.prisma.terminalRecording.findUniqueOrThrow({ where: { id: recording.id } })).sha256 !== null, 'the recording to be sealed');
    const res = await sys.request('GET', `/v1/terminal-recordings/${recording.id}`, { key: sys.keyOf('auditor') });
    expect(res.status).toBe(200);
    expect(res.body.verified).toBe(true);
    const lines = (res.body.cast as string).trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ version: 2, width: 80, height: 24 });
    const events = lines.slice(1) as [number, string, string][];
    const input = events.filter((e) => e[1] === 'i').map((e) => e[2]).join('');
    const output = events.filter((e) => e[1] === 'o').map((e) => e[2]).join('');
    expect(input).toContain('echo héllo wörld ✓\r');
    expect(input).toContain('[redacted]\r');
    expect(res.body.cast).not.toContain('hunter2');
    expect(output).toContain('héllo wörld ✓');
    expect(events.some((e) => e[1] === 'r' && e[2] === '100x30')).toBe(true);
    const times = events.map((e) => e[0]);
    expect([...times].sort((a, b) => a - b)).toEqual(times);

    const sealed = await auditOf(id, 'terminal.recorded');
    expect(sealed).toHaveLength(1);
    expect((sealed[0]!.data as { sha256: string }).sha256).toBe(crypto.createHash('sha256').update(res.body.cast as string).digest('hex'));
    // The technician is not an auditor: recordings are not theirs to read.
    expect((await sys.request('GET', `/v1/terminal-recordings/${recording.id}`, { key: technician() })).status).toBe(404);

    // `npm run audit -- export <workflow id>` of the request: its history, its events and the recording, matching the chain.
    const { workflowId } = await sys.prisma.terminalSession.findUniqueOrThrow({ where: { id } });
    const bundle = await exportSession({ prisma: sys.prisma, temporal: sys.temporal.client }, workflowId);
    expect(bundle.manifest.runs.length).toBeGreaterThan(0);
    expect(bundle.manifest.recordings).toEqual([{ id: recording.id, path: `recordings/${recording.id}.cast`, sealedSha256: (sealed[0]!.data as { sha256: string }).sha256, matchesChain: true }]);
    expect(bundle.files.get(`recordings/${recording.id}.cast`)).toBe(res.body.cast);
    const exported = JSON.parse(bundle.files.get('audit-events.json')!) as { action: string }[];
    expect(exported.map((e) => e.action)).toEqual(expect.arrayContaining(['terminal.requested', 'approval.requested', 'approval.approved', 'terminal.opened', 'terminal.resized', 'terminal.recorded', 'terminal.closed']));
  });
});
