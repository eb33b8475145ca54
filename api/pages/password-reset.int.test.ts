/**
 * Nobody sets another person's password: a partner admin who could would sign in as an approver and approve their
 * own T4 call in that name. The admin can only have a one-time link mailed (a real SMTP server catches it); the
 * user sets the password on the page, which signs them out everywhere; the link works once.
 */
import crypto from 'node:crypto';
import { startTestSystem, type TestSystem } from '../../test/harness';
import { SmtpInbox } from '../../test/services';
import { browser, csrfIn } from '../../test/slack';

let inbox: SmtpInbox;
let sys: TestSystem;
let partnerAdmin: { userId: string; key: string };
let approver: { email: string; password: string; userId: string };

const linkIn = (text: string) => {
  const m = /https?:\/\/[^\s]+\/password\/reset\/[A-Za-z0-9_-]{43}/.exec(text);
  if (!m) throw new Error(`no reset link in the mail:\n${text}`);
  return m[0];
};

beforeAll(async () => {
  inbox = await SmtpInbox.start();
  sys = await startTestSystem({ simulated: 0, env: { SMTP_URL: inbox.url } });
  partnerAdmin = await sys.createUser(['admin']);
  await sys.prisma.user.update({ where: { id: partnerAdmin.userId }, data: { partnerAdmin: true } });
  const seeded = sys.seed.credentials.find((c) => c.role === 'approver' && c.org === sys.seed.orgs.acme.slug)!;
  const user = await sys.prisma.user.findUniqueOrThrow({ where: { email: seeded.email } });
  approver = { email: seeded.email, password: seeded.password, userId: user.id };
}, 180_000);

afterAll(async () => {
  await sys?.stop();
  await inbox?.stop();
});

const signIn = async (b: ReturnType<typeof browser>, password: string) => (await b('POST', '/v1/auth/signin', { json: { email: approver.email, password } })).status;

it("refuses to let an admin set another user's password, and points to the reset link", async () => {
  const res = await sys.request('PATCH', `/v1/users/${approver.userId}`, { key: partnerAdmin.key, body: { password: 'admin knows this one' } });
  expect(res.status).toBe(400);
  expect(JSON.stringify(res.body)).toContain('POST /v1/users/:id/password-reset');
  // Nothing changed: the approver still signs in with their own password, the admin's does not work.
  expect(await signIn(browser(sys.url), 'admin knows this one')).toBe(401);
  expect(await signIn(browser(sys.url), approver.password)).toBe(200);
});

it('mails the user a one-time link with which they set their password themselves, and signs them out everywhere', async () => {
  // Only partner admins ask for a link; the answer never carries it.
  const notAdmin = await sys.createUser(['admin']);
  expect((await sys.request('POST', `/v1/users/${approver.userId}/password-reset`, { key: notAdmin.key })).status).toBe(403);
  expect((await sys.request('POST', `/v1/users/${crypto.randomUUID()}/password-reset`, { key: partnerAdmin.key })).status).toBe(404);

  const elsewhere = browser(sys.url);
  expect(await signIn(elsewhere, approver.password)).toBe(200);
  expect((await elsewhere('GET', '/v1/auth/session')).status).toBe(200);

  const sent = await sys.request('POST', `/v1/users/${approver.userId}/password-reset`, { key: partnerAdmin.key });
  expect(sent).toMatchObject({ status: 202, body: { sentTo: approver.email } });
  const mail = await inbox.waitFor(approver.email, /Set your Gatehouse password/);
  const link = linkIn(mail.text);
  expect(JSON.stringify(sent.body)).not.toContain(link.split('/').pop()!);

  const page = browser(sys.url);
  // A mail scanner fetching the link changes nothing.
  for (let i = 0; i < 2; i++) expect((await page('GET', link)).status).toBe(200);
  const shown = await page('GET', link);
  expect(shown.text).toContain(approver.email);
  const newPassword = `new-${crypto.randomBytes(8).toString('hex')}`;
  expect((await page('POST', link, { form: { _csrf: 'forged', password: newPassword, again: newPassword } })).status).toBe(403);
  expect((await page('POST', link, { form: { _csrf: csrfIn(shown.text), password: newPassword, again: `${newPassword}x` } })).text).toContain('The two passwords differ');
  const fresh = await page('GET', link);
  const done = await page('POST', link, { form: { _csrf: csrfIn(fresh.text), password: newPassword, again: newPassword } });
  expect(done.status).toBe(200);
  expect(done.text).toContain('Password set');

  // The old password is gone, the new one works, and the session signed in before the reset has ended.
  expect(await signIn(browser(sys.url), approver.password)).toBe(401);
  expect(await signIn(browser(sys.url), newPassword)).toBe(200);
  expect((await elsewhere('GET', '/v1/auth/session')).status).toBe(401);

  // The link works once.
  const again = await page('GET', link);
  expect(again.status).toBe(410);
  expect(again.text).toContain('already used');

  const actions = (await sys.prisma.auditEvent.findMany({ where: { target: approver.email, action: { in: ['user.password_reset_sent', 'auth.password_reset'] } }, select: { action: true, actorId: true } }));
  expect(actions).toEqual(expect.arrayContaining([
    { action: 'user.password_reset_sent', actorId: partnerAdmin.userId },
    { action: 'auth.password_reset', actorId: approver.userId },
  ]));
  approver.password = newPassword;
});

it('answers an unknown or malformed link with a page that changes nothing', async () => {
  expect((await fetch(new URL(`/password/reset/${'A'.repeat(43)}`, sys.url))).status).toBe(404);
  expect((await fetch(new URL('/password/reset/short', sys.url))).status).toBe(404);
});
