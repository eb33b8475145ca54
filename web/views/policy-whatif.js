// The answer of POST /v1/orgs/:id/policy/what-if, as an admin reads it before adopting a draft: how many recorded
// calls it replayed, how many it would have decided otherwise (stricter or looser), what that does to approvers
// (approvals added and removed, per approver and per day, and their time), how many approvals standing approvals
// saved, and each changed call with a link to its session's audit timeline.
import { el } from '../lib/dom.js';

const OUTCOME = { allowed: 'runs', approval: 'needs an approval', denied: 'denied', expired: 'approval expires before the decision' };
const RANK = { allowed: 0, approval: 1, expired: 2, denied: 2 };

/** +1 when the draft is stricter for this call, -1 when looser (by tier, then by outcome). */
function direction(c) {
  const dt = (c.after.tier ?? 0) - (c.before.tier ?? 0);
  if (dt) return Math.sign(dt);
  return Math.sign((RANK[c.after.outcome] ?? 0) - (RANK[c.before.outcome] ?? 0));
}

const decided = (d) => el('span', {}, d.tier ? el('span', { class: `tier t${d.tier}` }, `T${d.tier}`) : null, ' ', OUTCOME[d.outcome] ?? d.outcome);

function duration(seconds) {
  const s = Math.round(Number(seconds) || 0);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 360) / 10} h`;
}

export function whatIfResult(w) {
  const stricter = w.changed.filter((c) => direction(c) > 0).length;
  const looser = w.changed.filter((c) => direction(c) < 0).length;
  const a = w.approvals;
  const t = w.approverTime ?? {};
  return [
    el('h2', { id: 'whatif-h' }, 'What if this draft had been in force'),
    el(
      'ul',
      { class: 'whatif-summary' },
      el('li', {}, `${w.callsConsidered} recorded call(s) in ${w.sessionsConsidered} session(s) replayed, from `, el('time', { datetime: w.window.from }, new Date(w.window.from).toLocaleDateString()), ' to ', el('time', { datetime: w.window.to }, new Date(w.window.to).toLocaleDateString()), '.'),
      w.callsSkipped ? el('li', {}, `${w.callsSkipped} call(s) could not be replayed (recorded before the policy's inputs were kept, or denied before the policy looked at them).`) : null,
      el('li', { 'data-summary': 'changed' }, `${w.changedTotal ?? w.changed.length} call(s) would be decided otherwise: ${stricter} stricter, ${looser} looser${w.changedTotal > w.changed.length ? ` among the ${w.changed.length} listed` : ''}.`),
      el('li', { 'data-summary': 'approvals' }, `Approvals: ${a.added} more, ${a.removed} fewer${a.expired ? `; ${a.expired} would have expired before their decision (the call would not have run)` : ''}.`),
      el('li', {}, `Approver time: ${duration(t.addedSeconds)} more, ${duration(t.removedSeconds)} less${t.medianDecisionSeconds === null || t.medianDecisionSeconds === undefined ? '' : ` (a decision takes ${duration(t.medianDecisionSeconds)} at the median)`}.`),
      el('li', { 'data-summary': 'standing' }, `Standing approvals proposed with it would have saved ${w.standingApprovalsSaved} approval(s).`),
    ),
    a.perApprover?.length
      ? el(
          'table',
          { class: 'policy-small' },
          el('caption', {}, 'Approvals per approver'),
          el('thead', {}, el('tr', {}, ['Approver', 'More', 'Fewer'].map((h) => el('th', { scope: 'col' }, h)))),
          el('tbody', {}, a.perApprover.map((p) => el('tr', {}, el('th', { scope: 'row' }, p.approver ?? 'nobody yet'), el('td', {}, String(p.added)), el('td', {}, String(p.removed))))),
        )
      : null,
    a.perDay?.length
      ? el(
          'table',
          { class: 'policy-small' },
          el('caption', {}, 'Approvals per day'),
          el('thead', {}, el('tr', {}, ['Day', 'More', 'Fewer'].map((h) => el('th', { scope: 'col' }, h)))),
          el('tbody', {}, a.perDay.map((d) => el('tr', {}, el('th', { scope: 'row' }, d.day), el('td', {}, String(d.added)), el('td', {}, String(d.removed))))),
        )
      : null,
    el(
      'table',
      { class: 'whatif-changed' },
      el('caption', {}, w.changed.length ? 'The calls it would decide otherwise' : 'No recorded call would be decided otherwise.'),
      el('thead', {}, el('tr', {}, ['When', 'Call', 'Devices', 'Was', 'Would be', 'Why', 'Session'].map((h) => el('th', { scope: 'col' }, h)))),
      el(
        'tbody',
        {},
        w.changed.map((c) =>
          el(
            'tr',
            { 'data-call': c.toolCallId, class: direction(c) > 0 ? 'stricter' : 'looser' },
            el('td', {}, el('time', { datetime: c.at }, new Date(c.at).toLocaleString())),
            el('td', {}, c.action ? `${c.tool}:${c.action}` : c.tool),
            el('td', {}, (c.devices ?? []).join(', ') || '—'),
            el('td', {}, decided(c.before)),
            el('td', {}, decided(c.after)),
            el('td', { class: 'whatif-why' }, c.why ?? ''),
            el('td', {}, el('a', { href: `#/sessions/${c.sessionId}/timeline` }, `Timeline of session ${c.sessionId.slice(0, 8)}`)),
          ),
        ),
      ),
    ),
  ];
}
