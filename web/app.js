// The console's shell: who is signed in, the organization picker, and a small hash router that shows one view at a
// time in <main>. Each view is a function (main, ctx, params) that may return a clean-up function.
import { api, ApiError, get, setCsrf } from './lib/api.js';
import { el, replace } from './lib/dom.js';
import { connectLive, disconnectLive } from './lib/live.js';
import { signInView } from './views/signin.js';
import { chatView } from './views/chat.js';
import { approvalsView } from './views/approvals.js';
import { remediationView } from './views/remediation.js';
import { fleetView } from './views/fleet.js';
import { timelineView } from './views/timeline.js';
import { terminalsView } from './views/terminals.js';
import { terminalView } from './views/terminal.js';
import { recordingView } from './views/recording.js';
import { passkeysView } from './views/passkeys.js';
import { policyView } from './views/policy.js';
import { connectedAppsView } from './views/connected-apps.js';

const main = document.getElementById('main');
const header = document.getElementById('top');
const orgSelect = document.getElementById('org');

/** What every view can read: the user, their organizations (with roles) and the one picked. */
const ctx = {
  user: null,
  orgs: [],
  org: null,
  hasRole(role, org = ctx.org) {
    return Boolean(org?.roles.some((r) => r.role === role));
  },
  navigate(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  },
};

const ROUTES = [
  [/^#\/sessions\/([0-9a-f-]{36})\/timeline$/, timelineView, 'chat'],
  [/^#\/sessions\/([0-9a-f-]{36})$/, chatView, 'chat'],
  [/^#\/remediations\/([0-9a-f-]{36}:[A-Za-z0-9_-]+)$/, remediationView, 'chat'],
  [/^#\/approvals$/, approvalsView, 'approvals'],
  [/^#\/approvals\/([0-9a-f-]{36})$/, approvalsView, 'approvals'],
  [/^#\/fleet$/, fleetView, 'fleet'],
  [/^#\/terminals$/, terminalsView, 'terminals'],
  [/^#\/terminals\/([0-9a-f-]{36})$/, terminalView, 'terminals'],
  [/^#\/recordings\/([0-9a-f-]{36})$/, recordingView, 'terminals'],
  [/^#\/chat$/, chatView, 'chat'],
  [/^#\/passkeys$/, passkeysView, 'passkeys'],
  [/^#\/policy$/, policyView, 'policy'],
  [/^#\/connected-apps$/, connectedAppsView, 'connected-apps'],
];

let cleanup = null;

function route() {
  if (!ctx.user) return;
  cleanup?.();
  cleanup = null;
  const hash = decodeURIComponent(location.hash || '#/chat');
  const found = ROUTES.map(([re, view, nav]) => [re.exec(hash), view, nav]).find(([m]) => m);
  if (!found) return ctx.navigate('#/chat');
  const [match, view, nav] = found;
  for (const a of header.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  replace(main);
  const result = view(main, ctx, match.slice(1));
  cleanup = typeof result === 'function' ? result : null;
  main.focus({ preventScroll: true });
}

function pickOrg(slug) {
  ctx.org = ctx.orgs.find((o) => o.slug === slug) ?? ctx.orgs[0] ?? null;
  if (ctx.org) localStorage.setItem('gatehouse.org', ctx.org.slug);
}

/** Called with the answer of sign-in or GET /v1/auth/session. */
function signedIn(session) {
  ctx.user = session.user;
  ctx.orgs = session.orgs;
  setCsrf(session.csrfToken);
  pickOrg(localStorage.getItem('gatehouse.org'));
  replace(orgSelect, ctx.orgs.map((o) => el('option', { value: o.slug, selected: o.slug === ctx.org?.slug }, `${o.name} — ${o.roles.map((r) => r.role).join(', ')}`)));
  replace(document.getElementById('who'), session.user.email);
  header.hidden = false;
  connectLive();
  if (ctx.orgs.length === 0) {
    replace(main, el('h1', {}, 'No organization'), el('p', {}, 'You hold no role in any organization yet. Ask an admin to grant you one.'));
    return;
  }
  route();
}

function signedOut() {
  cleanup?.();
  cleanup = null;
  ctx.user = null;
  setCsrf(null);
  disconnectLive();
  header.hidden = true;
  replace(main);
  signInView(main, signedIn);
}

orgSelect.addEventListener('change', () => {
  pickOrg(orgSelect.value);
  // A session belongs to one org: switching org goes back to that org's session list.
  if (/^#\/(sessions|remediations)\//.test(location.hash)) ctx.navigate('#/chat');
  else if (/^#\/(terminals|recordings)\//.test(location.hash)) ctx.navigate('#/terminals');
  else route();
});

document.getElementById('signout').addEventListener('click', async () => {
  await api('POST', '/v1/auth/signout', {}).catch(() => undefined);
  signedOut();
});

window.addEventListener('hashchange', route);

get('/v1/auth/session').then(signedIn, (err) => {
  if (err instanceof ApiError && err.status === 401) signedOut();
  else replace(main, el('p', { role: 'alert' }, err.message));
});
