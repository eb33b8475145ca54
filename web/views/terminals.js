// Remote terminals of the picked organization: a technician asks for one on a device (with a reason; it opens once
// an approver approves it on the Approvals page), opens an approved one, and sees their requests; approvers and
// admins see every request and can revoke an approved one; auditors and admins play the recordings back.
import { get, post } from '../lib/api.js';
import { el, replace, time } from '../lib/dom.js';

export function terminalsView(main, ctx) {
  const org = ctx.org;
  const error = el('p', { role: 'alert', class: 'error' });
  const requests = el('tbody');
  const recordings = el('tbody');
  const status = el('p', { role: 'status' });
  const canAsk = ctx.hasRole('technician') || ctx.hasRole('admin');
  const canRecordings = ctx.hasRole('auditor') || ctx.hasRole('admin');
  const device = el('select', { id: 'terminal-device', required: true });
  const reason = el('textarea', { id: 'terminal-reason', rows: 2, maxLength: 500, required: true });
  const minutes = el('input', { id: 'terminal-minutes', type: 'number', min: 1, max: 1440, value: 30 });

  const ask = el(
    'form',
    {
      class: 'card terminal-ask',
      onsubmit: async (e) => {
        e.preventDefault();
        replace(status, 'Asking…');
        try {
          const t = await post(`/v1/devices/${device.value}/terminals`, { reason: reason.value.trim(), windowSeconds: Number(minutes.value) * 60 });
          replace(status, `Asked for a terminal on ${t.device}: an approver of ${org.name} must approve it (T${t.tier}).`);
          reason.value = '';
          await refresh();
        } catch (err) {
          replace(status, `Not asked: ${err.message}`);
        }
      },
    },
    el('h2', {}, 'Ask for a terminal'),
    el('label', { for: 'terminal-device' }, 'Device'),
    device,
    el('label', { for: 'terminal-reason' }, 'Reason (the approver sees it)'),
    reason,
    el('label', { for: 'terminal-minutes' }, 'Minutes it may stay open once approved'),
    minutes,
    el('div', { class: 'buttons' }, el('button', { type: 'submit', class: 'primary' }, 'Ask for a terminal')),
    status,
  );

  main.append(
    el('h1', {}, `Terminals — ${org.name}`),
    el('p', { class: 'muted' }, 'A shell on an endpoint, opened only with an approval, closed by the kill switch, and recorded for the auditors.'),
    error,
    canAsk ? ask : null,
    el(
      'section',
      { 'aria-labelledby': 'requests-h' },
      el('h2', { id: 'requests-h' }, 'Requests'),
      el('table', { class: 'terminals' }, el('thead', {}, el('tr', {}, ['Asked', 'Device', 'By', 'Reason', 'State', ''].map((h) => el('th', { scope: 'col' }, h)))), requests),
    ),
    canRecordings
      ? el(
          'section',
          { 'aria-labelledby': 'recordings-h' },
          el('h2', { id: 'recordings-h' }, 'Recordings'),
          el('table', { class: 'recordings' }, el('thead', {}, el('tr', {}, ['Opened', 'Device', 'By', 'Closed', 'Size', 'SHA-256', ''].map((h) => el('th', { scope: 'col' }, h)))), recordings),
        )
      : null,
  );

  const state = (t) => {
    if (t.status === 'approved' && t.windowEndsAt) return ['approved until ', time(t.windowEndsAt)];
    if (t.status === 'pending') return 'waiting for an approver';
    return `${t.status}${t.endReason && t.endReason !== t.status ? ` (${t.endReason})` : ''}`;
  };

  const actions = (t) => {
    const live = t.status === 'approved' && t.windowEndsAt && new Date(t.windowEndsAt) > new Date();
    return [
      live && t.requestedBy === ctx.user.id ? el('a', { href: `#/terminals/${t.id}`, class: 'button primary' }, 'Open terminal') : null,
      live && (ctx.hasRole('approver') || ctx.hasRole('admin') || t.requestedBy === ctx.user.id)
        ? el(
            'button',
            {
              type: 'button',
              class: 'reject',
              onclick: async () => {
                if (!confirm(`Revoke the terminal on ${t.device}? Its open terminals close at once.`)) return;
                try {
                  await post(`/v1/terminals/${t.id}/revoke`, {});
                } catch (err) {
                  replace(error, err.message);
                }
                await refresh();
              },
            },
            'Revoke',
          )
        : null,
    ];
  };

  async function refresh() {
    try {
      const [list, devices, recs] = await Promise.all([
        get(`/v1/terminals?org=${encodeURIComponent(org.slug)}`),
        canAsk && device.options.length === 0 ? get(`/v1/devices?org=${encodeURIComponent(org.slug)}`) : null,
        canRecordings ? get(`/v1/terminal-recordings?org=${encodeURIComponent(org.slug)}`) : null,
      ]);
      replace(error);
      if (devices) replace(device, devices.devices.map((d) => el('option', { value: d.id }, `${d.name}${d.online ? '' : ' (offline)'}`)));
      replace(
        requests,
        list.terminals.map((t) =>
          el('tr', { 'data-terminal': t.id }, el('td', {}, time(t.createdAt)), el('th', { scope: 'row' }, t.device), el('td', {}, t.requestedByEmail ?? t.requestedBy), el('td', {}, t.reason), el('td', {}, state(t)), el('td', {}, actions(t))),
        ),
      );
      if (recs) {
        replace(
          recordings,
          recs.recordings.map((r) =>
            el(
              'tr',
              { 'data-recording': r.id },
              el('td', {}, time(r.openedAt)),
              el('th', { scope: 'row' }, r.device),
              el('td', {}, r.user),
              el('td', {}, r.closedAt ? [time(r.closedAt), ` (${r.closeReason})`] : 'open'),
              el('td', {}, `${Math.ceil(r.castBytes / 1024)} KiB`),
              el('td', {}, el('code', { title: r.sha256 ?? '' }, r.sha256 ? r.sha256.slice(0, 12) : '—')),
              el('td', {}, r.closedAt ? el('a', { href: `#/recordings/${r.id}`, class: 'button' }, 'Play') : null),
            ),
          ),
        );
      }
    } catch (err) {
      replace(error, err.message);
    }
  }
  void refresh();
  const timer = setInterval(refresh, 5000);
  return () => clearInterval(timer);
}
