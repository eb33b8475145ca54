// Standing approvals in force: an approver's "allow this exact action on these devices for N days", each a rule of
// the policy version that granted it. Listed with who granted it, until when, how often it let a call through and
// its version; an admin or an approver revokes one at once, with a reason (which makes a new policy version).
import { api, get } from '../lib/api.js';
import { el, replace, time } from '../lib/dom.js';

export function standingSection(ctx, base, onChanged) {
  const mayRevoke = ctx.hasRole('admin') || ctx.hasRole('approver');
  const rows = el('tbody');
  const empty = el('p', { class: 'muted' }, 'No standing approval is in force.');
  const error = el('p', { role: 'alert', class: 'error' });
  const table = el(
    'table',
    { class: 'standing' },
    el('thead', {}, el('tr', {}, ['Allows', 'On devices', 'Granted by', 'Expires', 'Calls let through', 'Version', mayRevoke ? 'Revoke' : null].filter(Boolean).map((h) => el('th', { scope: 'col' }, h)))),
    rows,
  );
  // A rule holds the exact call it allows (its input): shown to those who decide or audit calls, as the API does.
  const mayRead = ctx.hasRole('admin') || ctx.hasRole('approver') || ctx.hasRole('auditor');
  if (!mayRead) {
    const note = el('p', { class: 'note' }, 'Standing approvals are shown to the admins, approvers and auditors of this organization.');
    return { node: el('section', { 'aria-labelledby': 'standing-h' }, el('h2', { id: 'standing-h' }, 'Standing approvals'), note), refresh: () => undefined, stop: () => undefined };
  }
  const node = el('section', { 'aria-labelledby': 'standing-h' }, el('h2', { id: 'standing-h' }, 'Standing approvals'), error, empty, table);
  let stopped = false;

  function revokeForm(s) {
    const id = `revoke-${s.id}`;
    const reason = el('input', { id, maxLength: 500, autocomplete: 'off' });
    const status = el('p', { role: 'status', class: 'decision-status' });
    const revoke = async () => {
      if (!reason.value.trim()) {
        replace(status, 'Say why you revoke it.');
        reason.focus();
        return;
      }
      replace(status, 'Revoking…');
      try {
        await api('DELETE', `${base}/standing-approvals/${s.id}`, { reason: reason.value.trim() });
        onChanged();
      } catch (err) {
        replace(status, `Not revoked: ${err.message}`);
      }
    };
    return el(
      'form',
      { class: 'revoke', onsubmit: (e) => (e.preventDefault(), void revoke()) },
      el('label', { for: id }, 'Reason'),
      reason,
      el('button', { type: 'submit', class: 'reject', 'aria-label': `Revoke the standing approval of ${what(s)}` }, 'Revoke'),
      status,
    );
  }

  /** Rows on the page, by standing approval id: the row and its use-count cell. */
  const shown = new Map();
  let placed = '';

  function standingRow(s) {
    const uses = el('td', {}, String(s.uses));
    const row = el(
      'tr',
      { 'data-standing': s.id },
      el('td', {}, el('strong', {}, s.action ? `${s.tool}:${s.action}` : s.tool), el('pre', { class: 'params' }, JSON.stringify(s.params ?? {}, null, 1))),
      el('td', {}, deviceNames(s)),
      el('td', {}, s.author ?? '—', ' ', time(s.createdAt)),
      el('td', {}, time(s.expiresAt)),
      uses,
      el('td', {}, String(s.version)),
      mayRevoke ? el('td', {}, revokeForm(s)) : null,
    );
    return { row, uses };
  }

  async function refresh() {
    try {
      const { standing } = await get(`${base}/standing-approvals`);
      if (stopped) return;
      replace(error);
      empty.hidden = standing.length > 0;
      table.hidden = standing.length === 0;
      // Rows are kept by id and only their use count is updated, so a revoke reason being typed survives a refresh.
      const ids = new Set(standing.map((s) => s.id));
      for (const [id, r] of shown) if (!ids.has(id)) (r.row.remove(), shown.delete(id));
      for (const s of standing) {
        const known = shown.get(s.id);
        if (known) replace(known.uses, String(s.uses));
        else shown.set(s.id, standingRow(s));
      }
      // Re-placing rows takes the focus from a reason being typed: only when rules came or went.
      const order = standing.map((s) => s.id).join(',');
      if (order !== placed) replace(rows, standing.map((s) => shown.get(s.id).row));
      placed = order;
    } catch (err) {
      replace(error, err.message);
    }
  }

  return { node, refresh, stop: () => (stopped = true) };
}

/** A device gone from the fleet keeps its id. */
const deviceNames = (s) => s.devices.map((d) => d.name ?? d.id).join(', ');
const what = (s) => `${s.action ? `${s.tool}:${s.action}` : s.tool} on ${deviceNames(s)}`;
