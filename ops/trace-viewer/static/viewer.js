/*
 * A small trace viewer over Jaeger's query API (/api/services, /api/traces), served by Jaeger itself in place of
 * its own UI, which cannot be built on a machine without GitHub (see docs/observability.md). Two views:
 *   /                 recent traces of a service, newest first
 *   /trace/<traceID>  one trace as a waterfall: every span in call order under its parent, on one time axis
 * Everything shown is put in with textContent: span names and tags are data, never markup.
 */
'use strict';

const main = document.getElementById('main');
const MESSAGE_ROUTE = 'POST /v1/sessions/:id/messages';
const palette = ['#2f6fdf', '#1f9d74', '#c25a0e', '#8a3ffc', '#c21a5a', '#00819c', '#6d7a0a'];
const colors = new Map();
const colorOf = (service) => {
  if (!colors.has(service)) colors.set(service, palette[colors.size % palette.length]);
  return colors.get(service);
};

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'style') Object.assign(node.style, value);
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children.flat()) if (child != null) node.append(child instanceof Node ? child : String(child));
  return node;
}

const chip = (service) => el('span', { class: 'chip', style: { background: colorOf(service) } }, service);
const ms = (micros) => `${(micros / 1000).toFixed(micros < 10_000 ? 2 : 0)} ms`;
const when = (micros) => new Date(micros / 1000).toLocaleString();

async function api(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(body?.errors?.[0]?.msg ?? `Jaeger answered ${res.status} for ${path}`);
  return body;
}

function show(...nodes) {
  main.replaceChildren(...nodes);
}

function failed(err) {
  show(el('p', { class: 'error', role: 'alert' }, err.message));
}

/** A trace's spans with their service, parent and depth, in call order (each parent before its children, by start). */
function arrange(trace) {
  const spans = trace.spans.map((s) => ({
    ...s,
    service: trace.processes[s.processID]?.serviceName ?? '?',
    parent: s.references.find((r) => r.refType === 'CHILD_OF' && r.traceID === s.traceID)?.spanID,
  }));
  const ids = new Set(spans.map((s) => s.spanID));
  const children = new Map();
  for (const s of spans) {
    const parent = s.parent && ids.has(s.parent) ? s.parent : '';
    if (!children.has(parent)) children.set(parent, []);
    children.get(parent).push(s);
  }
  const ordered = [];
  const visit = (parent, depth) => {
    for (const s of (children.get(parent) ?? []).sort((a, b) => a.startTime - b.startTime)) {
      ordered.push({ ...s, depth });
      visit(s.spanID, depth + 1);
    }
  };
  visit('', 0);
  return ordered;
}

const failedSpan = (s) => s.tags.some((t) => (t.key === 'error' && t.value === true) || (t.key === 'otel.status_code' && t.value === 'ERROR'));

async function searchView(params) {
  const services = ((await api('/api/services')).data ?? []).filter((s) => !s.startsWith('jaeger')).sort();
  const service = params.get('service') ?? services.find((s) => s === 'gatehouse-api') ?? services[0];
  const lookback = params.get('lookback') ?? '1h';
  // A copilot question is a message's trace; the console's and the CLI's polling would bury it, so that is the
  // first view when the api has one. "(every operation)" lists them all.
  const operations = service ? (((await api(`/api/services/${encodeURIComponent(service)}/operations`)).data ?? []).sort()) : [];
  const operation = params.has('operation') ? params.get('operation') : operations.find((o) => o === MESSAGE_ROUTE) ?? '';
  const form = el(
    'form',
    { class: 'search', method: 'get', action: '/search' },
    el('label', {}, 'Service', el('select', { name: 'service' }, services.map((s) => el('option', s === service ? { value: s, selected: '' } : { value: s }, s)))),
    el('label', {}, 'Operation', el('select', { name: 'operation' }, ['', ...operations].map((o) => el('option', o === operation ? { value: o, selected: '' } : { value: o }, o || '(every operation)')))),
    el('label', {}, 'Lookback', el('select', { name: 'lookback' }, ['15m', '1h', '6h', '24h'].map((l) => el('option', l === lookback ? { value: l, selected: '' } : { value: l }, l)))),
    el('button', {}, 'Find traces'),
  );
  if (!service) return show(form, el('p', { class: 'empty' }, 'No service has sent a span yet. Ask Gatehouse something, then reload.'));
  const query = new URLSearchParams({ service, lookback, limit: '50' });
  if (operation) query.set('operation', operation);
  const traces = ((await api(`/api/traces?${query}`)).data ?? []).map(arrange).filter((spans) => spans.length > 0);
  traces.sort((a, b) => b[0].startTime - a[0].startTime);
  const rows = traces.map((spans) => {
    const root = spans[0];
    const end = Math.max(...spans.map((s) => s.startTime + s.duration));
    const services = [...new Set(spans.map((s) => s.service))];
    return el(
      'tr',
      {},
      el('td', {}, when(root.startTime)),
      el('td', {}, el('a', { href: `/trace/${root.traceID}` }, `${root.service}: ${root.operationName}`)),
      el('td', {}, ms(end - root.startTime)),
      el('td', {}, String(spans.length), spans.some(failedSpan) ? el('span', { class: 'error' }, ' error') : null),
      el('td', {}, services.map(chip)),
    );
  });
  show(
    form,
    rows.length === 0
      ? el('p', { class: 'empty' }, `No trace of ${service}${operation ? ` ${operation}` : ''} in the last ${lookback}.`)
      : el('table', {}, el('thead', {}, el('tr', {}, ['Started', 'Root span', 'Duration', 'Spans', 'Services'].map((h) => el('th', {}, h)))), el('tbody', {}, rows)),
  );
}

async function traceView(traceId) {
  const trace = (await api(`/api/traces/${encodeURIComponent(traceId)}`)).data?.[0];
  if (!trace) throw new Error(`Jaeger holds no trace ${traceId} (it keeps traces in memory until it restarts).`);
  const spans = arrange(trace);
  document.title = `${spans[0].operationName} · Gatehouse traces`;
  const start = Math.min(...spans.map((s) => s.startTime));
  const total = Math.max(1, Math.max(...spans.map((s) => s.startTime + s.duration)) - start);
  const services = [...new Set(spans.map((s) => s.service))];
  const rows = spans.map((s) => {
    const row = el(
      'div',
      { class: 'row', role: 'row', 'data-span': s.spanID, 'data-service': s.service },
      el('div', { class: 'name', style: { paddingLeft: `${0.4 + s.depth * 1.1}rem` }, title: `${s.service}: ${s.operationName}` }, el('span', { class: 'service', style: { color: colorOf(s.service) } }, s.service), el('span', { class: 'operation' }, s.operationName), failedSpan(s) ? el('span', { class: 'error' }, ' ✕') : null),
      el('div', { class: 'lane' }, el('div', { class: 'bar', style: { left: `${((s.startTime - start) / total) * 100}%`, width: `${(s.duration / total) * 100}%`, background: colorOf(s.service) } })),
      el('div', { class: 'ms' }, ms(s.duration)),
    );
    row.addEventListener('click', () => {
      const open = row.nextSibling?.classList?.contains('details');
      if (open) return row.nextSibling.remove(), row.classList.remove('open');
      row.classList.add('open');
      const tags = [...s.tags, ...(trace.processes[s.processID]?.tags ?? []).map((t) => ({ ...t, key: `process: ${t.key}` }))];
      row.after(el('div', { class: 'details' }, el('table', {}, el('tbody', {}, el('tr', {}, el('td', {}, 'span id'), el('td', {}, s.spanID)), el('tr', {}, el('td', {}, 'starts at'), el('td', {}, `+${ms(s.startTime - start)}`)), tags.map((t) => el('tr', {}, el('td', {}, t.key), el('td', {}, String(t.value))))))));
    });
    return row;
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => el('span', {}, ms(total * f)));
  show(
    el(
      'div',
      { class: 'summary' },
      el('div', {}, el('span', {}, 'Trace'), el('code', { id: 'trace-id' }, trace.traceID)),
      el('div', {}, el('span', {}, 'Started'), when(start)),
      el('div', {}, el('span', {}, 'Duration'), ms(total)),
      el('div', {}, el('span', {}, 'Spans'), String(spans.length)),
      el('div', {}, el('span', {}, 'Services'), services.map(chip)),
      el('div', {}, el('span', {}, 'As JSON'), el('a', { href: `/api/traces/${trace.traceID}` }, 'download')),
    ),
    el('div', { class: 'waterfall', role: 'table', 'aria-label': 'spans' }, el('div', { class: 'ruler' }, el('span', {}, 'Service and operation'), el('div', { class: 'ticks' }, ticks), el('span', {})), rows),
  );
}

function route() {
  const match = /^\/trace\/([0-9a-fA-F]{1,32})\/?$/.exec(location.pathname);
  const view = match ? traceView(match[1]) : searchView(new URLSearchParams(location.search));
  view.catch(failed);
}

document.getElementById('lookup').addEventListener('submit', (event) => {
  event.preventDefault();
  location.assign(`/trace/${new FormData(event.target).get('trace').trim()}`);
});
route();
