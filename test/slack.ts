/**
 * What a Slack user does to link their own account, for tests and benches: types `/gatehouse link` in Slack (a
 * request signed as Slack signs it), opens the link it answers with in a browser where they sign in to Gatehouse,
 * and confirms. The browser is plain fetch with a cookie jar, so each step's page can be asserted on.
 */
import { slackSignature } from '../api/services/slack';
import type { TestSystem } from './harness';
import type { FakeSlack } from './services';

/** POSTs a form to a Slack endpoint of the api as Slack would: form-encoded, v0-signed over the exact body. */
export async function signedSlackPost(sys: TestSystem, secret: string, route: string, form: Record<string, string>) {
  const body = new URLSearchParams(form).toString();
  const ts = String(Math.floor(Date.now() / 1000));
  const res = await fetch(`${sys.url}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': ts, 'x-slack-signature': slackSignature(secret, ts, body) },
    body,
  });
  return { status: res.status, text: await res.text() };
}

/** `/gatehouse <text>` typed by a Slack user; returns the ephemeral answer's text. */
export async function slashCommand(sys: TestSystem, secret: string, who: { teamId: string; slackUserId: string }, text: string): Promise<string> {
  const res = await signedSlackPost(sys, secret, '/slack/commands', { command: '/gatehouse', text, team_id: who.teamId, user_id: who.slackUserId, channel_id: 'C0GENERAL' });
  if (res.status !== 200) throw new Error(`/gatehouse ${text} answered ${res.status}: ${res.text}`);
  const answer = JSON.parse(res.text) as { response_type: string; text: string };
  if (answer.response_type !== 'ephemeral') throw new Error('the answer to /gatehouse must be ephemeral');
  return answer.text;
}

/** The one-time link in an answer to `/gatehouse link`. */
export function linkIn(answer: string): string {
  const m = /<(https?:\/\/[^|>]+\/slack\/link\/[A-Za-z0-9_-]{43})\|/.exec(answer);
  if (!m) throw new Error(`no link in the answer: ${answer}`);
  return m[1]!;
}

/** A browser: keeps cookies, follows nothing by itself. */
export function browser(base: string) {
  const jar = new Map<string, string>();
  return async (method: string, url: string, body?: { json?: unknown; form?: Record<string, string> }) => {
    const res = await fetch(new URL(url, base), {
      method,
      redirect: 'manual',
      headers: {
        cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
        ...(body?.json !== undefined ? { 'content-type': 'application/json' } : body?.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
      body: body?.json !== undefined ? JSON.stringify(body.json) : body?.form ? new URLSearchParams(body.form).toString() : undefined,
    });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const at = pair!.indexOf('=');
      const [name, value] = [pair!.slice(0, at), pair!.slice(at + 1)];
      if (/Expires=Thu, 01 Jan 1970/.test(c)) jar.delete(name);
      else jar.set(name, value);
    }
    return { status: res.status, text: await res.text(), location: res.headers.get('location') };
  };
}
export type Browser = ReturnType<typeof browser>;

/** The hidden CSRF field of a page's form. */
export function csrfIn(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m) throw new Error(`no form on the page:\n${html.slice(0, 500)}`);
  return m[1]!;
}

/** Opens a Slack link page signed in as `user` and confirms it; returns the confirmation's answer. */
export async function confirmLink(sys: TestSystem, link: string, user: { email: string; password: string }) {
  const b = browser(sys.url);
  const signedIn = await b('POST', '/v1/auth/signin', { json: { email: user.email, password: user.password } });
  if (signedIn.status !== 200) throw new Error(`sign-in failed: ${signedIn.text}`);
  const shown = await b('GET', link);
  if (shown.status !== 200) return shown;
  return b('POST', link, { form: { _csrf: csrfIn(shown.text), confirm: 'yes' } });
}

/**
 * The whole self-link: the Slack profile carries the user's e-mail (as Slack's directory would), the user types
 * `/gatehouse link`, signs in and confirms. Throws unless the link is made.
 */
export async function linkOwnSlackAccount(sys: TestSystem, slack: FakeSlack, secret: string, who: { teamId: string; slackUserId: string }, user: { email: string; password: string }) {
  slack.users.set(who.slackUserId, user.email);
  const confirmed = await confirmLink(sys, linkIn(await slashCommand(sys, secret, who, 'link')), user);
  if (confirmed.status !== 200) throw new Error(`link not confirmed (${confirmed.status}): ${confirmed.text}`);
}
