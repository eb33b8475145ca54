/**
 * Passkey-signed approvals, in Debian's Chromium with its virtual authenticator (CDP WebAuthn.addVirtualAuthenticator)
 * against the whole system: an approver registers a passkey in the console and approves a T4 call with it; the
 * session's export verifies offline with `npm run audit -- verify <dir>`, and an edited digest in it does not.
 * An assertion made for one approval is refused for another, one signed before the call changed is refused, a T4
 * approval without a passkey is refused, and a decision written to the database without a valid assertion is
 * ignored by the workflow. The console is opened at localhost: browsers refuse an IP address as a WebAuthn RP ID.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { type Browser, type Page } from 'playwright-core';
import { environment, loadEnv } from '../lib/env';
import { sha256 } from '../lib/secrets';
import { startTestSystem, toolCall, toolStepOf, waitUntil, type TestSystem } from '../test/harness';
import { launchChromium } from '../test/browser';
import { approveWithPasskey } from '../test/passkey';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..');
const shots = path.resolve(root, 'data', 'test-screenshots');
let sys: TestSystem;
let browser: Browser;
let base: string;
let tech: string;
const pageErrors: string[] = [];
const pc = (n: number) => sys.simulated.get(`${sys.seed.orgs.acme.slug.toUpperCase()}-PC-${String(n).padStart(2, '0')}`)!;
const person = (role: 'approver' | 'admin') => sys.seed.credentials.find((c) => c.role === role && c.org === sys.seed.orgs.acme.slug)!;

/** A browser of its own, signed in as the demo user of that role, with a virtual authenticator (user verified). */
async function signInWithAuthenticator(role: 'approver' | 'admin'): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1366, height: 900 } })).newPage();
  page.on('pageerror', (err) => pageErrors.push(`${role}: ${err.message}`));
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  await page.goto(`${base}/`);
  await page.getByLabel('Email').fill(person(role).email);
  await page.getByLabel('Password').fill(person(role).password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  return page;
}

async function registerPasskey(page: Page, name: string): Promise<void> {
  await page.getByRole('link', { name: 'Passkeys' }).click();
  await page.getByLabel('Name').fill(name);
  await page.getByRole('button', { name: 'Register a passkey' }).click();
  await page.getByText(`Registered ${name}.`).waitFor();
  await page.locator('tr[data-passkey]', { hasText: name }).waitFor();
}

/** A T4 call (restart a device) asked for by the technician; its approval. */
async function t4Call(device: number) {
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, toolCall('restart_device', { device_id: pc(device) }));
  const approval = await sys.waitForApproval(sessionId);
  expect(approval.tier).toBe(4);
  return { sessionId, turnId, approval };
}

/**
 * In the signed-in page: asks for a challenge for this approval and has the authenticator sign it. A string, not a
 * function: the module import must reach the browser as written (the test's own code is compiled to CommonJS).
 */
function sign(page: Page, approvalId: string): Promise<unknown> {
  return page.evaluate(`(async () => {
    const { startAuthentication } = await import('/vendor/simplewebauthn/index.js');
    const { csrfToken } = await (await fetch('/v1/auth/session')).json();
    const res = await fetch('/v1/approvals/' + ${JSON.stringify(approvalId)} + '/passkey-options', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken }, body: '{}' });
    return startAuthentication({ optionsJSON: await res.json() });
  })()`);
}

/** In the signed-in page: posts an approving decision with this assertion, as the console does. */
function post(page: Page, approvalId: string, confirmation: string, passkey: unknown): Promise<{ status: number; message?: string }> {
  return page.evaluate(
    async ({ id, confirmation, passkey }) => {
      const { csrfToken } = (await (await fetch('/v1/auth/session')).json()) as { csrfToken: string };
      const res = await fetch(`/v1/approvals/${id}/decision`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrfToken }, body: JSON.stringify({ decision: 'approve', confirmation, passkey }) });
      const body = (await res.json()) as { error?: { message: string } };
      return { status: res.status, message: body.error?.message };
    },
    { id: approvalId, confirmation, passkey },
  );
}

async function auditCli(...args: string[]): Promise<{ code: number; stdout: string }> {
  const env = environment({ DATABASE_URL: loadEnv().TEST_DATABASE_URL, TEMPORAL_ADDRESS: sys.temporal.address, LOG_LEVEL: 'silent', PAYLOAD_KEYS: sys.payloadKeys });
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(root, 'cli', 'audit.ts'), ...args], { cwd: root, env, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { code: number; stdout: string };
    return { code: e.code, stdout: e.stdout };
  }
}

beforeAll(async () => {
  sys = await startTestSystem({ simulated: 6 });
  base = sys.url.replace('127.0.0.1', 'localhost');
  tech = sys.keyOf('technician');
  browser = await launchChromium();
  await mkdir(shots, { recursive: true });
}, 240_000);

afterEach(() => {
  expect(pageErrors.splice(0)).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await sys?.stop();
});

it('registers a passkey in the console, approves a T4 call with it, and the export verifies offline; an edited digest does not', async () => {
  const approver = await signInWithAuthenticator('approver');
  await registerPasskey(approver, 'Laptop authenticator');
  await approver.screenshot({ path: path.join(shots, 'console-passkeys.png'), fullPage: true });

  const { sessionId, turnId, approval } = await t4Call(1);
  await approver.goto(`${base}/#/approvals/${approval.id}`);
  const card = approver.locator(`section[aria-label="The approval you opened"] [data-approval="${approval.id}"]`);
  await card.getByText('Approving asks for your passkey').waitFor();
  await card.getByLabel(/^Type .+ to approve$/).fill(approval.confirmationPhrase!);
  await card.getByRole('button', { name: 'Approve' }).click();
  await card.getByText('Approved.').waitFor();
  const session = await sys.waitForTurn(sessionId, tech, turnId, 60_000);
  expect(toolStepOf(session, turnId)).toMatchObject({ tool: 'restart_device', status: 'succeeded' });

  // Stored with the decision and in its audit event: what an auditor needs to check the signature.
  const decided = await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } });
  expect(decided.passkeyAssertion).toMatchObject({ credentialId: expect.any(String), publicKey: expect.any(String), authenticatorData: expect.any(String), clientDataJSON: expect.any(String), signature: expect.any(String), nonce: expect.any(String), rpId: 'localhost' });
  const event = await sys.prisma.auditEvent.findFirstOrThrow({ where: { action: 'approval.approved', target: approval.id } });
  expect(event.data).toMatchObject({ tier: 4, digest: approval.digest, passkey: decided.passkeyAssertion });

  const out = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-passkeys-'));
  try {
    const workflowId = (await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } })).workflowId;
    expect((await auditCli('export', workflowId, '--out', out)).code).toBe(0);
    const verified = await auditCli('verify', out);
    expect(verified.stdout).toContain(`ok T4 approval ${approval.id}: passkey signature of ${person('approver').email} verifies over its digest`);
    expect(verified.code).toBe(0);

    // Someone edits the digest of the approved call in the export (and fixes up the manifest): the signature no
    // longer covers it.
    const eventsFile = path.join(out, 'audit-events.json');
    const events = JSON.parse(await readFile(eventsFile, 'utf8')) as { action: string; target: string; data: string }[];
    const approved = events.find((e) => e.action === 'approval.approved' && e.target === approval.id)!;
    approved.data = approved.data.replace(approval.digest, 'f'.repeat(64));
    const edited = `${JSON.stringify(events, null, 1)}\n`;
    await writeFile(eventsFile, edited);
    const manifestFile = path.join(out, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as { files: { path: string; sha256: string; bytes: number }[] };
    for (const f of manifest.files) if (f.path === 'audit-events.json') Object.assign(f, { sha256: sha256(edited), bytes: Buffer.byteLength(edited) });
    await writeFile(manifestFile, JSON.stringify(manifest, null, 1));
    const tampered = await auditCli('verify', out);
    expect(tampered.code).toBe(1);
    expect(tampered.stdout).toContain(`FAILED approval ${approval.id} (T4): the passkey signed a challenge that is not derived from this approval's digest`);
  } finally {
    await rm(out, { recursive: true, force: true });
  }
});

it('refuses an assertion made for another approval, one signed before the call changed, and a T4 approval without a passkey', async () => {
  const approver = await signInWithAuthenticator('approver');
  await registerPasskey(approver, 'Second browser');
  const first = await t4Call(2);
  const second = await t4Call(3);

  // Signed for the first approval, posted as a decision on the second: refused, audited, nothing runs.
  const forFirst = await sign(approver, first.approval.id);
  expect(await post(approver, second.approval.id, second.approval.confirmationPhrase!, forFirst)).toEqual({ status: 403, message: 'this passkey signature was not made for this approval; sign this one' });
  expect(await sys.prisma.auditEvent.count({ where: { action: 'approval.decision_refused', target: second.approval.id, data: { path: ['why'], equals: 'passkey assertion not made for this approval' } } })).toBe(1);

  // Without a passkey at all (an API key, the phrase right): refused with the reason.
  const unsigned = await sys.request('POST', `/v1/approvals/${second.approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve', confirmation: second.approval.confirmationPhrase } });
  expect(unsigned.status).toBe(403);
  expect(unsigned.body.error.message).toMatch(/approving this T4 call needs your passkey/);

  // The approval's digest changes between the signature and the decision (its call was tampered with): the
  // signature covers the old digest, so the decision is refused.
  const forSecond = await sign(approver, second.approval.id);
  await sys.prisma.$executeRaw`UPDATE "Approval" SET digest = ${'0'.repeat(64)} WHERE id = ${second.approval.id}::uuid`;
  try {
    expect(await post(approver, second.approval.id, second.approval.confirmationPhrase!, forSecond)).toEqual({ status: 409, message: 'the tool call changed since you signed it; review it again' });
    expect(await sys.prisma.auditEvent.count({ where: { action: 'approval.decision_refused', target: second.approval.id, data: { path: ['why'], equals: 'passkey assertion for another digest' } } })).toBe(1);
  } finally {
    await sys.prisma.$executeRaw`UPDATE "Approval" SET digest = ${second.approval.digest} WHERE id = ${second.approval.id}::uuid`;
  }
  for (const a of [first, second]) expect((await sys.prisma.approval.findUniqueOrThrow({ where: { id: a.approval.id } })).status).toBe('pending');
  expect(await sys.prisma.deviceCommand.count({ where: { id: { startsWith: second.sessionId } } })).toBe(0);

  // Signed for itself: approved, and it runs; the same assertion again is refused (its challenge is spent).
  const fresh = await sign(approver, first.approval.id);
  expect(await post(approver, first.approval.id, first.approval.confirmationPhrase!, fresh)).toEqual({ status: 200 });
  expect(toolStepOf(await sys.waitForTurn(first.sessionId, tech, first.turnId, 60_000), first.turnId)).toMatchObject({ status: 'succeeded' });
  expect((await post(approver, second.approval.id, second.approval.confirmationPhrase!, fresh)).status).toBe(403);
  expect((await post(approver, second.approval.id, second.approval.confirmationPhrase!, await sign(approver, second.approval.id))).status).toBe(200);
});

it('has the workflow ignore a T4 decision written to the database without a valid assertion, or with another approval\'s', async () => {
  const approverUser = await sys.prisma.user.findUniqueOrThrow({ where: { email: person('approver').email } });
  const signed = await t4Call(4);
  expect((await approveWithPasskey(sys, signed.approval.id, sys.keyOf('approver'), { confirmation: signed.approval.confirmationPhrase })).status).toBe(200);
  const goodAssertion = (await sys.prisma.approval.findUniqueOrThrow({ where: { id: signed.approval.id } })).passkeyAssertion!;

  for (const [device, assertion, reason] of [
    [5, null, /no passkey assertion stored with the decision/],
    [6, goodAssertion, /not derived from this approval's digest/],
  ] as const) {
    const forged = await t4Call(device);
    // As a channel with a missing check would record it; the api's outbox then signals the workflow.
    await sys.prisma.approval.update({
      where: { id: forged.approval.id },
      data: { status: 'approved', decidedBy: approverUser.id, decidedAt: new Date(Date.now() - 10_000), channel: 'api', ...(assertion ? { passkeyAssertion: assertion } : {}) },
    });
    await waitUntil(async () => (await sys.prisma.auditEvent.count({ where: { action: 'approval.signal_ignored', target: forged.approval.id } })) > 0, 'the workflow to ignore the decision');
    const ignored = await sys.prisma.auditEvent.findFirstOrThrow({ where: { action: 'approval.signal_ignored', target: forged.approval.id } });
    expect((ignored.data as { reason: string }).reason).toMatch(reason);
    expect((await sys.request('GET', `/v1/sessions/${forged.sessionId}`, { key: tech })).body.status).toBe('waiting_approval');
    expect(await sys.prisma.deviceCommand.count({ where: { id: { startsWith: forged.sessionId } } })).toBe(0);
  }
});

it('lets an org admin require passkeys for T3 too: an unsigned T3 approval is refused, a signed one runs', async () => {
  const admin = sys.keyOf('admin');
  expect((await sys.request('PUT', `/v1/orgs/${sys.seed.orgs.acme.slug}/passkey-rule`, { key: admin, body: { requireForT3: true } })).body).toEqual({ org: sys.seed.orgs.acme.slug, requireForT3: true, requireForT4: true });
  try {
    const sessionId = await sys.startSession(tech);
    const turnId = await sys.send(sessionId, tech, toolCall('manage_service', { device_id: pc(1), service: 'Spooler', action: 'restart' }));
    const approval = await sys.waitForApproval(sessionId);
    expect(approval.tier).toBe(3);
    expect((await sys.request('GET', `/v1/approvals/${approval.id}`, { key: sys.keyOf('approver') })).body).toMatchObject({ passkeyRequired: true });
    const unsigned = await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve' } });
    expect(unsigned.status).toBe(403);
    expect(unsigned.body.error.message).toMatch(/approving this T3 call needs your passkey/);
    expect((await approveWithPasskey(sys, approval.id, sys.keyOf('approver'))).status).toBe(200);
    expect(toolStepOf(await sys.waitForTurn(sessionId, tech, turnId, 60_000), turnId)).toMatchObject({ status: 'succeeded' });
    expect(await sys.prisma.auditEvent.count({ where: { action: 'org.passkey_rule_set', target: sys.seed.orgs.acme.slug } })).toBe(1);
  } finally {
    await sys.request('PUT', `/v1/orgs/${sys.seed.orgs.acme.slug}/passkey-rule`, { key: admin, body: { requireForT3: false } });
  }
});

it('registers passkeys only in a signed-in console session, never with an API key', async () => {
  const res = await sys.request('POST', '/v1/passkeys/registration-options', { key: sys.keyOf('approver'), body: {} });
  expect(res.status).toBe(403);
  expect(res.body.error.message).toMatch(/signed-in console only/);
});
