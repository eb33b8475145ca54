/**
 * Nobody waits in silence. With a simulated endpoint whose network is cut (the api sees it go offline): a question
 * about it is answered at once with what is known (when it was last seen, its last reading), not after the
 * command's ten-minute wait; asked to wait, the read is queued, the session says so (device, until when, how to
 * cancel), and the technician cancels it with the CLI; an approved change for it says it is queued and for how long,
 * and only its technician or an org admin may cancel it; a message queued behind one waiting for an approval says so.
 * Real api, worker, Temporal, PostgreSQL, agent process, CLI.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { environment } from '../lib/env';
import { CommandJournal } from '../agent/journal';
import { startTestSystem, toolCall, toolStepOf, waitUntil, type TestSystem } from '../test/harness';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..');
let sys: TestSystem;
let tech: string;
let name: string;
let deviceId: string;
let sessionId: string;
let dataDir: string;

beforeAll(async () => {
  sys = await startTestSystem({ simulated: 1, cuttableAgents: true, env: { RATE_USER_MESSAGES_PER_MINUTE: '1000' } });
  tech = sys.keyOf('technician');
  [name, deviceId] = [...sys.simulated][0]! as [string, string];
  sessionId = await sys.startSession(tech);
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-cli-'));
}, 180_000);

afterAll(async () => {
  await sys?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** The technician's CLI against the test system, as they would run it. */
async function copilot(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = environment({ LOG_LEVEL: 'silent', GATEHOUSE_API_KEY: tech, DATA_DIR: dataDir });
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', path.join(root, 'cli', 'copilot.ts'), ...args, '--server', sys.url], { cwd: root, env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** The turn's step of `tool` (the offline model lists the devices first). */
const stepOf = (session: any, turnId: string, tool: string) => session.turns.find((t: { turnId: string }) => t.turnId === turnId)?.steps.find((s: { tool?: string }) => s.tool === tool);
const answerOf = (session: any, turnId: string) => session.turns.find((t: { turnId: string }) => t.turnId === turnId);
const commandsOf = (turnId: string) => sys.prisma.deviceCommand.findMany({ where: { id: { startsWith: `${sessionId}:${turnId}-` } } });

it('answers a read of an offline device at once with when it was last seen and its last reading', async () => {
  const question = `what is the hostname and uptime of ${name}?`;
  const live = await sys.waitForTurn(sessionId, tech, await sys.send(sessionId, tech, question));
  expect(answerOf(live, live.turns.at(-1).turnId).answer).toContain(`${name} reports hostname`);

  await sys.agentsPath!.cut();
  await waitUntil(async () => (await sys.prisma.device.findUniqueOrThrow({ where: { id: deviceId } })).online === false, 'the api to see the device go');
  const lastSeen = (await sys.prisma.device.findUniqueOrThrow({ where: { id: deviceId } })).lastSeenAt!.toISOString();

  const turnId = await sys.send(sessionId, tech, question);
  const session = await sys.waitForTurn(sessionId, tech, turnId);
  const answer = answerOf(session, turnId).answer as string;
  expect(answer).toContain(`${name} has been offline since ${lastSeen}, so it was not read live.`);
  expect(answer).toMatch(/Last known \(read [^)]+\): hostname /);
  expect(stepOf(session, turnId, 'get_device_info')).toMatchObject({ status: 'succeeded' });
  // Nothing was queued for the device: its one command ended at once, never sent.
  const [command] = await commandsOf(turnId);
  expect(command).toMatchObject({ status: 'failed', errorCode: 'DEVICE_OFFLINE', deliveredAt: null });
  expect([...CommandJournal.startsIn(sys.journalOf(name)).values()].reduce((a, b) => a + b, 0)).toBe(1);

  // As a new user tries it: the CLI prints the tool it runs and then the answer, at once.
  const cli = await copilot('ask', question, '--org', sys.seed.orgs.acme.slug);
  expect(cli.code).toBe(0);
  expect(cli.stdout).toContain('→ get_device_info (tier 1)');
  expect(cli.stdout).toContain(`${name} has been offline since ${lastSeen}, so it was not read live.`);
});

it('waits for an offline device when asked, shows the wait, and the technician cancels it with the CLI', async () => {
  const watch = await sys.watchSession(sessionId, tech);
  const turnId = await sys.send(sessionId, tech, `wait for it: what is the hostname of ${name}?`);
  const waiting = await watch.next((e) => e.type === 'command:waiting' && e.turnId === turnId, 'the command to say it waits');
  expect(waiting).toMatchObject({ tool: 'get_device_info', device: name });
  expect(waiting.text).toContain(`${name} is offline since`);
  expect(waiting.text).toContain('is queued and runs when it reconnects, until');
  expect(Date.parse(waiting.expiresAt!)).toBeGreaterThan(Date.now() + 5 * 60_000);

  // The session shows it too (the console's step, the CLI's fallback), with the command to cancel.
  const shown = (await sys.request('GET', `/v1/sessions/${sessionId}`, { key: tech })).body;
  const step = shown.steps.find((s: { turnId: string; tool: string }) => s.turnId === turnId && s.tool === 'get_device_info');
  expect(step.waiting).toEqual([expect.objectContaining({ commandId: waiting.commandId, device: name, online: false, status: 'pending' })]);

  const cancelled = await copilot('cancel', waiting.commandId!);
  expect(cancelled).toMatchObject({ code: 0, stdout: `cancelled: system_info on ${name} will not be sent; the session was told\n` });
  const session = await sys.waitForTurn(sessionId, tech, turnId);
  expect(stepOf(session, turnId, 'get_device_info')).toMatchObject({ status: 'failed' });
  expect(stepOf(session, turnId, 'get_device_info').summary).toContain('not run: cancelled by a person before it reached the device');
  expect(await sys.prisma.auditEvent.count({ where: { sessionId, action: 'command.cancelled', target: name } })).toBe(1);

  const again = await copilot('cancel', waiting.commandId!);
  expect(again.code).toBe(1);
  expect(again.stderr).toContain('the command is already failed; it cannot be cancelled');
  watch.close();
});

it('says an approved change for an offline device is queued and for how long; only its technician or an admin cancels it', async () => {
  const watch = await sys.watchSession(sessionId, tech);
  const turnId = await sys.send(sessionId, tech, toolCall('manage_service', { device_id: deviceId, service: 'Spooler', action: 'restart' }));
  const approval = await sys.waitForApproval(sessionId);
  expect((await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve' } })).status).toBe(200);
  const waiting = await watch.next((e) => e.type === 'command:waiting' && e.turnId === turnId, 'the change to say it waits');
  expect(waiting.text).toMatch(new RegExp(`^${name} is offline since .+: manage_service is queued and runs when it reconnects, until .+ \\(about 10 min\\); then it ends unrun$`));

  const other = await sys.createUser(['technician']);
  const refused = await sys.request('POST', `/v1/commands/${encodeURIComponent(waiting.commandId!)}/cancel`, { key: other.key });
  expect(refused.status).toBe(403);
  const done = await sys.request('POST', `/v1/commands/${encodeURIComponent(waiting.commandId!)}/cancel`, { key: sys.keyOf('admin') });
  expect(done).toMatchObject({ status: 200, body: { device: name, kind: 'manage_service', status: 'failed', errorCode: 'CANCELLED' } });
  const session = await sys.waitForTurn(sessionId, tech, turnId);
  expect(toolStepOf(session, turnId)).toMatchObject({ tool: 'manage_service', status: 'failed' });
  watch.close();
});

it("says a message is queued behind the session's earlier one that waits for an approval, and how not to wait", async () => {
  const env = environment({ LOG_LEVEL: 'silent', GATEHOUSE_API_KEY: tech, DATA_DIR: dataDir });
  const cli = (...args: string[]) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'cli', 'copilot.ts'), ...args, '--server', sys.url], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = { text: '' };
    child.stdout.on('data', (d) => (out.text += d));
    child.stderr.on('data', (d) => (out.text += d));
    return { out, done: new Promise<number | null>((resolve) => child.on('exit', resolve)) };
  };
  // The CLI's own session (its first ask above made it): a T3 call there waits for an approver.
  const org = sys.seed.orgs.acme.slug;
  const first = cli('ask', toolCall('manage_service', { device_id: deviceId, service: 'Spooler', action: 'stop' }), '--org', org);
  // (Made by this ask when no earlier one did.)
  const store = path.join(dataDir, 'cli-sessions.json');
  await waitUntil(async () => existsSync(store), 'the CLI to have a session');
  const cliSession = Object.values(JSON.parse(await readFile(store, 'utf8')) as Record<string, string>)[0]!;
  const approval = await sys.waitForApproval(cliSession);
  const second = cli('ask', `what is the hostname of ${name}?`, '--org', org);
  await waitUntil(async () => second.out.text.includes('queued behind'), 'the second message to say it is queued');
  expect(second.out.text).toContain(`queued behind this session's earlier message, still running: it waits for approval ${approval.id}`);
  expect(second.out.text).toContain(`not to wait, ask in a new session: npm run copilot -- ask --new "what is the hostname of ${name}?"`);
  // Rejected: the earlier turn ends, and the queued message is answered.
  expect((await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'reject', reason: 'not now' } })).status).toBe(200);
  const [, code] = await Promise.all([first.done, second.done]);
  expect(code).toBe(0);
  // Answered live, or from what is known when an earlier test of this file cut the device's network.
  expect(second.out.text).toMatch(new RegExp(`${name} (reports hostname|has been offline since)`));
}, 120_000);
