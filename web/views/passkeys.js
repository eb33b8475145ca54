// Your passkeys: register one (the browser asks the authenticator; the server verifies and keeps its public key),
// see when each was last used, remove one. Approving a T4 call is signed with one of them. Below, your signed-in
// sessions, and signing out of all of them at once.
import { startRegistration } from '/vendor/simplewebauthn/index.js';
import { api, get, post } from '../lib/api.js';
import { append, el, replace, time } from '../lib/dom.js';

export function passkeysView(main, ctx) {
  const status = el('p', { role: 'status' });
  const list = el('tbody');
  const name = el('input', { id: 'passkey-name', maxLength: 100, value: 'My passkey', autocomplete: 'off' });
  const add = el('button', { type: 'submit' }, 'Register a passkey');

  async function refresh() {
    const { passkeys } = await get('/v1/passkeys');
    replace(
      list,
      passkeys.length === 0
        ? el('tr', {}, el('td', { colspan: 4 }, 'No passkey yet: you cannot approve T4 calls until you register one.'))
        : passkeys.map((p) =>
            el(
              'tr',
              { 'data-passkey': p.id },
              el('td', {}, p.name),
              el('td', {}, time(p.createdAt)),
              el('td', {}, p.lastUsedAt ? time(p.lastUsedAt) : 'never'),
              el('td', {}, el('button', { type: 'button', 'aria-label': `Remove ${p.name}`, onclick: () => remove(p) }, 'Remove')),
            ),
          ),
    );
  }

  async function remove(p) {
    try {
      await api('DELETE', `/v1/passkeys/${p.id}`);
      replace(status, `Removed ${p.name}.`);
      await refresh();
    } catch (err) {
      replace(status, `Not removed: ${err.message}`);
    }
  }

  async function register() {
    add.disabled = true;
    replace(status, 'Follow your browser: it asks your authenticator…');
    try {
      const optionsJSON = await post('/v1/passkeys/registration-options', {});
      const response = await startRegistration({ optionsJSON });
      const saved = await post('/v1/passkeys', { name: name.value.trim() || 'My passkey', response });
      replace(status, `Registered ${saved.name}.`);
      await refresh();
    } catch (err) {
      replace(status, `Not registered: ${err.message}`);
    } finally {
      add.disabled = false;
    }
  }

  const sessions = el('tbody');
  async function refreshSessions() {
    const { sessions: list } = await get('/v1/auth/sessions');
    replace(
      sessions,
      list.map((x) => el('tr', { 'data-session': x.id }, el('td', {}, x.signedInAt ? time(x.signedInAt) : '—'), el('td', {}, x.browser || '—'), el('td', {}, time(x.idleExpiresAt)), el('td', {}, x.current ? 'this browser' : ''))),
    );
  }
  async function signOutEverywhere() {
    try {
      await post('/v1/auth/signout-everywhere', {});
      ctx.signedOut?.();
      location.reload();
    } catch (err) {
      replace(status, `Not signed out: ${err.message}`);
    }
  }

  append(main, [
    el('h1', {}, 'Passkeys'),
    el('p', {}, 'Approving a T4 call (and a T3 one where your organization asks) is signed with a passkey over that exact call. Auditors can check the signature outside Gatehouse.'),
    el(
      'form',
      { onsubmit: (e) => (e.preventDefault(), void register()) },
      el('label', { for: 'passkey-name' }, 'Name'),
      name,
      el('div', { class: 'buttons' }, add),
    ),
    status,
    el('table', {}, el('thead', {}, el('tr', {}, ['Name', 'Registered', 'Last used', ''].map((h) => el('th', { scope: 'col' }, h)))), list),
    el('h2', {}, 'Signed-in sessions'),
    el('p', { class: 'muted' }, 'A session ends after an hour without use, and some hours after signing in however active.'),
    el('table', {}, el('thead', {}, el('tr', {}, ['Signed in', 'Browser', 'Ends if unused', ''].map((h) => el('th', { scope: 'col' }, h)))), sessions),
    el('div', { class: 'buttons' }, el('button', { type: 'button', onclick: () => void signOutEverywhere() }, 'Sign out everywhere')),
  ]);
  refresh().catch((err) => replace(status, err.message));
  refreshSessions().catch((err) => replace(status, err.message));
}
