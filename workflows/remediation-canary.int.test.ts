/**
 * Canary remediations over 50 simulated endpoints, one of which (by its simulator profile) has a Print Spooler that
 * crashes as soon as it starts: the canary runs first, its read-back finds the service stopped, and nothing else
 * runs until an approver decides: continue (the rest runs), roll back (the undo runs on the canary), or cancel.
 * A canary that passes goes on without anyone; a decision from someone who may not decide, or a forged update, does
 * nothing.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import nodePath from 'node:path';
import { promisify } from 'node:util';
import type { Page } from 'playwright-core';
import { environment } from '../lib/env';
import { addVirtualAuthenticator, launchChromium, registerPasskey } from '../test/browser';
import { startTestSystem, waitUntil, toolStepOf, type TestSystem } from '../test/harness';
import { approveWithPasskey, continueWithPasskey, userOfKey } from '../test/passkey';
import { expectReplays } from '../test/replay';
import { remediationCanaryDecisionUpdate } from './definitions';

const DEVICES = 50;
/** The device whose Spooler crashes on start, by its simulator profile: its name ends so (the org's slug starts it). */
const BROKEN_PATTERN = '*-PC-07';
let BROKEN: string;
const START_SPOOLER = { type: 'service', service: 'Spooler', action: 'start' };
let sys: TestSystem;

beforeAll(async () => {
  sys = await startTestSystem({ simulated: DEVICES, simulatedProfile: { devices: { [BROKEN_PATTERN]: { servicesFailingToStart: ['Spooler'] } } } });
  BROKEN = [...sys.simulated.keys()].find((n) => n.endsWith('-PC-07'))!;
}, 240_000);

afterAll(async () => {
  await sys?.stop();
});

/** Starts a canary remediation of the Spooler over every simulated device, approved by the approver. */
async function startCanaryRun(canary: unknown, ids = [...sys.simulated.values()], action: unknown = START_SPOOLER) {
  const tech = sys.keyOf('technician');
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, `/tool run_remediation ${JSON.stringify({ target: { device_ids: ids }, action, batch_size: 10, canary })}`);
  const approval = await sys.waitForApproval(sessionId).catch(async (err: unknown) => {
    // Say why: the call's step (denied, and the reason).
    const session = await sys.waitForTurn(sessionId, tech, turnId, 5_000).catch(() => null);
    throw new Error(`${(err as Error).message}; the step: ${JSON.stringify(session && toolStepOf(session, turnId))}`);
  });
  const { invocationId, summary } = await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } });
  const decided = await approveWithPasskey(sys, approval.id, sys.keyOf('approver'), approval.confirmationPhrase ? { confirmation: approval.confirmationPhrase } : {});
  expect(decided.status).toBe(200);
  const path = `/v1/remediations/${encodeURIComponent(invocationId)}`;
  return { tech, sessionId, turnId, approval: { ...approval, summary }, invocationId, path, status: async () => (await sys.request('GET', path, { key: tech })).body };
}

/** The technician's CLI (`npm run copilot -- remediation <id> …`): its output and exit code. */
async function cli(args: string[], key: string): Promise<{ code: number; stdout: string }> {
  const run = promisify(execFile)(process.execPath, ['--import', 'tsx', nodePath.join(__dirname, '..', 'cli', 'copilot.ts'), ...args, '--api-key', key, '--server', sys.url], { env: environment({ LOG_LEVEL: 'silent' }) });
  return run.then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (err: { code?: number; stdout?: string }) => ({ code: err.code ?? -1, stdout: err.stdout ?? '' }),
  );
}

const commandsOf = (invocationId: string) => sys.prisma.deviceCommand.findMany({ where: { id: { startsWith: `${invocationId}:` } } });

async function waitForCanaryFailure(run: Awaited<ReturnType<typeof startCanaryRun>>) {
  await waitUntil(async () => (await run.status()).state === 'canary-failed', 'the canary to fail and the remediation to wait', 60_000);
  return run.status();
}

it('stops after a failed canary and waits for a human, sending nothing to the other 49; an approver continues and the rest runs', async () => {
  const brokenId = sys.simulated.get(BROKEN)!;
  const run = await startCanaryRun({ devices: [BROKEN] });
  expect(run.approval.summary).toMatch(/canary: \S+-PC-07 runs first and is checked \(Spooler must be running\).*This approval covers the canary's read-back, and the undo \(manage_service stop\)/);

  const failed = await waitForCanaryFailure(run);
  expect(failed.canary).toEqual({
    devices: [{ id: brokenId, name: BROKEN }],
    state: 'failed',
    failures: [{ device: BROKEN, deviceId: brokenId, reason: 'service Spooler is stopped after the action, not running' }],
    choices: ['continue', 'cancel', 'rollback'],
    // Fifty devices make the call T4: continuing takes its phrase and a passkey, as approving it did.
    continueNeeds: { confirmationPhrase: run.approval.confirmationPhrase, passkey: true },
  });
  // Only the canary device got commands: its start, and the read-back of the service's state.
  const atFailure = await commandsOf(run.invocationId);
  expect(atFailure.map((c) => ({ device: c.deviceId, kind: c.kind, params: c.params, status: c.status }))).toEqual(
    expect.arrayContaining([
      { device: brokenId, kind: 'manage_service', params: { service: 'Spooler', action: 'start' }, status: 'succeeded' },
      { device: brokenId, kind: 'manage_service', params: { service: 'Spooler', action: 'status' }, status: 'succeeded' },
    ]),
  );
  expect(atFailure).toHaveLength(2);
  // It waits: still nothing for the others a while later.
  await new Promise((r) => setTimeout(r, 1500));
  expect(await sys.prisma.deviceCommand.count({ where: { id: { startsWith: `${run.invocationId}:` }, deviceId: { not: brokenId } } })).toBe(0);
  expect(await run.status()).toMatchObject({ state: 'canary-failed', succeeded: 1, total: DEVICES });

  // The CLI shows the canary stage and what an approver may decide, and stops following (exit 2).
  const shown = await cli(['remediation', run.invocationId], run.tech);
  expect(shown.code).toBe(2);
  expect(shown.stdout).toContain(`canary ${BROKEN}: service Spooler is stopped after the action, not running`);
  expect(shown.stdout).toMatch(/remediation \S+ continue\|stop\|rollback --reason/);

  // The technician who asked may not decide (403, audited); another org's admin does not see it (404).
  const byTech = await sys.request('POST', `${run.path}/canary-decision`, { key: run.tech, body: { decision: 'continue', reason: 'looks fine' } });
  expect(byTech.status).toBe(403);
  const refusal = await sys.prisma.auditEvent.findFirst({ where: { target: run.invocationId, action: 'remediation.canary_decision_refused' } });
  expect(refusal?.data).toMatchObject({ decision: 'continue' });
  expect((await sys.request('POST', `${run.path}/canary-decision`, { key: sys.keyOf('admin', 'globex'), body: { decision: 'continue', reason: 'x' } })).status).toBe(404);
  // A decision without a reason is refused with the problem named.
  const noReason = await sys.request('POST', `${run.path}/canary-decision`, { key: sys.keyOf('approver'), body: { decision: 'continue' } });
  expect(noReason.status).toBe(400);
  expect(JSON.stringify(noReason.body)).toMatch(/reason/);

  // Straight to Temporal: a malformed update is rejected by its validator; one naming no recorded request changes nothing.
  const handle = sys.temporal.client.workflow.getHandle(failed.workflowId);
  await expect(handle.executeUpdate(remediationCanaryDecisionUpdate, { args: [{ decision: 'continue' } as never] })).rejects.toThrow();
  expect(await handle.executeUpdate(remediationCanaryDecisionUpdate, { args: [{ requestId: crypto.randomUUID() }] })).toMatchObject({ applied: false });
  expect((await run.status()).state).toBe('canary-failed');
  expect(await sys.prisma.deviceCommand.count({ where: { id: { startsWith: `${run.invocationId}:` } } })).toBe(2);

  // Continuing takes the T4 proof, as approving it did (typed phrase, passkey); refused and audited without.
  expect(run.approval.tier).toBe(4);
  const phrase = run.approval.confirmationPhrase!;
  const unconfirmed = await sys.request('POST', `${run.path}/canary-decision`, { key: sys.keyOf('approver'), body: { decision: 'continue', reason: 'go on' } });
  expect(unconfirmed.status).toBe(400);
  expect(unconfirmed.body.error.message).toBe(`body.confirmation: type "${phrase}" exactly to continue this T4 remediation`);
  const unsigned = await sys.request('POST', `${run.path}/canary-decision`, { key: sys.keyOf('approver'), body: { decision: 'continue', reason: 'go on', confirmation: phrase } });
  expect(unsigned.status).toBe(403);
  expect(unsigned.body.error.message).toMatch(/continuing this T4 remediation past its failed canary needs your passkey/);
  const refusals = await sys.prisma.auditEvent.findMany({ where: { target: run.invocationId, action: 'remediation.canary_decision_refused' }, orderBy: { seq: 'asc' } });
  expect(refusals.slice(-2).map((e) => (e.data as { why: string }).why)).toEqual(['confirmation phrase mismatch', 'no passkey assertion']);

  // Where the effect happens, the activity checks the recorded request, not the update: a continue recorded without
  // the proof (written around the api), or carrying the approval's own signature, is refused, audited, and runs nothing.
  const approverId = await userOfKey(sys, sys.keyOf('approver'));
  const approvalRow = await sys.prisma.approval.findUniqueOrThrow({ where: { id: run.approval.id } });
  for (const [proof, why] of [
    [{}, /T4 rules not met \(confirmation phrase\)/],
    [{ confirmation: phrase, passkeyAssertion: approvalRow.passkeyAssertion as object }, /T4 rules not met: the passkey signed a challenge that is not a continue of this remediation/],
  ] as const) {
    const forged = await sys.prisma.workflowRequest.create({ data: { orgId: sys.seed.orgs.acme.id, sessionId: run.sessionId, workflowId: failed.workflowId, kind: 'remediation_canary_continue', userId: approverId, text: 'forged', ...proof } });
    expect(await handle.executeUpdate(remediationCanaryDecisionUpdate, { args: [{ requestId: forged.id }] })).toMatchObject({ applied: false, reason: expect.stringMatching(why) });
    const audited = await sys.prisma.auditEvent.findFirst({ where: { target: run.invocationId, action: 'workflow.request_refused', data: { path: ['requestId'], equals: forged.id } } });
    expect((audited?.data as { reason: string }).reason).toMatch(why);
  }
  expect((await run.status()).state).toBe('canary-failed');
  expect(await sys.prisma.deviceCommand.count({ where: { id: { startsWith: `${run.invocationId}:` } } })).toBe(2);

  const decided = await continueWithPasskey(sys, run.path, sys.keyOf('approver'), { reason: 'the spooler on PC-07 is broken anyway', confirmation: phrase });
  expect(decided).toMatchObject({ status: 202, body: { decision: 'continue' } });
  const session = await sys.waitForTurn(run.sessionId, run.tech, run.turnId, 120_000);
  expect(toolStepOf(session, run.turnId)).toMatchObject({ status: 'succeeded', summary: expect.stringMatching(new RegExp(`^${DEVICES} of ${DEVICES} devices succeeded`)) });
  const ran = await sys.prisma.deviceCommand.findMany({ where: { id: { startsWith: `${run.invocationId}:` }, kind: 'manage_service', params: { equals: { service: 'Spooler', action: 'start' } } } });
  expect(new Set(ran.map((c) => c.deviceId)).size).toBe(DEVICES);
  expect(await run.status()).toMatchObject({ state: 'finished', canary: { state: 'failed', decision: 'continue', choices: [] } });
  const audited = await sys.prisma.auditEvent.findFirst({ where: { target: run.invocationId, action: 'remediation.canary_continue' } });
  expect(audited).toMatchObject({ actorId: approverId, data: expect.objectContaining({ reason: 'the spooler on PC-07 is broken anyway' }) });
  const request = await sys.prisma.workflowRequest.findUniqueOrThrow({ where: { id: (audited?.data as { requestId: string }).requestId } });
  expect(request).toMatchObject({ confirmation: phrase, passkeyAssertion: expect.objectContaining({ nonce: expect.any(String) }) });
  // A worker that lost the run from its cache (or answers a query on it now it has ended) replays it from scratch.
  await expectReplays(sys, failed.workflowId);
}, 240_000);

it('rolls back: the undo runs on the canary device, and the others never start', async () => {
  const brokenId = sys.simulated.get(BROKEN)!;
  const run = await startCanaryRun({ devices: [brokenId] });
  await waitForCanaryFailure(run);
  const decided = await sys.request('POST', `${run.path}/canary-decision`, { key: sys.keyOf('approver'), body: { decision: 'rollback', reason: 'put it back as it was' } });
  expect(decided.status).toBe(202);
  const session = await sys.waitForTurn(run.sessionId, run.tech, run.turnId, 60_000);
  expect(toolStepOf(session, run.turnId).summary).toMatch(new RegExp(`not started because the remediation was cancelled`));
  const rows = await commandsOf(run.invocationId);
  expect(rows.every((c) => c.deviceId === brokenId)).toBe(true);
  expect(rows.find((c) => (c.params as { action?: string }).action === 'stop')).toMatchObject({ status: 'succeeded', kind: 'manage_service' });
  expect(await run.status()).toMatchObject({ state: 'cancelled', cancelled: DEVICES - 1, canary: { decision: 'rollback', undone: [{ device: BROKEN, status: 'succeeded' }] } });
}, 180_000);

it('cancels: nothing more runs', async () => {
  const brokenId = sys.simulated.get(BROKEN)!;
  const run = await startCanaryRun({ devices: [BROKEN] });
  await waitForCanaryFailure(run);
  // Decided from the CLI: `stop` cancels the devices not started.
  const stopped = await cli(['remediation', run.invocationId, 'stop', '--reason', 'not today'], sys.keyOf('approver'));
  expect(stopped.stdout).toMatch(/canary decision: cancel/);
  await sys.waitForTurn(run.sessionId, run.tech, run.turnId, 60_000);
  const rows = await commandsOf(run.invocationId);
  expect(rows).toHaveLength(2);
  expect(rows.every((c) => c.deviceId === brokenId)).toBe(true);
  expect(await run.status()).toMatchObject({ state: 'cancelled', cancelled: DEVICES - 1, canary: { decision: 'cancel' } });
  // Decided once: a second decision finds nothing waiting.
  expect((await sys.request('POST', `${run.path}/canary-decision`, { key: sys.keyOf('approver'), body: { decision: 'continue', reason: 'again' } })).status).toBe(409);
}, 180_000);

it('goes on without anyone when the canary passes its check', async () => {
  const ids = [...sys.simulated.entries()].filter(([name]) => name !== BROKEN).map(([, id]) => id).slice(0, 10);
  const run = await startCanaryRun({ count: 2 }, ids);
  const session = await sys.waitForTurn(run.sessionId, run.tech, run.turnId, 60_000);
  expect(toolStepOf(session, run.turnId)).toMatchObject({ status: 'succeeded', summary: expect.stringMatching(/^10 of 10 devices succeeded/) });
  const checks = (await commandsOf(run.invocationId)).filter((c) => c.id.includes(':canary-check:'));
  expect(checks.map((c) => c.deviceId).sort()).toEqual(ids.slice(0, 2).sort());
  expect(await run.status()).toMatchObject({ state: 'finished', canary: { state: 'passed', failures: [] } });
}, 120_000);

it("checks a library script's canary with the check script it declares, and rolls back with its undo script", async () => {
  const admin = sys.keyOf('admin');
  const put = (name: string, body: string, more: object = {}) =>
    sys.request('PUT', `/v1/orgs/${sys.seed.orgs.acme.slug}/scripts/${name}`, { key: admin, body: { description: name, interpreter: 'powershell', body, parameters: {}, ...more } });
  expect((await put('canary-check', 'Write-Output "cache not cleared"\nexit 1')).status).toBe(200);
  expect((await put('canary-unfix', 'Write-Output restored')).status).toBe(200);
  const saved = await put('canary-fix', 'Write-Output cleared', { check: 'canary-check', undo: 'canary-unfix' });
  expect(saved.body).toMatchObject({ check: 'canary-check', undo: 'canary-unfix' });

  const ids = [...sys.simulated.values()].slice(10, 15);
  const run = await startCanaryRun({ count: 1 }, ids, { type: 'library_script', script: 'canary-fix' });
  expect(run.approval.summary).toMatch(/checked \(check script canary-check must pass\).*the undo \(script canary-unfix\)/);
  const failed = await waitForCanaryFailure(run);
  expect(failed.canary).toMatchObject({ devices: [{ id: ids[0] }], state: 'failed', failures: [{ deviceId: ids[0], reason: expect.stringMatching(/check script exited with 1|read-back failed/) }], choices: ['continue', 'cancel', 'rollback'] });
  expect((await sys.request('POST', `${run.path}/canary-decision`, { key: sys.keyOf('approver'), body: { decision: 'rollback', reason: 'undo the cache change' } })).status).toBe(202);
  await sys.waitForTurn(run.sessionId, run.tech, run.turnId, 60_000);
  const rows = await commandsOf(run.invocationId);
  expect(rows.every((c) => c.deviceId === ids[0])).toBe(true);
  expect(rows.map((c) => (c.params as { name: string }).name).sort()).toEqual(['canary-check', 'canary-fix', 'canary-unfix']);
  expect(rows.find((c) => c.id.includes(':canary-undo:'))).toMatchObject({ kind: 'run_script', status: 'succeeded' });
}, 120_000);

it('refuses a canary as large as the targets, or naming a device that is not a target', async () => {
  const tech = sys.keyOf('technician');
  const ids = [...sys.simulated.values()].slice(0, 3);
  const sessionId = await sys.startSession(tech);
  for (const [canary, why] of [
    [{ count: 3 }, /canary\.count must be less than the number of target devices \(3 of 3\)/],
    [{ count: 0 }, /canary\.count must be at least 1/],
    [{ devices: ['NO-SUCH-PC'] }, /canary device "NO-SUCH-PC" is not among the remediation's target devices/],
  ] as const) {
    const turnId = await sys.send(sessionId, tech, `/tool run_remediation ${JSON.stringify({ target: { device_ids: ids }, action: START_SPOOLER, canary })}`);
    const session = await sys.waitForTurn(sessionId, tech, turnId, 60_000);
    expect(toolStepOf(session, turnId)).toMatchObject({ status: 'denied', summary: expect.stringMatching(why) });
  }
  expect(await sys.prisma.approval.count({ where: { sessionId } })).toBe(0);
}, 120_000);

it("shows the canary stage on the console's remediation page, and an approver decides there", async () => {
  const run = await startCanaryRun({ devices: [BROKEN] });
  await waitForCanaryFailure(run);
  const browser = await launchChromium();
  const base = sys.url.replace('127.0.0.1', 'localhost');
  const errors: string[] = [];
  const signIn = async (role: 'technician' | 'approver'): Promise<Page> => {
    const who = sys.seed.credentials.find((c) => c.role === role && c.org === sys.seed.orgs.acme.slug)!;
    const page = await (await browser.newContext({ viewport: { width: 1366, height: 900 } })).newPage();
    page.on('pageerror', (err) => errors.push(`${role}: ${err.message}`));
    // At localhost (a WebAuthn RP ID is never an IP address), with a virtual authenticator for the approver's passkey.
    if (role === 'approver') await addVirtualAuthenticator(page);
    await page.goto(`${base}/`);
    await page.getByLabel('Email').fill(who.email);
    await page.getByLabel('Password').fill(who.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    if (role === 'approver') await registerPasskey(page, 'canary key');
    await page.goto(`${base}/#/remediations/${run.invocationId}`);
    return page;
  };
  try {
    // The technician sees the stage and that it waits, with no choice to make.
    const tech = await signIn('technician');
    const techCanary = tech.getByRole('region', { name: 'Canary' });
    await techCanary.getByText(`${BROKEN}: failed its check`).waitFor();
    expect(await techCanary.innerText()).toMatch(/service Spooler is stopped after the action, not running[\s\S]*Nothing else runs until an approver decides/);
    expect(await techCanary.getByRole('button').count()).toBe(0);

    // The approver sees the three choices; a decision without a reason is not sent.
    const approver = await signIn('approver');
    const canary = approver.getByRole('region', { name: 'Canary' });
    await canary.getByRole('button', { name: 'Roll back the canary' }).waitFor();
    expect(await canary.getByRole('button').allInnerTexts()).toEqual(['Continue with the other devices', 'Cancel the rest', 'Roll back the canary']);
    await canary.getByRole('button', { name: 'Continue with the other devices' }).click();
    await approver.getByRole('alert').getByText('Say why in the reason field first.').waitFor();
    expect((await run.status()).state).toBe('canary-failed');
    await canary.getByLabel('Reason for the decision').fill('PC-07 is known broken; go on');
    // A T4 run: continuing asks for the phrase and the passkey, as approving it did; a wrong phrase is refused.
    expect(await canary.innerText()).toContain('Continuing asks for your passkey');
    await canary.getByLabel('Confirmation phrase to continue').fill('not it');
    await canary.getByRole('button', { name: 'Continue with the other devices' }).click();
    await approver.getByRole('alert').getByText(/exactly to continue this T4 remediation/).waitFor();
    expect((await run.status()).state).toBe('canary-failed');
    await canary.getByLabel('Confirmation phrase to continue').fill(run.approval.confirmationPhrase!);
    await canary.getByRole('button', { name: 'Continue with the other devices' }).click();
    await canary.getByText('Decided: continue').waitFor();
    await sys.waitForTurn(run.sessionId, run.tech, run.turnId, 120_000);
    await expectReplays(sys, (await run.status()).workflowId);
    await approver.getByText('State: finished').waitFor({ timeout: 30_000 });
    expect(await sys.prisma.auditEvent.findFirst({ where: { target: run.invocationId, action: 'remediation.canary_continue' } })).toMatchObject({ data: expect.objectContaining({ reason: 'PC-07 is known broken; go on' }) });
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
  }
}, 240_000);
