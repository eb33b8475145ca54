// The fleet of the picked organization: devices (online, last seen, site, group), spend against the budgets, the
// kill switch and sessions whose breaker tripped; admins can pause and resume the copilot.
import { get, post } from '../lib/api.js';
import { el, progressBar, replace, time, usd } from '../lib/dom.js';

export function fleetView(main, ctx) {
  const org = ctx.org;
  const state = el('section', { 'aria-labelledby': 'state-h', class: 'card' });
  const spend = el('section', { 'aria-labelledby': 'spend-h', class: 'card' });
  const rows = el('tbody');
  const counts = el('p', { class: 'muted' });
  const error = el('p', { role: 'alert', class: 'error' });
  main.append(
    el('h1', {}, `Fleet — ${org.name}`),
    error,
    el('div', { class: 'fleet-top' }, state, spend),
    el(
      'section',
      { 'aria-labelledby': 'devices-h' },
      el('h2', { id: 'devices-h' }, 'Devices'),
      counts,
      el('table', { class: 'devices' }, el('thead', {}, el('tr', {}, ['Device', 'State', 'Last seen', 'Site', 'Group', 'OS'].map((h) => el('th', { scope: 'col' }, h)))), rows),
    ),
  );

  async function killSwitch(pause) {
    const question = pause
      ? `Pause the copilot for ${org.name}? Every running session stops calling tools at once, and no new session starts.`
      : `Resume the copilot for ${org.name}?`;
    if (!confirm(question)) return;
    try {
      await post(`/v1/orgs/${org.id}/copilot/${pause ? 'pause' : 'resume'}`);
      await refresh();
    } catch (err) {
      replace(error, err.message);
    }
  }

  async function refresh() {
    try {
      const [devices, usage, status] = await Promise.all([get(`/v1/devices?org=${encodeURIComponent(org.slug)}`), get(`/v1/orgs/${org.id}/usage`), get(`/v1/orgs/${org.id}/status`)]);
      replace(error);
      replace(
        state,
        el('h2', { id: 'state-h' }, 'Copilot'),
        status.paused
          ? el('p', { class: 'badge danger' }, `Paused by ${status.pausedBy ?? 'an admin'} `, time(status.pausedAt))
          : el('p', { class: 'badge ok' }, 'Running: sessions may call tools'),
        ctx.hasRole('admin')
          ? el('button', { type: 'button', class: status.paused ? 'primary' : 'reject', onclick: () => killSwitch(!status.paused) }, status.paused ? 'Resume the copilot' : 'Kill switch: pause the copilot')
          : null,
        el('h3', {}, 'Circuit breakers'),
        status.trippedBreakers.length
          ? el('ul', {}, status.trippedBreakers.map((b) => el('li', {}, el('a', { href: `#/sessions/${b.sessionId}` }, `Session ${b.sessionId.slice(0, 8)}`), ' tripped ', time(b.trippedAt))))
          : el('p', {}, 'No session has a tripped breaker.'),
      );
      const pct = (p) => (p.limitUsd ? Math.min(100, Math.round(((p.spentUsd + p.reservedUsd) / p.limitUsd) * 100)) : 0);
      replace(
        spend,
        el('h2', { id: 'spend-h' }, 'Spend'),
        el('p', {}, 'Today (UTC)'),
        progressBar(pct(usage.today), 'Spent today of the daily budget', `${usd(usage.today.spentUsd)} of ${usd(usage.today.limitUsd)} (${usd(usage.today.remainingUsd)} left)`),
        el('p', {}, 'This month'),
        progressBar(pct(usage.month), 'Spent this month of the monthly budget', `${usd(usage.month.spentUsd)} of ${usd(usage.month.limitUsd)} (${usd(usage.month.remainingUsd)} left)`),
        el('p', { class: 'muted' }, `Hourly ceiling ${usd(usage.hourlyCeilingUsd)}${usage.customBudget ? '' : ' · default budgets'}`),
      );
      const online = devices.devices.filter((d) => d.online).length;
      replace(counts, `${devices.devices.length} devices, ${online} online`);
      replace(
        rows,
        devices.devices.map((d) =>
          el(
            'tr',
            {},
            el('th', { scope: 'row' }, d.name),
            el('td', {}, el('span', { class: `dot ${d.online ? 'online' : 'offline'}`, 'aria-hidden': 'true' }), d.online ? 'online' : 'offline'),
            el('td', {}, time(d.lastSeenAt)),
            el('td', {}, d.site),
            el('td', {}, d.group ?? '—'),
            el('td', {}, d.os),
          ),
        ),
      );
    } catch (err) {
      replace(error, err.message);
    }
  }
  void refresh();
  const timer = setInterval(refresh, 10_000);
  return () => clearInterval(timer);
}
