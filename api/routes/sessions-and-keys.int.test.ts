/**
 * API keys expire, and their owner and the org's admins see when each was last used and when it expires.
 * Console sessions a user can see and end: their list (which one is this browser), sign-out everywhere (every
 * browser of theirs is signed out at once, audited), the idle timeout (the stored session's expiry, pushed on by each
 * request) and the absolute one (a session this long after its sign-in ends however active; one with no recorded
 * sign-in time counts as ended).
 */
import { startTestSystem, waitUntil, type TestSystem } from '../../test/harness';

let sys: TestSystem;
const approver = () => sys.seed.credentials.find((c) => c.role === 'approver' && c.org === sys.seed.orgs.acme.slug)!;

/** A browser-like client with its own cookie jar, signed in as the demo approver. */
async function signedInBrowser(userAgent: string) {
  const jar = new Map<string, string>();
  let csrf = '';
  const call = async (method: string, route: string, body?: unknown) => {
    const res = await fetch(new URL(route, sys.url), {
      method,
      headers: { 'user-agent': userAgent, cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(csrf ? { 'x-csrf-token': csrf } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    for (const c of res.headers.getSetCookie()) {
      const [name, value] = c.split(';')[0]!.split('=') as [string, string];
      if (/Expires=Thu, 01 Jan 1970/.test(c)) jar.delete(name);
      else jar.set(name, value);
    }
    return { status: res.status, body: (await res.json()) as any };
  };
  const signIn = await call('POST', '/v1/auth/signin', { email: approver().email, password: approver().password });
  expect(signIn.status).toBe(200);
  csrf = signIn.body.csrfToken;
  return call;
}

/** The stored session of a signed-in browser, by the user agent it signed in with. */
const whereAgent = (ua: string) => `sess->>'userAgent' = '${ua.replace(/'/g, "''")}'`;

beforeAll(async () => {
  sys = await startTestSystem();
}, 180_000);

afterAll(async () => {
  await sys?.stop();
});

it('lists a user\'s sessions with the current one marked, and signs every browser out at once', async () => {
  const laptop = await signedInBrowser('Laptop browser');
  const phone = await signedInBrowser('Phone browser');
  const listed = await laptop('GET', '/v1/auth/sessions');
  expect(listed.status).toBe(200);
  const mine = listed.body.sessions.filter((s: { browser: string }) => /Laptop browser|Phone browser/.test(s.browser));
  expect(mine).toHaveLength(2);
  expect(mine.find((s: { browser: string }) => s.browser === 'Laptop browser')).toMatchObject({ current: true, signedInAt: expect.any(String) });
  expect(mine.find((s: { browser: string }) => s.browser === 'Phone browser')).toMatchObject({ current: false });
  // The list never shows a session's id (it is the cookie's secret).
  expect(JSON.stringify(listed.body)).not.toMatch(/gh_session|s%3A/);

  const out = await laptop('POST', '/v1/auth/signout-everywhere', {});
  expect(out.status).toBe(200);
  expect(out.body.signedOut).toBeGreaterThanOrEqual(2);
  expect((await phone('GET', '/v1/auth/session')).status).toBe(401);
  expect((await laptop('GET', '/v1/auth/session')).status).toBe(401);
  const user = await sys.prisma.user.findUniqueOrThrow({ where: { email: approver().email } });
  expect(await sys.prisma.auditEvent.count({ where: { action: 'auth.signed_out_everywhere', actorId: user.id, orgId: sys.seed.orgs.acme.id } })).toBe(1);
});

it('ends a session left unused past the idle timeout, and one past its absolute lifetime however active', async () => {
  const idle = await signedInBrowser('Idle browser');
  const busy = await signedInBrowser('Busy browser');
  const old = await signedInBrowser('Pre-upgrade browser');
  expect((await idle('GET', '/v1/auth/session')).status).toBe(200);

  // Unused past the idle timeout: the stored session expired.
  await sys.prisma.$executeRawUnsafe(`UPDATE web_session SET expire = now() - interval '1 second' WHERE ${whereAgent('Idle browser')}`);
  expect((await idle('GET', '/v1/auth/session')).status).toBe(401);

  // Used a moment ago, but signed in 13 hours ago (the default lifetime is 12 hours): ended, and its row is gone.
  const thirteenHoursAgo = Date.now() - 13 * 3600_000;
  await sys.prisma.$executeRawUnsafe(`UPDATE web_session SET sess = jsonb_set(sess::jsonb, '{signedInAt}', to_jsonb(${thirteenHoursAgo}::bigint))::json WHERE ${whereAgent('Busy browser')}`);
  expect((await busy('GET', '/v1/auth/session')).status).toBe(401);
  expect(await sys.prisma.$queryRawUnsafe<unknown[]>(`SELECT 1 FROM web_session WHERE ${whereAgent('Busy browser')}`)).toEqual([]);

  // A session whose sign-in time was never recorded counts as ended.
  await sys.prisma.$executeRawUnsafe(`UPDATE web_session SET sess = (sess::jsonb - 'signedInAt')::json WHERE ${whereAgent('Pre-upgrade browser')}`);
  expect((await old('GET', '/v1/auth/session')).status).toBe(401);
});

it('expires API keys: a new key says when, works until then, and is refused after with the reason; owners and org admins see last use and expiry', async () => {
  const created = await sys.request('POST', '/v1/api-keys', { key: sys.keyOf('technician'), body: { name: 'backup script', expiresInDays: 30 } });
  expect(created.status).toBe(201);
  const days = (Date.parse(created.body.expiresAt) - Date.parse(created.body.createdAt)) / 86_400_000;
  expect(Math.round(days)).toBe(30);
  expect((await sys.request('GET', '/v1/auth/session', { key: created.body.key })).status).toBe(200);
  await waitUntil(async () => (await sys.prisma.apiKey.findUniqueOrThrow({ where: { id: created.body.id } })).lastUsedAt !== null, 'its use to be recorded');

  const own = await sys.request('GET', '/v1/api-keys', { key: sys.keyOf('technician') });
  expect(own.body.keys.find((k: { id: string }) => k.id === created.body.id)).toMatchObject({ expiresAt: created.body.expiresAt, lastUsedAt: expect.any(String) });
  const slug = sys.seed.orgs.acme.slug;
  const members = await sys.request('GET', `/v1/orgs/${slug}/member-api-keys`, { key: sys.keyOf('admin') });
  expect(members.status).toBe(200);
  const technician = sys.seed.credentials.find((c) => c.role === 'technician' && c.org === slug)!;
  expect(members.body.keys.find((k: { id: string }) => k.id === created.body.id)).toMatchObject({ owner: technician.email, expiresAt: created.body.expiresAt, lastUsedAt: expect.any(String) });
  expect(JSON.stringify(members.body)).not.toContain(created.body.key);
  // Not for someone who is no admin of the org.
  expect((await sys.request('GET', `/v1/orgs/${slug}/member-api-keys`, { key: sys.keyOf('technician') })).status).not.toBe(200);
  expect((await sys.request('GET', `/v1/orgs/${slug}/member-api-keys`, { key: sys.keyOf('admin', 'globex') })).status).toBe(404);

  // Past its expiry: refused, saying so.
  await sys.prisma.apiKey.update({ where: { id: created.body.id }, data: { expiresAt: new Date(Date.now() - 1000) } });
  const expired = await sys.request('GET', '/v1/auth/session', { key: created.body.key });
  expect(expired.status).toBe(401);
  expect(expired.body.error.message).toMatch(/^this API key expired at .+; make a new one/);
  // Asking for a key that never expires, or for longer than a year, is refused.
  expect((await sys.request('POST', '/v1/api-keys', { key: sys.keyOf('technician'), body: { name: 'forever', expiresInDays: 3650 } })).status).toBe(400);
});
