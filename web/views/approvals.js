// The approvals queue of the picked organization: pending approvals with their decision forms (refreshed every few
// seconds without disturbing a form being filled in), and the latest decisions. `#/approvals/<id>` (the link Slack
// gives for a call too long to show there) puts that approval first, whole, whatever organization is picked.
import { get } from '../lib/api.js';
import { append, el, replace, time } from '../lib/dom.js';
import { approvalCard } from './approval-card.js';

export function approvalsView(main, ctx, [focusId] = []) {
  const org = ctx.org;
  const focused = el('section', { 'aria-label': 'The approval you opened' });
  const list = el('div', { class: 'queue', 'aria-live': 'polite' });
  const empty = el('p', { class: 'muted' }, 'No approval is waiting.');
  const error = el('p', { role: 'alert', class: 'error' });
  const history = el('tbody');
  append(main, [
    el('h1', {}, `Approvals — ${org.name}`),
    ctx.hasRole('approver') ? null : el('p', { class: 'note' }, 'You are not an approver in this organization: nothing will show here.'),
    focused,
    el('section', { 'aria-labelledby': 'pending-h' }, el('h2', { id: 'pending-h' }, 'Waiting for a decision'), error, empty, list),
    el(
      'section',
      { 'aria-labelledby': 'decided-h' },
      el('h2', { id: 'decided-h' }, 'Decided lately'),
      el('table', {}, el('thead', {}, el('tr', {}, ['When', 'Tier', 'What', 'Decision', 'Reason'].map((h) => el('th', { scope: 'col' }, h)))), history),
    ),
  ]);

  // An org admin or auditor may replay the org's calls (what-if): the card offers "how many would it have saved?".
  const canWhatIf = ctx.hasRole('admin') || ctx.hasRole('auditor');
  const cards = new Map(); // approval id -> card element (kept, so a half-filled form survives a refresh)
  if (focusId) {
    get(`/v1/approvals/${focusId}`).then(
      (a) => {
        const card = approvalCard(a, { canWhatIf, onDecided: () => setTimeout(refresh, 500) });
        cards.get(a.id)?.remove();
        cards.set(a.id, card);
        replace(focused, card);
        card.scrollIntoView();
      },
      (err) => replace(focused, el('p', { role: 'alert', class: 'error' }, `That approval cannot be shown: ${err.message}`)),
    );
  }
  async function refresh() {
    try {
      const [pending, all] = await Promise.all([get('/v1/approvals?status=pending'), get('/v1/approvals?status=all')]);
      replace(error);
      const mine = pending.approvals.filter((a) => a.orgId === org.id);
      for (const a of mine) {
        if (!cards.has(a.id)) {
          const card = approvalCard(a, { canWhatIf, onDecided: () => setTimeout(refresh, 500) });
          cards.set(a.id, card);
          list.prepend(card);
        }
      }
      // Decided elsewhere: gone from the queue (a card decided here stays, showing its outcome).
      for (const [id, card] of cards) if (id !== focusId && !mine.some((a) => a.id === id) && card.querySelector('form')) (card.remove(), cards.delete(id));
      empty.hidden = cards.size > 0;
      const decided = all.approvals.filter((a) => a.orgId === org.id && a.status !== 'pending').slice(0, 20);
      replace(history, decided.map((a) => el('tr', {}, el('td', {}, time(a.decidedAt ?? a.createdAt)), el('td', {}, `T${a.tier}`), el('td', {}, a.summary), el('td', {}, `${a.status}${a.channel ? ` via ${a.channel}` : ''}`), el('td', {}, a.reason ?? ''))));
    } catch (err) {
      replace(error, err.message);
    }
  }
  void refresh();
  const timer = setInterval(refresh, 3000);
  return () => clearInterval(timer);
}
