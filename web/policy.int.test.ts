/**
 * The console's Policy page in Debian's Chromium (playwright-core) against the whole system, as issue 23 checks it:
 * an org admin proposes raising manage_service:restart to T4, asks "What if?" and sees which recorded calls would
 * change (each linking to its session's timeline), adopts it with a reason; the next restart needs T4; an older
 * session's timeline still shows the version it ran under; the history shows the diff; a roll back restores it.
 * Then standing approvals: an approver (also an auditor) asks how many approvals allowing a T3 call would have
 * saved, approves it and allows that exact action on that device for some days (never offered for T4); the same
 * call then runs without asking and its timeline names the rule, a different device still asks; the admin sees it
 * listed and revokes it, after which the call asks again.
 * Screenshots go to data/test-screenshots/policy-*.png.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type Browser, type Page } from 'playwright-core';
import { startTestSystem, toolCall, type TestSystem } from '../test/harness';
import { launchChromium } from '../test/browser';
import { startTestUpstream, type TestUpstream } from '../test/mcp-upstream-server';

let sys: TestSystem;
let browser: Browser;
let tech: string;
let approverKey: string;
let vendor: TestUpstream;
const pageErrors: string[] = [];
const shots = path.resolve(__dirname, '..', 'data', 'test-screenshots');
/**
 * The visible part of the page: a full-page screenshot resizes the page for a moment, and a click right after it
 * (scrolled to the bottom) can land while the page is still shifting.
 */
const shot = (page: Page, name: string) => page.screenshot({ path: path.join(shots, `policy-${name}.png`) });
const person = (role: 'technician' | 'approver' | 'admin') => sys.seed.credentials.find((c) => c.role === role && c.org === sys.seed.orgs.acme.slug)!;
const pcName = (n: number) => `${sys.seed.orgs.acme.slug.toUpperCase()}-PC-${String(n).padStart(2, '0')}`;
const pc = (n: number) => sys.simulated.get(pcName(n))!;

async function signIn(role: 'technician' | 'approver' | 'admin'): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1366, height: 900 } })).newPage();
  page.on('pageerror', (err) => pageErrors.push(`${role}: ${err.message}`));
  await page.goto(`${sys.url}/`);
  await page.getByLabel('Email').fill(person(role).email);
  await page.getByLabel('Password').fill(person(role).password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  return page;
}

/** A technician's session asking for one manage_service call; its approval when it needs one. */
async function serviceCall(device: number, service: string, action: string) {
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, toolCall('manage_service', { device_id: pc(device), service, action }));
  return { sessionId, turnId };
}

/** A recorded, approved and run manage_service call: what the what-if replays. */
async function approvedCall(device: number, service = 'Spooler', action = 'restart') {
  const call = await serviceCall(device, service, action);
  const approval = await sys.waitForApproval(call.sessionId);
  expect(approval.tier).toBe(3);
  const decided = await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: approverKey, body: { decision: 'approve', digest: approval.digest, reason: 'the service is stuck' } });
  expect(decided.status).toBe(200);
  const session = await sys.waitForTurn(call.sessionId, tech, call.turnId, 60_000);
  expect(session.steps.at(-1)).toMatchObject({ tool: 'manage_service', status: 'succeeded' });
  return call.sessionId;
}

beforeAll(async () => {
  vendor = await startTestUpstream([{ name: 'get_forecast', description: 'The weather forecast for a city.', inputSchema: { type: 'object', properties: { city: { type: 'string' } } } }]);
  sys = await startTestSystem({ simulated: 4, env: { MCP_UPSTREAM_ALLOW_PRIVATE_URLS: 'true' } });
  tech = sys.keyOf('technician');
  approverKey = sys.keyOf('approver');
  browser = await launchChromium();
  await mkdir(shots, { recursive: true });
}, 240_000);

afterEach(() => {
  expect(pageErrors.splice(0)).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await sys?.stop();
  await vendor?.close();
});

it('raises manage_service:restart to T4 after a what-if that lists the recorded calls it changes; the next restart needs T4; old timelines keep their version; the history shows the diff; a roll back restores it', async () => {
  const older = [await approvedCall(1), await approvedCall(2)];
  // A status call (T1) is recorded too: raising restart does not change it.
  const status = await serviceCall(1, 'Spooler', 'status');
  await sys.waitForTurn(status.sessionId, tech, status.turnId, 60_000);

  const admin = await signIn('admin');
  await admin.getByRole('link', { name: 'Policy' }).click();
  await admin.getByRole('heading', { name: /^Version \d+$/ }).waitFor();
  const before = Number((await admin.getByRole('heading', { name: /^Version \d+$/ }).innerText()).replace('Version ', ''));
  const restartRow = admin.locator('table.policy-tiers tr[data-rule="manage_service:restart"]');
  expect(await restartRow.innerText()).toMatch(/manage_service\s+restart\s+T3\s+default/);
  expect(await admin.locator('tr[data-rule="blastRadiusThreshold"]').innerText()).toMatch(/raised one tier\s+10 \(default 10\)$/);
  expect(await admin.locator('tr[data-rule="breakerStreak"]').innerText()).toMatch(/stop a session's tool calls\s+3 \(default 3\)$/);
  expect(await admin.locator('tr[data-rule="taint.flaggedContentMinTier"]').innerText()).toMatch(/at least\s+3 \(T3 or T4\)$/);
  expect(await admin.locator('tr[data-rule="budget"]').innerText()).toMatch(/the deployment's defaults$/);
  await shot(admin, 'read');

  await admin.getByRole('button', { name: 'Edit the policy' }).click();
  const restart = admin.getByLabel('Tier of manage_service:restart');
  // Lowering below the default is not offered without the partner's allowance; raising is.
  expect(await restart.locator('option[value="2"]').isDisabled()).toBe(true);
  await restart.selectOption('4');
  expect(await restartRow.locator('td.change').innerText()).toBe('T3 → T4');
  await admin.getByRole('button', { name: 'What if?' }).click();
  const whatIf = admin.locator('section.whatif');
  await whatIf.getByRole('heading', { name: 'What if this draft had been in force' }).waitFor({ timeout: 30_000 });
  expect(await whatIf.locator('[data-summary="changed"]').innerText()).toBe('2 call(s) would be decided otherwise: 2 stricter, 0 looser.');
  const changed = whatIf.locator('table.whatif-changed tbody tr');
  expect(await changed.count()).toBe(2);
  const devicesOf = new RegExp(`manage_service:restart\\s+(${pcName(1)}|${pcName(2)})\\s+T3 needs an approval\\s+T4 needs an approval\\s+default T3; org policy T4\\s+Timeline of session`);
  for (const row of await changed.all()) expect(await row.innerText()).toMatch(devicesOf);
  const links = await whatIf.getByRole('link', { name: /^Timeline of session / }).evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  expect(new Set(links)).toEqual(new Set(older.map((id) => `#/sessions/${id}/timeline`)));
  await shot(admin, 'what-if');

  // Adopting needs a reason.
  await admin.getByRole('button', { name: 'Adopt this policy' }).click();
  await admin.getByText('Say why: the reason is kept with the new version.').waitFor();
  await admin.getByLabel('Why (required to adopt)').fill('restarts took the print server down twice');
  await admin.getByRole('button', { name: 'Adopt this policy' }).click();
  await admin.getByText(`Adopted as version ${before + 1}.`).waitFor();
  await admin.getByRole('heading', { name: `Version ${before + 1}` }).waitFor();
  expect(await restartRow.innerText()).toMatch(/manage_service\s+restart\s+T3\s+T4 raised/);
  expect(await admin.locator('#version-h + p').innerText()).toMatch(new RegExp(`Adopted by ${person('admin').email} .+: restarts took the print server down twice`));

  // The next restart needs T4.
  const next = await serviceCall(3, 'Spooler', 'restart');
  expect((await sys.waitForApproval(next.sessionId)).tier).toBe(4);

  // The history shows the new version's diff.
  const adopted = admin.locator(`details.version[data-version="${before + 1}"]`);
  expect(await adopted.locator('summary').innerText()).toMatch(new RegExp(`Version ${before + 1} \\(in force\\) — edit by ${person('admin').email} .+: restarts took the print server down twice`));
  await adopted.locator('summary').click();
  const diff = adopted.locator('table.policy-diff tbody tr');
  await diff.first().waitFor();
  expect(await diff.allInnerTexts()).toEqual(['Tier of manage_service:restart\tdefault\tT4']);
  await adopted.scrollIntoViewIfNeeded();
  await shot(admin, 'history');

  // An older session's timeline still shows the version its restart was decided under; the new one, the new version.
  await admin.goto(`${sys.url}/#/sessions/${older[0]}/timeline`);
  const oldTool = admin.locator('table.timeline tr.tool');
  await oldTool.first().waitFor({ timeout: 30_000 });
  expect(await oldTool.first().locator('td.policy-version').innerText()).toBe(`version ${before}`);
  await admin.goto(`${sys.url}/#/sessions/${next.sessionId}/timeline`);
  const newTool = admin.locator('table.timeline tr.tool');
  await newTool.first().waitFor({ timeout: 30_000 });
  expect(await newTool.first().locator('td.policy-version').innerText()).toBe(`version ${before + 1}`);
  await shot(admin, 'timeline-version');

  // Roll back to the version before, with a reason: a new version, restart is T3 again.
  await admin.getByRole('link', { name: 'Policy' }).click();
  const earlier = admin.locator(`details.version[data-version="${before}"]`);
  await earlier.locator('summary').click();
  await earlier.getByRole('button', { name: 'Roll back to this version' }).waitFor();
  await earlier.getByLabel(`Why roll back to version ${before}`).fill('the print server is fixed');
  await earlier.getByRole('button', { name: 'Roll back to this version' }).click();
  await admin.getByRole('heading', { name: `Version ${before + 2}` }).waitFor();
  expect(await admin.locator('table.policy-tiers tr[data-rule="manage_service:restart"]').innerText()).toMatch(/manage_service\s+restart\s+T3\s+default/);
  expect(await admin.locator(`details.version[data-version="${before + 2}"] summary`).innerText()).toMatch(/roll back by .+: the print server is fixed/);
  const again = await serviceCall(3, 'Spooler', 'restart');
  expect((await sys.waitForApproval(again.sessionId)).tier).toBe(3);
  await admin.context().close();
}, 300_000);

it('approves a T3 call as a standing approval of that exact action on that device; the same call then runs unasked, another device still asks; the admin revokes it', async () => {
  // The same exact call was approved once already; the approver is also an auditor, so may replay the org's calls.
  await approvedCall(4, 'Dnscache', 'stop');
  const approverUser = await sys.prisma.user.findUniqueOrThrow({ where: { email: person('approver').email } });
  await sys.prisma.roleBinding.create({ data: { userId: approverUser.id, orgId: sys.seed.orgs.acme.id, role: 'auditor' } });
  const first = await serviceCall(4, 'Dnscache', 'stop');
  const firstApproval = await sys.waitForApproval(first.sessionId);
  expect(firstApproval.tier).toBe(3);
  const t4 = await sys.startSession(tech);
  await sys.send(t4, tech, toolCall('restart_device', { device_id: pc(4) }));
  expect((await sys.waitForApproval(t4)).tier).toBe(4);

  const approver = await signIn('approver');
  await approver.getByRole('link', { name: 'Approvals' }).click();
  // Never for T4.
  const t4Card = approver.getByRole('article', { name: /Approval T4: .*restart_device/ });
  await t4Card.waitFor({ timeout: 15_000 });
  expect(await t4Card.getByRole('group', { name: 'Standing approval' }).count()).toBe(0);

  const card = approver.getByRole('article', { name: /Approval T3: .*Dnscache/ });
  await card.waitFor({ timeout: 15_000 });
  const offer = card.getByRole('group', { name: 'Standing approval' });
  expect(await offer.getByLabel('Days (1 to 30)').isDisabled()).toBe(true);
  await offer.getByLabel('Approve and allow this exact action on these devices for a number of days').check();
  await offer.getByLabel('Days (1 to 30)').fill('3');
  // Exactly what it will allow: the tool, the action, the other parameters, the device by name.
  const allows = await offer.locator('dl.standing-what').innerText();
  expect(allows).toMatch(new RegExp(`^Tool\\s+manage_service\\s+Action\\s+stop\\s+Parameters\\s+(\\{.+\\})\\s+Devices\\s+${pcName(4)}\\s+For\\s+3 day\\(s\\)`));
  expect(JSON.parse(/Parameters\s+(\{.+\})/.exec(allows)![1]!)).toEqual({ device_id: pc(4), service: 'Dnscache', action: 'stop' });
  // What it would have saved over the last 30 days: the earlier approval and this one.
  await offer.getByRole('button', { name: 'How many approvals would it have saved?' }).click();
  await offer.getByText('Over the last 30 days it would have saved 2 approval(s), this one included.').waitFor();
  await card.getByRole('button', { name: 'Approve' }).click();
  await card.getByText('Approved, and allowed for 3 day(s): see the Policy page.').waitFor();
  await shot(approver, 'standing-granted');
  await sys.waitForTurn(first.sessionId, tech, first.turnId, 60_000);

  // The same exact call runs without asking; on another device it still asks.
  const same = await serviceCall(4, 'Dnscache', 'stop');
  const ran = await sys.waitForTurn(same.sessionId, tech, same.turnId, 60_000);
  expect(ran.steps.at(-1)).toMatchObject({ tool: 'manage_service', status: 'succeeded' });
  // Nobody was asked: its approval was given by the rule, and the session's timeline names the rule.
  const ruleId = (await sys.request('GET', `/v1/approvals/${firstApproval.id}`, { key: approverKey })).body.standingRuleId as string;
  expect(ruleId).toMatch(/^[0-9a-f-]{36}$/);
  expect(await sys.prisma.approval.findMany({ where: { sessionId: same.sessionId }, select: { status: true, channel: true, standingRuleId: true } })).toEqual([{ status: 'approved', channel: 'standing', standingRuleId: ruleId }]);
  await approver.goto(`${sys.url}/#/sessions/${same.sessionId}/timeline`);
  const toolRow = approver.locator('table.timeline tr.tool');
  await toolRow.first().waitFor({ timeout: 30_000 });
  expect(await toolRow.first().innerText()).toMatch(new RegExp(`tool manage_service\\(.*"service":"Dnscache".*\\): allowed \\(T3\\) by standing approval ${ruleId}`));
  await shot(approver, 'standing-timeline');
  const other = await serviceCall(3, 'Dnscache', 'stop');
  expect((await sys.waitForApproval(other.sessionId)).tier).toBe(3);

  // An approver reads the policy and sees the rule, but does not edit the policy.
  await approver.getByRole('link', { name: 'Policy' }).click();
  await approver.locator(`table.standing tr[data-standing="${ruleId}"]`).waitFor();
  await approver.getByText('Only an admin of this organization changes the policy.').waitFor();
  expect(await approver.getByRole('button', { name: 'Edit the policy' }).count()).toBe(0);

  // The admin sees it on the Policy page (who, until when, how often used, its version) and revokes it.
  const admin = await signIn('admin');
  await admin.getByRole('link', { name: 'Policy' }).click();
  const row = admin.locator('table.standing tbody tr');
  await row.first().waitFor();
  expect(await row.count()).toBe(1);
  expect(await row.innerText()).toMatch(new RegExp(`manage_service:stop[\\s\\S]*Dnscache[\\s\\S]*${pcName(4)}\\s+${person('approver').email}[\\s\\S]*\\s1\\s+\\d+`));
  const granted = admin.locator('details.version', { hasText: 'standing approval granted' });
  expect(await granted.count()).toBe(1);
  await row.first().scrollIntoViewIfNeeded();
  await shot(admin, 'standing-list');
  await row.getByLabel('Reason').fill('the DNS cache is fixed');
  await row.getByRole('button', { name: `Revoke the standing approval of manage_service:stop on ${pcName(4)}` }).click();
  await admin.getByText('No standing approval is in force.').waitFor();
  await admin.locator('details.version', { hasText: 'standing approval revoked' }).waitFor();
  expect(await admin.locator('details.version', { hasText: 'standing approval revoked' }).locator('summary').innerText()).toMatch(/the DNS cache is fixed/);

  // Revoked at once: the same call asks again.
  const after = await serviceCall(4, 'Dnscache', 'stop');
  expect((await sys.waitForApproval(after.sessionId)).tier).toBe(3);

  // A technician reads the tiers, not the rules' calls nor the versions' documents, and meets no error.
  const technician = await signIn('technician');
  await technician.getByRole('link', { name: 'Policy' }).click();
  await technician.locator('table.policy-tiers tr[data-rule="manage_service:stop"]').waitFor();
  await technician.getByText('Standing approvals are shown to the admins, approvers and auditors of this organization.').waitFor();
  const revokedVersion = technician.locator('details.version', { hasText: 'standing approval revoked' });
  await revokedVersion.locator('summary').click();
  await revokedVersion.getByText("A version's changes are shown to the admins, approvers and auditors of this organization.").waitFor();
  expect((await technician.locator('[role="alert"]').allInnerTexts()).join('')).toBe('');
  await technician.context().close();
  await approver.context().close();
  await admin.context().close();
}, 300_000);

it("shows an upstream MCP tool in the tiers table with its registered tier as the default; an admin raises it like a built-in tool", async () => {
  const org = sys.seed.orgs.acme.slug;
  const adminKey = sys.keyOf('admin');
  expect((await sys.request('PUT', `/v1/orgs/${org}/mcp-upstreams/vendor`, { key: adminKey, body: { transport: 'http', url: vendor.url } })).status).toBe(201);
  const admin = await signIn('admin');
  await admin.getByRole('link', { name: 'Policy' }).click();
  const row = admin.locator('table.policy-tiers tr[data-rule="upstream.vendor.get_forecast:*"]');
  await row.waitFor();
  expect(await row.innerText()).toMatch(/upstream\.vendor\.get_forecast \(upstream MCP tool: its default is the tier its registration gives it\)\s+—\s+T3\s+default/);

  await admin.getByRole('button', { name: 'Edit the policy' }).click();
  const select = admin.getByLabel('Tier of upstream.vendor.get_forecast');
  expect(await select.locator('option[value="2"]').isDisabled()).toBe(true);
  await select.selectOption('4');
  expect(await row.locator('td.change').innerText()).toBe('T3 → T4');
  await admin.getByLabel('Why (required to adopt)').fill('forecasts go to customers');
  await admin.getByRole('button', { name: 'Adopt this policy' }).click();
  await admin.getByText(/^Adopted as version \d+\.$/).waitFor();
  expect(await row.innerText()).toMatch(/T3\s+T4 raised/);
  const policy = (await sys.request('GET', `/v1/orgs/${org}/policy`, { key: adminKey })).body;
  expect(policy.upstreamTools).toEqual([expect.objectContaining({ tool: 'upstream.vendor.get_forecast', registeredTier: 3, override: 4 })]);
  await shot(admin, 'upstream');
  await admin.context().close();
});

it("edits the model budget on the Policy page: adopted as a version with its diff, read back as the ceilings in force; all empty is the deployment's defaults", async () => {
  const admin = await signIn('admin');
  await admin.getByRole('link', { name: 'Policy' }).click();
  const budget = admin.locator('tr[data-rule="budget"]');
  await budget.waitFor();
  const before = (await sys.request('GET', `/v1/orgs/${sys.seed.orgs.acme.slug}/policy`, { key: sys.keyOf('admin') })).body;

  await admin.getByRole('button', { name: 'Edit the policy' }).click();
  // One ceiling missing: the api names it, nothing is adopted.
  await admin.getByLabel('Daily budget (USD)').fill('5');
  await admin.getByLabel('Monthly budget (USD)').fill('120.5');
  await admin.getByLabel('Hourly budget (USD)').fill('');
  await admin.getByLabel('Why (required to adopt)').fill('a small org: keep model spend low');
  await admin.getByRole('button', { name: 'Adopt this policy' }).click();
  await admin.getByText(/Not adopted: .*budget\.hourlyUsd/).waitFor();
  await admin.getByLabel('Hourly budget (USD)').fill('1.25');
  await admin.getByRole('button', { name: 'Adopt this policy' }).click();
  await admin.getByText(`Adopted as version ${before.version.number + 1}.`).waitFor();
  expect(await budget.innerText()).toMatch(/\$5 a day, \$120\.5 a month, \$1\.25 an hour$/);
  await shot(admin, 'budget');
  const version = await sys.request('GET', `/v1/orgs/${sys.seed.orgs.acme.slug}/policy/versions/${before.version.number + 1}`, { key: sys.keyOf('admin') });
  expect(version.body.diff).toEqual([
    { path: 'budget.dailyUsd', before: before.budget?.dailyUsd ?? null, after: 5 },
    { path: 'budget.monthlyUsd', before: before.budget?.monthlyUsd ?? null, after: 120.5 },
    { path: 'budget.hourlyUsd', before: before.budget?.hourlyUsd ?? null, after: 1.25 },
  ]);
  // The budget guard reads it: the usage answer has the new ceilings.
  const usage = await sys.request('GET', `/v1/orgs/${sys.seed.orgs.acme.slug}/usage`, { key: sys.keyOf('admin') });
  expect(usage.body).toMatchObject({ today: { limitUsd: 5 }, month: { limitUsd: 120.5 }, hourlyCeilingUsd: 1.25, customBudget: true });

  // Emptied, the org runs under the deployment's defaults again.
  await admin.getByRole('button', { name: 'Edit the policy' }).click();
  for (const label of ['Daily', 'Monthly', 'Hourly']) await admin.getByLabel(`${label} budget (USD)`).fill('');
  await admin.getByLabel('Why (required to adopt)').fill('back to the defaults');
  await admin.getByRole('button', { name: 'Adopt this policy' }).click();
  await admin.getByText(`Adopted as version ${before.version.number + 2}.`).waitFor();
  expect(await budget.innerText()).toMatch(/the deployment's defaults$/);
  await admin.context().close();
}, 120_000);
