// The MCP clients you let act as you over OAuth (the consent page made each grant): which client, in which
// organizations, with which scopes, and when it was last used. Revoking one stops its tokens at once.
import { api, get } from '../lib/api.js';
import { append, el, replace, time } from '../lib/dom.js';

export function connectedAppsView(main) {
  const status = el('p', { role: 'status' });
  const list = el('tbody');

  async function refresh() {
    const { grants } = await get('/v1/oauth/grants');
    replace(
      list,
      grants.length === 0
        ? el('tr', {}, el('td', { colSpan: 6 }, 'No connected app: an MCP client you sign in to Gatehouse with appears here.'))
        : grants.map((g) =>
            el(
              'tr',
              { 'data-grant': g.id },
              el('td', {}, g.client.name),
              el('td', {}, g.orgs.map((o) => o.name).join(', ')),
              el('td', {}, g.scopes.join(' ')),
              el('td', {}, time(g.createdAt)),
              el('td', {}, g.lastUsedAt ? time(g.lastUsedAt) : 'never'),
              el('td', {}, el('button', { type: 'button', 'aria-label': `Revoke ${g.client.name}`, onclick: () => void revoke(g) }, 'Revoke')),
            ),
          ),
    );
  }

  async function revoke(g) {
    try {
      await api('DELETE', `/v1/oauth/grants/${g.id}`);
      replace(status, `Revoked ${g.client.name}: its tokens no longer work.`);
      await refresh();
    } catch (err) {
      replace(status, `Not revoked: ${err.message}`);
    }
  }

  append(main, [
    el('h1', {}, 'Connected apps'),
    el('p', {}, 'MCP clients that act as you over OAuth: with your roles, the same approvals and audit as your own calls, only in the organizations and with the scopes you granted (mcp:read: T1 tools only).'),
    status,
    el('table', {}, el('thead', {}, el('tr', {}, ['App', 'Organizations', 'Scopes', 'Granted', 'Last used', ''].map((h) => el('th', { scope: 'col' }, h)))), list),
  ]);
  refresh().catch((err) => replace(status, err.message));
}
