// One remediation: a progress bar and a per-device table, updated live (progress pushed over Socket.IO, the table
// read back from GET /v1/remediations/:id); pause, resume and cancel. With a canary: its stage, and after a failed
// canary the approver's three choices (continue, cancel, roll back when the action has an undo), with a reason.
// Continuing takes what approving the call took: for T4 the typed phrase, and where the approval needed a passkey
// the approver's passkey, over a challenge the server derives from the remediation's approval.
import { startAuthentication } from '/vendor/simplewebauthn/index.js';
import { get, post } from '../lib/api.js';
import { el, progressBar, replace } from '../lib/dom.js';
import { SessionEventType } from '../lib/events.js';
import { watchSession } from '../lib/live.js';

const OVER = new Set(['finished', 'cancelled']);

export function remediationView(main, ctx, [id]) {
  const summary = el('div', { class: 'remediation-summary', 'aria-live': 'polite' });
  const controls = el('div', { class: 'buttons' });
  const error = el('p', { role: 'alert', class: 'error' });
  const rows = el('tbody');
  const canaryBox = el('section', { class: 'canary', 'aria-label': 'Canary' });
  const back = el('p');
  const canSteer = ['technician', 'approver', 'admin'].some((r) => ctx.hasRole(r));
  main.append(
    el('h1', {}, 'Remediation'),
    back,
    summary,
    canaryBox,
    controls,
    error,
    el('table', { class: 'devices' }, el('caption', {}, 'Devices'), el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Device'), el('th', { scope: 'col' }, 'Status'))), rows),
  );

  const rowOf = new Map(); // device id -> status cell
  let view = null;
  let unwatch = null;

  function render(r) {
    view = r;
    if (!unwatch && r.sessionId) {
      replace(back, el('a', { href: `#/sessions/${r.sessionId}` }, '← Back to the session'));
      unwatch = watchSession(r.sessionId, (e) => {
        if (e.type !== SessionEventType.RemediationProgress || e.invocationId !== id || !e.progress) return;
        // The bar moves at once with the pushed counts; the table follows from the next read.
        const p = e.progress;
        renderSummary({ ...view, percent: p.total ? Math.round(((p.succeeded + p.failed) / p.total) * 100) : 100, succeeded: p.succeeded, failed: p.failed, total: p.total });
        soon();
      });
    }
    renderSummary(r);
    renderCanary(r);
    replace(
      controls,
      canSteer
        ? [
            el('button', { type: 'button', disabled: r.state !== 'running', onclick: () => steer('pause') }, 'Pause'),
            el('button', { type: 'button', disabled: r.state !== 'paused', onclick: () => steer('resume') }, 'Resume'),
            el('button', { type: 'button', class: 'reject', disabled: r.state === 'not_started' || OVER.has(r.state), onclick: () => steer('cancel') }, 'Cancel'),
          ]
        : null,
    );
    for (const d of r.devices ?? []) {
      let cell = rowOf.get(d.id);
      if (!cell) {
        cell = el('td');
        rowOf.set(d.id, cell);
        rows.append(el('tr', {}, el('th', { scope: 'row' }, d.name), cell));
      }
      if (cell.textContent !== d.status) (cell.textContent = d.status, (cell.className = `status ${d.status}`));
    }
  }

  function renderSummary(r) {
    if (r.state === 'not_started') return replace(summary, el('p', {}, 'Not started: it waits for its approval.'));
    const done = (r.succeeded ?? 0) + (r.failed ?? 0) + (r.skipped ?? 0) + (r.cancelled ?? 0);
    replace(
      summary,
      el('p', {}, el('strong', {}, `State: ${r.state}`)),
      progressBar(r.percent ?? 0, 'Remediation progress', `${r.percent ?? 0}% — ${done} of ${r.total ?? 0} devices done: ${r.succeeded ?? 0} succeeded, ${r.failed ?? 0} failed${r.running ? `, ${r.running} running` : ''}${r.skipped || r.cancelled ? `, ${(r.skipped ?? 0) + (r.cancelled ?? 0)} not started` : ''}`),
    );
  }

  const CANARY_STATE = { running: 'running first', verifying: 'being checked', passed: 'passed its check', failed: 'failed its check' };
  const CHOICE = { continue: 'Continue with the other devices', cancel: 'Cancel the rest', rollback: 'Roll back the canary' };

  let canaryShown = '';
  function renderCanary(r) {
    const c = r.canary;
    // Drawn again only when it changed: the reason being typed survives the poll.
    const key = JSON.stringify([r.state, c ?? null]);
    if (key === canaryShown) return;
    canaryShown = key;
    if (!c) return replace(canaryBox);
    const names = c.devices.map((d) => d.name).join(', ');
    const parts = [el('h2', {}, 'Canary'), el('p', { class: `canary-state ${c.state}` }, `${names}: ${CANARY_STATE[c.state] ?? c.state}`)];
    if (c.failures.length) parts.push(el('ul', { class: 'canary-failures' }, ...c.failures.map((f) => el('li', {}, `${f.device}: ${f.reason}`))));
    if (c.decision) parts.push(el('p', {}, `Decided: ${c.decision}`));
    if (r.state === 'canary-failed') {
      if (ctx.hasRole('approver') && c.choices.length) {
        const reason = el('input', { type: 'text', name: 'canary-reason', 'aria-label': 'Reason for the decision', placeholder: 'Why (recorded in the audit log)' });
        const needs = c.continueNeeds ?? { confirmationPhrase: null, passkey: false };
        const phrase = needs.confirmationPhrase ? el('input', { type: 'text', name: 'canary-confirmation', autocomplete: 'off', 'aria-label': 'Confirmation phrase to continue' }) : null;
        parts.push(
          el('p', {}, 'Nothing else runs until an approver decides.'),
          el('label', {}, 'Reason ', reason),
          phrase ? el('label', {}, 'To continue, type ', el('code', {}, needs.confirmationPhrase), ' ', phrase) : null,
          needs.passkey ? el('p', { class: 'muted' }, 'Continuing asks for your passkey, as approving it did.') : null,
          el('div', { class: 'buttons' }, ...c.choices.map((d) => el('button', { type: 'button', class: d === 'continue' ? '' : 'reject', 'data-decision': d, onclick: () => decide(d, reason.value, d === 'continue' ? { phrase: phrase?.value, passkey: needs.passkey } : {}) }, CHOICE[d]))),
        );
      } else parts.push(el('p', {}, 'Nothing else runs until an approver decides.'));
    }
    replace(canaryBox, ...parts);
  }

  async function decide(decision, reason, proof) {
    replace(error);
    if (!reason.trim()) return replace(error, 'Say why in the reason field first.');
    try {
      const path = `/v1/remediations/${encodeURIComponent(id)}/canary-decision`;
      const passkey = proof.passkey ? await startAuthentication({ optionsJSON: await post(`${path}/passkey-options`, {}) }) : undefined;
      await post(path, { decision, reason, ...(proof.phrase !== undefined ? { confirmation: proof.phrase } : {}), ...(passkey ? { passkey } : {}) });
      await load();
    } catch (err) {
      replace(error, err.message);
    }
  }

  async function steer(action) {
    if (action === 'cancel' && !confirm('Cancel the remediation? Devices already running finish; the others never start.')) return;
    replace(error);
    try {
      await post(`/v1/remediations/${encodeURIComponent(id)}/${action}`);
      await load();
    } catch (err) {
      replace(error, err.message);
    }
  }

  async function load() {
    try {
      render(await get(`/v1/remediations/${encodeURIComponent(id)}`));
    } catch (err) {
      replace(error, err.message);
    }
  }
  let pending = null;
  const soon = () => {
    clearTimeout(pending);
    pending = setTimeout(load, 250);
  };
  // Pushed events are the fast path; a slow poll catches anything missed (a reconnect, a state change).
  const poll = setInterval(() => {
    if (!view || !OVER.has(view.state)) void load();
  }, 2000);
  void load();
  return () => {
    unwatch?.();
    clearInterval(poll);
    clearTimeout(pending);
  };
}
