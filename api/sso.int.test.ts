/**
 * Signing in with the partner's OpenID provider, in Chromium: the real `oidc-provider` (ops/oidc-provider, a child
 * process) for the sign-ins and the refusals it can produce (an unverified e-mail, a replayed answer), and a provider
 * that misbehaves on purpose (test/rogue-oidc.ts) for the ID tokens a certified one never issues (another audience,
 * expired, another sign-in's nonce, a token again). Gatehouse's side is its real code path throughout.
 */
import type { Browser, Page } from 'playwright-core';
import { addVirtualAuthenticator, launchChromium, registerPasskey } from '../test/browser';
import { startTestSystem, toolCall, type TestSystem } from '../test/harness';
import { startLocalProvider, testClientSecret, type LocalProvider } from '../test/local-oidc-provider';
import { startRogueProvider, type RogueProvider } from '../test/rogue-oidc';
import { SmtpInbox } from '../test/services';
import { browser as cookieBrowser } from '../test/slack';

let sys: TestSystem;
let inbox: SmtpInbox;
let provider: LocalProvider;
let rogue: RogueProvider;
let browser: Browser;
let admin: string;
let approverEmail: string;
let approverPassword: string;
let domain: string;
let acmeSecret: string;
/** An api node at http://localhost:<port>: passkeys need a host name, and its sign-ins come back to it. */
let named: string;
const idpPassword = 'correct horse battery staple';
const CLIENT_ID = 'gatehouse-test';

const register = async (body: Record<string, unknown>) => {
  const res = await sys.request('POST', '/v1/partner/oidc-providers', { key: admin, body });
  if (res.status !== 201) throw new Error(`registering a provider: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { id: string; redirectUri: string };
};

/** From the console's own sign-in view to the provider's form, for this e-mail and provider. */
async function ssoFromConsole(page: Page, email: string, providerName: string, base = sys.url): Promise<void> {
  await page.goto(base);
  await page.getByRole('link', { name: 'Sign in with single sign-on' }).click();
  await page.getByLabel('Work e-mail').fill(email);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('link', { name: `Sign in with ${providerName}` }).click();
}

/** The demo provider's own sign-in form. */
async function atProvider(page: Page, email: string, password = idpPassword): Promise<void> {
  await page.getByText('Demo identity provider').waitFor();
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** The console shows who is signed in. */
async function signedInAs(page: Page, email: string): Promise<void> {
  await page.locator('#who', { hasText: email }).waitFor();
  await expect(page.textContent('#who')).resolves.toBe(email);
}

const linkIn = (text: string) => /https?:\/\/[^\s]+\/a\/[A-Za-z0-9_-]{43}/.exec(text)?.[0] ?? '';

beforeAll(async () => {
  inbox = await SmtpInbox.start();
  sys = await startTestSystem({ simulated: 1, env: { SMTP_URL: inbox.url } });
  admin = sys.keyOf('admin');
  ({ email: approverEmail, password: approverPassword } = sys.seed.credentials.find((c) => c.role === 'approver' && c.org === sys.seed.orgs.acme.slug)!);
  domain = `${sys.seed.orgs.acme.slug}.example`;
  named = (await sys.startApiNode(0, 'localhost')).url;
  const clientSecret = (acmeSecret = testClientSecret());
  provider = await startLocalProvider({
    clients: [{ clientId: CLIENT_ID, clientSecret, redirectUris: [`${sys.url}/signin/oidc/callback`, `${named}/signin/oidc/callback`] }],
    users: [
      { email: approverEmail, password: idpPassword, name: 'Acme approver', emailVerified: true },
      { email: `newcomer@${domain}`, password: idpPassword, name: 'New Comer', emailVerified: true },
      { email: `unverified@${domain}`, password: idpPassword, name: 'Not Verified', emailVerified: false },
    ],
  });
  const registered = await register({ name: 'Acme SSO', issuer: provider.issuer, clientId: CLIENT_ID, clientSecret, emailDomains: [domain] });
  expect(registered.redirectUri).toBe(`${sys.url}/signin/oidc/callback`);
  rogue = await startRogueProvider(CLIENT_ID, approverEmail);
  await register({ name: 'Rogue SSO', issuer: rogue.issuer, clientId: CLIENT_ID, clientSecret: testClientSecret() });
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await rogue?.close();
  await provider?.stop();
  await sys?.stop();
  await inbox?.stop();
});

it('keeps the client secret sealed and shows providers to partner admins only', async () => {
  const listed = await sys.request('GET', '/v1/partner/oidc-providers', { key: admin });
  expect(listed.status).toBe(200);
  const providers = (listed.body as { providers: Record<string, unknown>[] }).providers;
  expect(providers.map((p) => p.name)).toEqual(['Acme SSO', 'Rogue SSO']);
  expect(JSON.stringify(listed.body)).not.toMatch(/clientSecret/);
  const rows = await sys.prisma.oidcProvider.findMany({ where: { partnerId: sys.seed.partnerId } });
  const acme = rows.find((r) => r.name === 'Acme SSO')!;
  expect(acme.clientSecret).not.toContain(acmeSecret);
  expect(Buffer.from(acme.clientSecret, 'base64').toString('latin1')).not.toContain(acmeSecret);
  expect((await sys.request('GET', '/v1/partner/oidc-providers', { key: sys.keyOf('approver') })).status).toBe(403);
  const bad = await sys.request('POST', '/v1/partner/oidc-providers', { key: admin, body: { name: 'x', issuer: 'http://idp.example.com', clientId: 'a', clientSecret: 'b' } });
  expect(bad.status).toBe(400);
  expect(JSON.stringify(bad.body)).toContain('must be an https:// URL');
});

it('signs a new person in to the console through the provider, provisioned with no roles', async () => {
  const page = await (await browser.newContext()).newPage();
  await ssoFromConsole(page, `newcomer@${domain}`, 'Acme SSO');
  await atProvider(page, `newcomer@${domain}`);
  await signedInAs(page, `newcomer@${domain}`);
  const user = await sys.prisma.user.findUniqueOrThrow({ where: { email: `newcomer@${domain}` }, include: { roleBindings: true } });
  expect(user).toMatchObject({ partnerId: sys.seed.partnerId, name: 'New Comer', passwordHash: null, partnerAdmin: false, roleBindings: [] });
  const events = await sys.prisma.auditEvent.findMany({ where: { actorId: user.id, action: { in: ['user.provisioned', 'auth.signed_in'] } } });
  expect(events.map((e) => e.action).sort()).toEqual(['auth.signed_in', 'user.provisioned']);
  await page.context().close();
});

it('refuses a replayed callback (the same code and state again)', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  let callback = '';
  page.on('request', (r) => {
    if (r.url().includes('/signin/oidc/callback')) callback = r.url();
  });
  await ssoFromConsole(page, approverEmail, 'Acme SSO');
  await atProvider(page, approverEmail);
  await signedInAs(page, approverEmail);
  expect(callback).toContain('code=');

  await page.goto(callback);
  await expect(page.textContent('h1')).resolves.toBe('Not signed in');
  await expect(page.textContent('main')).resolves.toContain('this sign-in answer was used already');

  const refusals = await sys.prisma.auditEvent.findMany({ where: { action: 'security.oidc_signin_refused', target: provider.issuer } });
  expect(refusals.map((e) => (e.data as { reason: string }).reason)).toContain('replayed');
  await context.close();
});

it('refuses a sign-in answered in another browser than the one that started it (a planted callback URL)', async () => {
  // Someone starts a sign-in and is signed in at the provider (the rogue one signs in at once), but stops before
  // their browser comes back; the callback URL, with its code, is then opened in the victim's browser.
  const rogueId = (await sys.prisma.oidcProvider.findFirstOrThrow({ where: { partnerId: sys.seed.partnerId, name: 'Rogue SSO' } })).id;
  rogue.mode = 'honest';
  const started = await fetch(`${sys.url}/signin/oidc/start/${rogueId}`, { redirect: 'manual' });
  expect(started.status).toBe(303);
  const answered = await fetch(started.headers.get('location')!, { redirect: 'manual' });
  const planted = answered.headers.get('location')!;
  expect(planted).toContain('/signin/oidc/callback?code=');
  const victim = await (await browser.newContext()).newPage();
  await victim.goto(planted);
  await expect(victim.textContent('main')).resolves.toContain('this sign-in was started in another browser');
  // A callback with a state Gatehouse never sent.
  await victim.goto(`${sys.url}/signin/oidc/callback?code=anything&state=made-up`);
  await expect(victim.textContent('main')).resolves.toContain('this sign-in answer is not one Gatehouse asked for');
  // Not signed in by either: the console still asks to sign in.
  await victim.goto(sys.url);
  await victim.getByRole('link', { name: 'Sign in with single sign-on' }).waitFor();
  const refusals = await sys.prisma.auditEvent.findMany({ where: { action: 'security.oidc_signin_refused', target: rogue.issuer } });
  expect(refusals.map((e) => (e.data as { reason: string }).reason)).toContain('other-browser');
  await victim.context().close();
});

it('refuses an e-mail the provider has not verified', async () => {
  const page = await (await browser.newContext()).newPage();
  await ssoFromConsole(page, `unverified@${domain}`, 'Acme SSO');
  await atProvider(page, `unverified@${domain}`);
  await expect(page.textContent('h1')).resolves.toBe('Not signed in');
  await expect(page.textContent('main')).resolves.toContain(`the identity provider has not verified the e-mail address unverified@${domain}`);
  expect(await sys.prisma.user.findUnique({ where: { email: `unverified@${domain}` } })).toBeNull();
  const refusal = await sys.prisma.auditEvent.findFirstOrThrow({ where: { action: 'security.oidc_signin_refused', target: `unverified@${domain}` } });
  expect(refusal.data).toMatchObject({ reason: 'unverified-email' });
  await page.context().close();
});

describe('refuses an ID token', () => {
  const cases: [RogueProvider['mode'], string, string][] = [
    ['wrong-audience', 'wrong-audience', 'the ID token was issued for another application'],
    ['expired', 'expired-token', 'the ID token has expired'],
    ['wrong-nonce', 'wrong-nonce', 'the ID token was not issued for this sign-in (its nonce does not match)'],
  ];
  it.each(cases)('%s', async (mode, reason, message) => {
    rogue.mode = mode;
    const page = await (await browser.newContext()).newPage();
    await ssoFromConsole(page, approverEmail, 'Rogue SSO');
    await expect(page.textContent('h1')).resolves.toBe('Not signed in');
    await expect(page.textContent('main')).resolves.toContain(message);
    const events = await sys.prisma.auditEvent.findMany({ where: { action: 'security.oidc_signin_refused', target: rogue.issuer } });
    expect(events.map((e) => (e.data as { reason: string }).reason)).toContain(reason);
    await page.context().close();
  });

  it('used before (the same token for a second sign-in)', async () => {
    rogue.mode = 'honest';
    const first = await (await browser.newContext()).newPage();
    await ssoFromConsole(first, approverEmail, 'Rogue SSO');
    await signedInAs(first, approverEmail);
    rogue.mode = 'replay-last-token';
    const second = await (await browser.newContext()).newPage();
    await ssoFromConsole(second, approverEmail, 'Rogue SSO');
    await expect(second.textContent('main')).resolves.toContain('a replayed or substituted token');
    await first.context().close();
    await second.context().close();
  });
});

it('brings an approver who opened an emailed T4 link back to it after signing in through the provider', async () => {
  const tech = sys.keyOf('technician');
  const sessionId = await sys.startSession(tech);
  await sys.send(sessionId, tech, toolCall('restart_device', { device_id: [...sys.simulated.values()][0]! }));
  const approval = await sys.waitForApproval(sessionId);
  const link = linkIn((await inbox.waitFor(approverEmail, /approval needed \(T4\): restart_device/, 30_000, (m) => m.text.includes(approval.id))).text);
  // Not signed in: nothing of the call is shown, nothing can be decided.
  const stranger = cookieBrowser(sys.url);
  const anonymous = await stranger('GET', link);
  expect(anonymous.status).toBe(401);
  expect(anonymous.text).not.toContain('restart_device');

  const page = await (await browser.newContext()).newPage();
  await page.goto(link);
  await expect(page.textContent('h1')).resolves.toBe('Sign in to decide');
  await page.getByRole('link', { name: `Sign in as ${approverEmail}` }).click();
  await page.getByLabel('Work account').fill(approverEmail);
  await page.getByRole('button', { name: 'Continue with single sign-on' }).click();
  await page.getByRole('link', { name: 'Sign in with Acme SSO' }).click();
  await atProvider(page, approverEmail);
  await expect(page.textContent('h1')).resolves.toBe('Approve restart_device?');
  expect(new URL(page.url()).pathname).toBe(new URL(link).pathname);
  expect((await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).status).toBe('pending');
  await page.context().close();
});

it('signs an approver in through the provider, who registers a passkey and approves a T4 call with it', async () => {
  const page = await (await browser.newContext()).newPage();
  await addVirtualAuthenticator(page);
  await ssoFromConsole(page, approverEmail, 'Acme SSO', named);
  await atProvider(page, approverEmail);
  await signedInAs(page, approverEmail);
  expect(new URL(page.url()).origin).toBe(named);
  await registerPasskey(page, 'SSO laptop');

  const tech = sys.keyOf('technician');
  const sessionId = await sys.startSession(tech);
  const turnId = await sys.send(sessionId, tech, toolCall('restart_device', { device_id: [...sys.simulated.values()][0]! }));
  const approval = await sys.waitForApproval(sessionId);
  expect(approval.tier).toBe(4);
  await page.goto(`${named}/#/approvals/${approval.id}`);
  const card = page.locator(`section[aria-label="The approval you opened"] [data-approval="${approval.id}"]`);
  await card.getByLabel(/^Type .+ to approve$/).fill(approval.confirmationPhrase!);
  await card.getByRole('button', { name: 'Approve' }).click();
  await card.getByText('Approved.').waitFor();
  await sys.waitForTurn(sessionId, tech, turnId, 60_000);
  const decided = await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } });
  expect(decided).toMatchObject({ status: 'approved', passkeyAssertion: expect.objectContaining({ rpId: 'localhost' }) });
  const user = await sys.prisma.user.findUniqueOrThrow({ where: { email: approverEmail } });
  expect(decided.decidedBy).toBe(user.id);
  await page.context().close();
});

it("refuses a T4 approval by someone signed in through a provider the requesting admin registered, with a passkey made there", async () => {
  // The partner admin who registered Rogue SSO asks for a T4 call in a technician's session.
  const tech = sys.keyOf('technician');
  const sessionId = await sys.startSession(tech);
  await sys.send(sessionId, admin, toolCall('restart_device', { device_id: [...sys.simulated.values()][0]! }));
  const approval = await sys.waitForApproval(sessionId);
  // Its provider says whoever signs in is the approver (verified e-mail): a console session as them, and a passkey.
  rogue.mode = 'honest';
  const page = await (await browser.newContext()).newPage();
  await addVirtualAuthenticator(page);
  await ssoFromConsole(page, approverEmail, 'Rogue SSO', named);
  await signedInAs(page, approverEmail);
  await registerPasskey(page, 'kept by the admin');

  await page.goto(`${named}/#/approvals/${approval.id}`);
  const card = page.locator(`section[aria-label="The approval you opened"] [data-approval="${approval.id}"]`);
  await card.getByLabel(/^Type .+ to approve$/).fill(approval.confirmationPhrase!);
  await card.getByRole('button', { name: 'Approve' }).click();
  await card.getByText(/Not decided: .*someone its requester did not set up/).waitFor();
  expect((await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).status).toBe('pending');
  const user = await sys.prisma.user.findUniqueOrThrow({ where: { email: approverEmail } });
  const refused = await sys.prisma.auditEvent.findFirst({ where: { action: 'approval.decision_refused', target: approval.id, actorId: user.id } });
  expect(refused?.data).toMatchObject({ why: 'approver set up by a session author approving a T4 call' });
  await page.context().close();
});

it('refuses password sign-in, with a clear message, once the partner turns passwords off', async () => {
  expect((await sys.request('PUT', '/v1/partner/sign-in', { key: sys.keyOf('approver'), body: { localPasswords: false } })).status).toBe(403);
  expect((await sys.request('PUT', '/v1/partner/sign-in', { key: admin, body: { localPasswords: false } })).body).toEqual({ localPasswords: false, providers: 2 });
  const client = cookieBrowser(sys.url);
  const refused = await client('POST', '/v1/auth/signin', { json: { email: approverEmail, password: approverPassword } });
  expect(refused.status).toBe(403);
  expect(refused.text).toContain('signs in with single sign-on only (passwords are turned off)');
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${sys.url}/signin`);
  await page.getByLabel('E-mail', { exact: true }).fill(approverEmail);
  await page.getByLabel('Password').fill(approverPassword);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await expect(page.textContent('[role=alert]')).resolves.toContain('passwords are turned off');
  const events = await sys.prisma.auditEvent.findMany({ where: { action: { in: ['partner.passwords_off', 'security.signin_password_refused'] }, OR: [{ target: sys.seed.partnerId }, { target: approverEmail }] } });
  expect(events.map((e) => e.action).sort()).toEqual(['partner.passwords_off', 'security.signin_password_refused', 'security.signin_password_refused']);
  // Single sign-on still works.
  await page.goto(sys.url);
  await page.getByRole('link', { name: 'Sign in with single sign-on' }).click();
  await page.getByLabel('Work e-mail').fill(approverEmail);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('link', { name: 'Sign in with Acme SSO' }).click();
  await atProvider(page, approverEmail);
  await signedInAs(page, approverEmail);
  await page.context().close();
});
