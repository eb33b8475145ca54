/**
 * A remediation over 50 simulated endpoints survives its worker being killed (SIGKILL, a separate process) in
 * the middle: a new worker finishes it, and every endpoint's own command journal shows its command started
 * exactly once.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { CommandJournal } from '../agent/journal';
import { environment } from '../lib/env';
import { startTestSystem, waitUntil, toolStepOf, type TestSystem } from '../test/harness';
import { approveWithPasskey } from '../test/passkey';

const DEVICES = 50;
/** Each device takes a second, as a real fix would: the remediation is still under way when the test acts on it. */
const SLOW_FIX = { type: 'library_script', script: 'slow-fix' };
let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({ simulated: DEVICES, workerProcess: true });
  const script = { description: 'Clears a cache, slowly', interpreter: 'powershell', body: 'Start-Sleep -Seconds 1\nWrite-Output done', parameters: {} };
  const res = await sys.request('PUT', `/v1/orgs/${sys.seed.orgs.acme.slug}/scripts/slow-fix`, { key: sys.keyOf('admin'), body: script });
  if (res.status !== 200) throw new Error(`could not store the script: ${JSON.stringify(res.body)}`);
}, 240_000);

afterAll(async () => {
  await sys?.stop();
});

it('finishes after a SIGKILL of the worker, and every device ran its command exactly once', async () => {
  const tech = sys.keyOf('technician');
  const sessionId = await sys.startSession(tech);
  const ids = [...sys.simulated.values()];
  const turnId = await sys.send(sessionId, tech, `/tool run_remediation ${JSON.stringify({ target: { device_ids: ids }, action: SLOW_FIX, batch_size: 5 })}`);
  const approval = await sys.waitForApproval(sessionId);
  expect(approval).toMatchObject({ tier: 4, confirmationPhrase: `${DEVICES} devices` });
  const decided = await approveWithPasskey(sys, approval.id, sys.keyOf('approver'), { confirmation: `${DEVICES} devices` });
  expect(decided.status).toBe(200);

  const commands = () => sys.prisma.deviceCommand.count({ where: { id: { startsWith: sessionId } } });
  await waitUntil(async () => (await commands()) >= 10, 'the remediation to be under way', 60_000);
  await sys.stopWorker(); // SIGKILL
  const atKill = await commands();
  expect(atKill).toBeLessThan(DEVICES);
  await new Promise((r) => setTimeout(r, 1000));
  await sys.startWorker();

  const session = await sys.waitForTurn(sessionId, tech, turnId, 150_000).catch(async (err: unknown) => {
    // Say where it stands: the commands by status, and what the workflows are waiting on.
    const rows = await sys.prisma.deviceCommand.groupBy({ by: ['status'], where: { id: { startsWith: sessionId } }, _count: true });
    const wf = (await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } })).workflowId;
    const pending = [];
    for await (const w of sys.temporal.client.workflow.list({ query: `WorkflowId STARTS_WITH '${wf}'` })) {
      const d = await sys.temporal.client.workflow.getHandle(w.workflowId, w.runId).describe();
      pending.push({ id: w.workflowId, status: d.status.name, activities: d.raw.pendingActivities?.map((a) => ({ type: a.activityType?.name, state: a.state, attempt: a.attempt })) });
    }
    throw new Error(`${(err as Error).message}; commands ${JSON.stringify(rows)}; workflows ${JSON.stringify(pending)}`);
  });
  const step = toolStepOf(session, turnId);
  expect(step).toMatchObject({ tool: 'run_remediation', status: 'succeeded', summary: expect.stringMatching(new RegExp(`^${DEVICES} of ${DEVICES} devices succeeded`)) });

  const rows = await sys.prisma.deviceCommand.findMany({ where: { id: { startsWith: sessionId } } });
  expect(rows).toHaveLength(DEVICES);
  expect(new Set(rows.map((r) => r.deviceId)).size).toBe(DEVICES);
  for (const [name, deviceId] of sys.simulated) {
    const row = rows.find((r) => r.deviceId === deviceId)!;
    expect({ name, starts: CommandJournal.startsIn(sys.journalOf(name)).get(row.id) }).toEqual({ name, starts: 1 });
  }

  // The technician's CLI shows the finished remediation's bar.
  const invocationId = rows[0]!.id.split(':').slice(0, 2).join(':');
  const cli = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'cli', 'copilot.ts'), 'remediation', invocationId, '--api-key', tech, '--server', sys.url], {
    env: environment({ LOG_LEVEL: 'silent' }),
  });
  expect(cli.stdout).toMatch(new RegExp(`\\[#{30}\\] 100%  ${DEVICES} ok, 0 failed, 0 running, 0 not started of ${DEVICES} — finished`));
}, 300_000);

it('pauses, resumes and cancels through the API, and shows the progress of every device', async () => {
  const tech = sys.keyOf('technician');
  const sessionId = await sys.startSession(tech);
  const ids = [...sys.simulated.values()];
  const turnId = await sys.send(sessionId, tech, `/tool run_remediation ${JSON.stringify({ target: { device_ids: ids }, action: SLOW_FIX, batch_size: 2 })}`);
  const approval = await sys.waitForApproval(sessionId);
  const { invocationId } = await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } });
  const path = `/v1/remediations/${encodeURIComponent(invocationId)}`;

  // Before the approval: nothing to steer yet.
  expect((await sys.request('GET', path, { key: tech })).body).toMatchObject({ state: 'not_started' });
  expect((await sys.request('POST', `${path}/pause`, { key: tech })).status).toBe(409);
  await approveWithPasskey(sys, approval.id, sys.keyOf('approver'), { confirmation: `${DEVICES} devices` });

  const commands = () => sys.prisma.deviceCommand.count({ where: { id: { startsWith: sessionId } } });
  await waitUntil(async () => (await commands()) >= 4, 'the remediation to be under way');
  expect((await sys.request('POST', `${path}/pause`, { key: tech })).status).toBe(202);
  await waitUntil(async () => {
    const p = (await sys.request('GET', path, { key: tech })).body;
    return p.state === 'paused' && p.running === 0;
  }, 'the running devices to finish after the pause');
  const paused = (await sys.request('GET', path, { key: tech })).body;
  const whilePaused = await commands();
  await new Promise((r) => setTimeout(r, 1500));
  expect(await commands()).toBe(whilePaused);
  expect(paused).toMatchObject({ total: DEVICES, state: 'paused', succeeded: whilePaused });
  expect(paused.devices.filter((d: { status: string }) => d.status === 'succeeded')).toHaveLength(whilePaused);
  expect(paused.devices[0].name).toMatch(/-PC-\d\d$/);

  // Another org's admin sees nothing and changes nothing.
  expect((await sys.request('POST', `${path}/resume`, { key: sys.keyOf('admin', 'globex') })).status).toBe(404);
  expect((await sys.request('POST', `${path}/resume`, { key: tech })).status).toBe(202);
  await waitUntil(async () => (await commands()) > whilePaused + 2, 'devices to start again after the resume');
  expect((await sys.request('POST', `${path}/cancel`, { key: tech })).status).toBe(202);

  const session = await sys.waitForTurn(sessionId, tech, turnId, 60_000);
  const ran = await commands();
  expect(ran).toBeLessThan(DEVICES);
  const step = toolStepOf(session, turnId);
  expect(step.summary).toMatch(new RegExp(`^${ran} of ${DEVICES} devices succeeded, ${DEVICES - ran} not started because the remediation was cancelled`));
  const final = (await sys.request('GET', path, { key: tech })).body;
  expect(final).toMatchObject({ state: 'cancelled', succeeded: ran, cancelled: DEVICES - ran, percent: 100 });
  expect((await sys.request('POST', `${path}/resume`, { key: tech })).status).toBe(409);
  const audited = await sys.prisma.auditEvent.findMany({ where: { target: invocationId, action: { startsWith: 'remediation.' } }, orderBy: { seq: 'asc' } });
  expect(audited.map((e) => e.action)).toEqual(['remediation.pause', 'remediation.resume', 'remediation.cancel']);
}, 180_000);

it('pushes its progress to the session\'s watchers on /console as device results arrive', async () => {
  const tech = sys.keyOf('technician');
  const sessionId = await sys.startSession(tech);
  const watcher = await sys.watchSession(sessionId, tech);
  expect(watcher.subscription).toMatchObject({ ok: true });
  const progressOf = () => watcher.events.flatMap((e) => (e.type === 'remediation:progress' && e.progress ? [e.progress] : []));
  try {
    const ids = [...sys.simulated.values()].slice(0, 20);
    const turnId = await sys.send(sessionId, tech, `/tool run_remediation ${JSON.stringify({ target: { device_ids: ids }, action: SLOW_FIX, batch_size: 5 })}`);
    const approval = await sys.waitForApproval(sessionId);
    await approveWithPasskey(sys, approval.id, sys.keyOf('approver'), { confirmation: approval.confirmationPhrase });
    await sys.waitForTurn(sessionId, tech, turnId, 60_000);
    await watcher.next((e) => e.type === 'remediation:progress' && e.progress?.succeeded === 20, 'the last progress event');
    const progress = progressOf();
    // Several updates on the way, never going backwards, ending with every device.
    expect(progress.length).toBeGreaterThan(2);
    for (let i = 1; i < progress.length; i++) expect(progress[i]!.succeeded).toBeGreaterThanOrEqual(progress[i - 1]!.succeeded);
    expect(progress.at(-1)).toEqual({ total: 20, succeeded: 20, failed: 0 });
  } finally {
    watcher.close();
  }
});
