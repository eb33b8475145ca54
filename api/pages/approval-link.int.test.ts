/**
 * Approvals by email, with a real SMTP server catching the mail and Debian's Chromium (playwright-core) following
 * the link: the approver sees the call, approves, and the waiting workflow runs the command on the agent. A
 * prefetching mail scanner changes nothing; a replayed POST and an expired link are refused. A T4 link is no
 * bearer credential: it needs the approver's own signed-in session, so a forwarded one decides nothing; and
 * approving T4 is signed with the approver's passkey in Gatehouse, which the link's page leads to (an Approve
 * posted to the link itself is refused).
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type Browser, type Request as PwRequest } from 'playwright-core';
import { startTestSystem, toolCall, toolStepOf, type TestSystem } from '../../test/harness';
import { SmtpInbox } from '../../test/services';
import { launchChromium } from '../../test/browser';
import { browser as cookieBrowser, csrfIn } from '../../test/slack';
import { approveWithPasskey } from '../../test/passkey';

let inbox: SmtpInbox;
let sys: TestSystem;
let browser: Browser;
let tech: string;
let approverEmail: string;
let approverPassword: string;
const shots = path.resolve(__dirname, '..', '..', 'data', 'test-screenshots');

const linkIn = (text: string) => {
  const m = /https?:\/\/[^\s]+\/a\/[A-Za-z0-9_-]{43}/.exec(text);
  if (!m) throw new Error(`no approval link in the mail:\n${text}`);
  return m[0];
};
const pc = (n: number) => sys.simulated.get(`${sys.seed.orgs.acme.slug.toUpperCase()}-PC-${String(n).padStart(2, '0')}`)!;
/** Mails about one approval (each names its id). */
const about = (approvalId: string) => (m: { text: string }) => m.text.includes(approvalId);

beforeAll(async () => {
  inbox = await SmtpInbox.start();
  sys = await startTestSystem({ simulated: 2, env: { SMTP_URL: inbox.url } });
  tech = sys.keyOf('technician');
  ({ email: approverEmail, password: approverPassword } = sys.seed.credentials.find((c) => c.role === 'approver' && c.org === sys.seed.orgs.acme.slug)!);
  browser = await launchChromium();
  await mkdir(shots, { recursive: true });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await sys?.stop();
  await inbox?.stop();
});

it('an approver follows the emailed link, sees the call, approves, and the command runs on the agent', async () => {
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, toolCall('manage_service', { device_id: pc(1), service: 'Spooler', action: 'restart' }));
  const approval = await sys.waitForApproval(sessionId);
  const mail = await inbox.waitFor(approverEmail, /approval needed \(T3\): manage_service/, 30_000, about(approval.id));
  expect(mail.text).toContain('PC-01');
  const link = linkIn(mail.text);

  // A mail scanner fetching the link (twice) changes nothing.
  for (let i = 0; i < 2; i++) expect((await fetch(link)).status).toBe(200);
  expect((await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).status).toBe('pending');

  const page = await (await browser.newContext()).newPage();
  let posted: PwRequest | undefined;
  page.on('request', (r) => {
    if (r.method() === 'POST') posted = r;
  });
  const response = await page.goto(link);
  expect(response?.headers()['referrer-policy']).toBe('no-referrer');
  await expect(page.textContent('main')).resolves.toMatch(/manage_service[\s\S]*PC-01[\s\S]*technician/);
  await expect(page.textContent('pre')).resolves.toContain('"service": "Spooler"');
  await page.screenshot({ path: path.join(shots, 'email-approval-page.png'), fullPage: true });
  await page.getByLabel('Reason (optional)').fill('the print queue is stuck');
  await page.getByRole('button', { name: 'Approve' }).click();
  await expect(page.textContent('h1')).resolves.toBe('Approved');

  const session = await sys.waitForTurn(sessionId, tech, turnId);
  expect(toolStepOf(session, turnId)).toMatchObject({ tool: 'manage_service', status: 'succeeded' });
  const decided = await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } });
  expect(decided).toMatchObject({ status: 'approved', channel: 'email', reason: 'the print queue is stuck' });
  expect(await sys.prisma.deviceCommand.count({ where: { id: { startsWith: sessionId } } })).toBe(1);

  // The same POST again (same cookie, same CSRF token): refused, nothing changes.
  const replay = await fetch(posted!.url(), { method: 'POST', headers: await posted!.allHeaders(), body: posted!.postData() ?? '' });
  expect(replay.status).toBe(410);
  expect(await replay.text()).toContain('already used');
  expect(await sys.prisma.deviceCommand.count({ where: { id: { startsWith: sessionId } } })).toBe(1);
});

it('asks the approver to sign in on a T4 page, comes back after, and leads approving to the passkey step in Gatehouse', async () => {
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, toolCall('restart_device', { device_id: pc(2) }));
  const approval = await sys.waitForApproval(sessionId);
  const link = linkIn((await inbox.waitFor(approverEmail, /approval needed \(T4\): restart_device/, 30_000, about(approval.id))).text);
  const page = await (await browser.newContext()).newPage();
  await page.goto(link);
  await expect(page.textContent('h1')).resolves.toBe('Sign in to decide');
  await page.getByRole('link', { name: `Sign in as ${approverEmail}` }).click();
  await page.getByLabel('E-mail').fill(approverEmail);
  await page.getByLabel('Password').fill(approverPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.textContent('h1')).resolves.toBe('Approve restart_device?');
  expect(new URL(page.url()).pathname).toBe(new URL(link).pathname);
  // Approving is signed with the approver's passkey, on the approval's page in Gatehouse; the link offers that step.
  expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
  await expect(page.getByRole('link', { name: 'Approve in Gatehouse with your passkey' }).getAttribute('href')).resolves.toBe(`/#/approvals/${approval.id}`);
  await page.getByLabel('Reason (optional)').fill('not today');
  await page.getByRole('button', { name: 'Reject' }).click();
  await expect(page.textContent('h1')).resolves.toBe('Rejected');
  const session = await sys.waitForTurn(sessionId, tech, turnId, 60_000);
  expect(toolStepOf(session, turnId)).toMatchObject({ tool: 'restart_device', status: 'rejected' });
});

it('decides nothing with a forwarded T4 link, opened without a session or in another user\'s session', async () => {
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, toolCall('restart_device', { device_id: pc(1) }));
  const approval = await sys.waitForApproval(sessionId);
  const link = linkIn((await inbox.waitFor(approverEmail, /approval needed \(T4\): restart_device/, 30_000, about(approval.id))).text);
  const decision = { _csrf: 'x', decision: 'approve', confirmation: approval.confirmationPhrase! };

  // Whoever the mail was forwarded to, without signing in: asked to sign in as the approver; the call is not shown.
  const stranger = cookieBrowser(sys.url);
  const anonymous = await stranger('GET', link);
  expect(anonymous.status).toBe(401);
  expect(anonymous.text).toContain(`Sign in to Gatehouse as ${approverEmail}`);
  expect(anonymous.text).not.toContain('restart_device');
  expect((await stranger('POST', link, { form: decision })).status).toBe(401);

  // The technician who asked for it, signed in as themselves.
  const technician = sys.seed.credentials.find((c) => c.role === 'technician' && c.org === sys.seed.orgs.acme.slug)!;
  const requester = cookieBrowser(sys.url);
  expect((await requester('POST', '/v1/auth/signin', { json: { email: technician.email, password: technician.password } })).status).toBe(200);
  const theirs = await requester('GET', link);
  expect(theirs.status).toBe(403);
  expect(theirs.text).toMatch(new RegExp(`sent to ${approverEmail.replace(/[.]/g, '\\.')}, but you are signed in as ${technician.email.replace(/[.]/g, '\\.')}`));
  expect((await requester('POST', link, { form: decision })).status).toBe(403);

  expect((await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).status).toBe('pending');
  const refusals = await sys.prisma.auditEvent.findMany({ where: { orgId: sys.seed.orgs.acme.id, action: 'approval.decision_refused', target: approval.id } });
  expect(refusals.map((e) => (e.data as { why: string }).why).sort()).toEqual([
    "link opened in another user's session",
    "link opened in another user's session",
    "link without the approver's session",
  ]);

  // The approver, signed in, posting Approve with the phrase to the link: still no passkey, nothing decided.
  const own = cookieBrowser(sys.url);
  expect((await own('POST', '/v1/auth/signin', { json: { email: approverEmail, password: approverPassword } })).status).toBe(200);
  const shown = await own('GET', link);
  expect(shown.status).toBe(200);
  const unsigned = await own('POST', link, { form: { ...decision, _csrf: csrfIn(shown.text) } });
  expect(unsigned.status).toBe(400);
  expect(unsigned.text).toContain('needs your passkey');
  expect((await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).status).toBe('pending');
  // Signed with the approver's passkey in Gatehouse: approved, and it runs.
  expect((await approveWithPasskey(sys, approval.id, sys.keyOf('approver'), { confirmation: approval.confirmationPhrase })).status).toBe(200);
  await sys.waitForTurn(sessionId, tech, turnId, 60_000);
  expect(await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).toMatchObject({ status: 'approved', channel: 'api', passkeyAssertion: expect.objectContaining({ nonce: expect.any(String) }) });
});

it('sends the browser back after signing in only to an approval or Slack link page', async () => {
  const b = cookieBrowser(sys.url);
  for (const next of ['https://evil.example/a/' + 'A'.repeat(43), '//evil.example', '/v1/api-keys']) {
    const form = await b('GET', `/signin?next=${encodeURIComponent(next)}`);
    const res = await b('POST', '/signin', { form: { _csrf: csrfIn(form.text), email: approverEmail, password: approverPassword, next } });
    expect(res).toMatchObject({ status: 303, location: '/' });
  }
});

it("requires the approver's session on T3 links too once the org's admins ask for it", async () => {
  const admin = sys.keyOf('admin');
  const org = sys.seed.orgs.acme.slug;
  expect((await sys.request('PUT', `/v1/orgs/${org}/email-approvals`, { key: tech, body: { signInForEveryTier: true } })).status).toBe(404);
  expect((await sys.request('PUT', `/v1/orgs/${org}/email-approvals`, { key: admin, body: { signInForEveryTier: true } })).body).toEqual({ org, signInForEveryTier: true, signInForT4: true });
  try {
    const sessionId = await sys.startSession(tech);
    const turnId = await sys.send(sessionId, tech, toolCall('manage_service', { device_id: pc(2), service: 'Dnscache', action: 'restart' }));
    const approval = await sys.waitForApproval(sessionId);
    const link = linkIn((await inbox.waitFor(approverEmail, /approval needed \(T3\): manage_service/, 30_000, about(approval.id))).text);
    const stranger = cookieBrowser(sys.url);
    const anonymous = await stranger('GET', link);
    expect(anonymous.status).toBe(401);
    expect(anonymous.text).toContain('The organization requires it');
    expect((await stranger('POST', link, { form: { _csrf: 'x', decision: 'approve' } })).status).toBe(401);
    expect((await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).status).toBe('pending');

    const own = cookieBrowser(sys.url);
    expect((await own('POST', '/v1/auth/signin', { json: { email: approverEmail, password: approverPassword } })).status).toBe(200);
    const shown = await own('GET', link);
    expect((await own('POST', link, { form: { _csrf: csrfIn(shown.text), decision: 'reject' } })).status).toBe(200);
    await sys.waitForTurn(sessionId, tech, turnId);
    expect(await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).toMatchObject({ status: 'rejected', channel: 'email' });
    expect(await sys.prisma.auditEvent.count({ where: { orgId: sys.seed.orgs.acme.id, action: 'org.email_approvals_set' } })).toBe(1);
  } finally {
    expect((await sys.request('PUT', `/v1/orgs/${org}/email-approvals`, { key: admin, body: { signInForEveryTier: false } })).status).toBe(200);
  }
});

it('rejects through the link', async () => {
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, toolCall('manage_service', { device_id: pc(1), service: 'BITS', action: 'stop' }));
  const approval = await sys.waitForApproval(sessionId);
  const mail = await inbox.waitFor(approverEmail, /approval needed \(T3\): manage_service/, 30_000, about(approval.id));
  const page = await (await browser.newContext()).newPage();
  await page.goto(linkIn(mail.text));
  await page.getByRole('button', { name: 'Reject' }).click();
  await expect(page.textContent('h1')).resolves.toBe('Rejected');
  await sys.waitForTurn(sessionId, tech, turnId);
  expect((await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).status).toBe('rejected');
  expect(await sys.prisma.deviceCommand.count({ where: { id: { startsWith: sessionId } } })).toBe(0);
});

it('reminds the approvers once half the time has passed, and refuses the link once the approval expired', async () => {
  const admin = sys.keyOf('admin');
  expect((await sys.request('PUT', `/v1/orgs/${sys.seed.orgs.acme.slug}/policy`, { key: admin, body: { overrides: [], approvalTtlSeconds: { t3: 6, t4: 6 }, reason: 'short approvals for the test' } })).status).toBe(200);
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, toolCall('manage_service', { device_id: pc(2), service: 'W32Time', action: 'restart' }));
  const approval = await sys.waitForApproval(sessionId);
  const first = await inbox.waitFor(approverEmail, /^Gatehouse approval needed \(T3\): manage_service on .*PC-02/, 30_000, about(approval.id));
  const reminder = await inbox.waitFor(approverEmail, /^Reminder: Gatehouse approval needed \(T3\): manage_service on .*PC-02/, 15_000, about(approval.id));
  expect(reminder.text).toContain('half of its time has passed');
  await sys.waitForTurn(sessionId, tech, turnId, 30_000);
  expect((await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).status).toBe('expired');
  for (const link of [linkIn(first.text), linkIn(reminder.text)]) {
    const res = await fetch(link);
    expect(res.status).toBe(410);
    expect(await res.text()).toMatch(/This approval is already expired|This approval has expired/);
  }
  expect(inbox.mails.filter((m) => m.to.includes(approverEmail) && m.subject.startsWith('Reminder:') && about(approval.id)(m))).toHaveLength(1);
});

it('answers an unknown or malformed link with a clear page', async () => {
  for (const token of ['A'.repeat(43), 'short', '../../etc/passwd']) {
    const res = await fetch(`${sys.url}/a/${encodeURIComponent(token)}`);
    expect(res.status).toBe(404);
    expect(await res.text()).toContain('This link is not valid');
  }
});
