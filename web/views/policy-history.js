// The policy's version history, newest first: who made each version, when, why and how (an edit, a roll back, a
// standing approval granted or revoked). Opening a version reads its diff from the one before; an admin may roll
// back to it, with a reason (which makes a new version: history is never rewritten).
import { get, post } from '../lib/api.js';
import { el, replace, time } from '../lib/dom.js';

const KIND = { initial: 'first version', edit: 'edit', rollback: 'roll back', 'standing-approval': 'standing approval granted', 'standing-revoke': 'standing approval revoked' };

const shown = (v) => (v === undefined || v === null ? '—' : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** One diff entry (a path into the document, before, after) in words: tiers as T1..T4, absent as the default. */
function readable({ path, before, after }) {
  const [head, ...rest] = path.split('.');
  const key = rest.join('.');
  const orDefault = (v, f) => (v === null || v === undefined ? 'default' : f(v));
  if (head === 'overrides') return [`Tier of ${key.replace(/:\*$/, '')}`, orDefault(before, (t) => `T${t}`), orDefault(after, (t) => `T${t}`)];
  if (head === 'approvalTtlSeconds') return [`${key.toUpperCase()} approval expires after`, `${shown(before)} s`, `${shown(after)} s`];
  if (head === 'blastRadiusThreshold') return ['Blast radius: more devices than this raise a tier', shown(before), shown(after)];
  if (head === 'rateLimits') return [`Rate limit ${key}`, orDefault(before, String), orDefault(after, String)];
  if (head === 'standing') {
    const rule = (r) => (r ? `${r.action ? `${r.tool}:${r.action}` : r.tool} until ${new Date(r.expiresAt).toLocaleString()}` : 'none');
    return ['Standing approval', rule(before), rule(after)];
  }
  return [path, shown(before), shown(after)];
}

export function historySection(ctx, base, onChanged) {
  const list = el('div', { class: 'versions' });
  const error = el('p', { role: 'alert', class: 'error' });
  const mayRead = ctx.hasRole('admin') || ctx.hasRole('approver') || ctx.hasRole('auditor');
  const node = el('section', { 'aria-labelledby': 'history-h' }, el('h2', { id: 'history-h' }, 'Version history'), error, list);

  function diffOf(v, body, diff, currentNumber) {
    const status = el('p', { role: 'status', class: 'decision-status' });
    const reasonId = `rollback-reason-${v.number}`;
    const reason = el('textarea', { id: reasonId, rows: 2, maxLength: 500 });
    const rollback = async () => {
      if (!reason.value.trim()) {
        replace(status, 'Say why you roll back: the reason is kept with the new version.');
        reason.focus();
        return;
      }
      replace(status, 'Rolling back…');
      try {
        const done = await post(`${base}/rollback`, { toVersion: v.number, reason: reason.value.trim() });
        replace(status, `Rolled back: version ${done.version?.number ?? done.version ?? ''} restores version ${v.number}.`);
        onChanged();
      } catch (err) {
        replace(status, `Not rolled back: ${err.message}`);
      }
    };
    replace(
      body,
      diff.length
        ? el(
            'table',
            { class: 'policy-diff' },
            el('caption', {}, `What version ${v.number} changed`),
            el('thead', {}, el('tr', {}, ['Setting', 'Before', 'After'].map((h) => el('th', { scope: 'col' }, h)))),
            el(
              'tbody',
              {},
              diff.map((d) => {
                const [what, before, after] = readable(d);
                return el('tr', { 'data-path': d.path }, el('th', { scope: 'row' }, what), el('td', { class: 'before' }, before), el('td', { class: 'after' }, after));
              }),
            ),
          )
        : el('p', { class: 'muted' }, v.number === 0 ? 'The defaults every organization starts with.' : 'No setting changed.'),
      ctx.hasRole('admin') && v.number !== currentNumber
        ? el(
            'form',
            { class: 'rollback', onsubmit: (e) => (e.preventDefault(), void rollback()) },
            el('label', { for: reasonId }, `Why roll back to version ${v.number}`),
            reason,
            el('div', { class: 'buttons' }, el('button', { type: 'submit' }, 'Roll back to this version')),
          )
        : null,
      status,
    );
  }

  async function refresh(currentNumber) {
    try {
      const { versions } = await get(`${base}/versions`);
      replace(error);
      // Version 0 is not stored: it is the defaults, which an admin may roll back to like any version.
      if (!versions.some((v) => v.number === 0)) versions.push({ number: 0, kind: 'defaults', createdBy: null, createdAt: null, reason: '' });
      replace(
        list,
        versions.map((v) => {
          const body = el('div', {}, el('p', { class: 'muted' }, 'Reading the diff…'));
          const details = el(
            'details',
            { class: 'version card', 'data-version': v.number },
            el(
              'summary',
              {},
              `Version ${v.number}${v.number === currentNumber ? ' (in force)' : ''} — `,
              v.number === 0 ? 'the defaults' : [`${KIND[v.kind] ?? v.kind} by ${v.createdBy ?? 'Gatehouse'} `, time(v.createdAt), v.reason ? [': ', el('q', {}, v.reason)] : null],
            ),
            body,
          );
          let read = false;
          details.addEventListener('toggle', () => {
            if (!details.open || read) return;
            read = true;
            if (v.number === 0) return diffOf(v, body, [], currentNumber);
            // A version's document holds its standing approvals' calls: the API shows it to who decides or audits.
            if (!mayRead) return replace(body, el('p', { class: 'note' }, "A version's changes are shown to the admins, approvers and auditors of this organization."));
            get(`${base}/versions/${v.number}`).then(
              (full) => diffOf(v, body, full.diff ?? [], currentNumber),
              (err) => ((read = false), replace(body, el('p', { role: 'alert', class: 'error' }, err.message))),
            );
          });
          return details;
        }),
      );
    } catch (err) {
      replace(error, err.message);
    }
  }

  return { node, refresh };
}
