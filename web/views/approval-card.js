// One approval as an approver sees it, with the decision form: approve, or reject with a reason; a T4 call needs
// the typed confirmation phrase. The decision carries the digest of exactly what is shown here, so the exact call
// is shown whole and unfolded above the buttons: the summary may elide the middle of a long argument, and nobody
// should approve what they were not shown. Approving a T4 call (and a T3 one where the org asks) is signed with the
// approver's passkey: the server hands out a challenge derived from this approval's digest, the authenticator signs
// it, and the assertion goes with the decision. A T3 call (never T4) may be approved as a standing approval: this
// exact action on these devices, allowed for N days without asking again (standing-offer.js shows what it covers).
import { startAuthentication } from '/vendor/simplewebauthn/index.js';
import { post } from '../lib/api.js';
import { el, replace, time } from '../lib/dom.js';
import { standingOffer } from './standing-offer.js';

let formCount = 0;

export function approvalCard(approval, { onDecided, showSession = true, canWhatIf = false } = {}) {
  const n = ++formCount;
  const t4 = approval.tier >= 4;
  const status = el('p', { role: 'status', class: 'decision-status' });
  const reason = el('textarea', { id: `reason-${n}`, rows: 2, maxLength: 500 });
  const phrase = t4 ? el('input', { id: `confirm-${n}`, autocomplete: 'off', maxLength: 200 }) : null;
  const buttons = [
    el('button', { type: 'submit', class: 'approve', value: 'approve' }, 'Approve'),
    el('button', { type: 'submit', class: 'reject', value: 'reject' }, 'Reject'),
  ];
  const devices = (approval.targets ?? []).map((t) => t.name ?? t.id ?? String(t));
  const standing = approval.tier === 3 ? standingOffer(approval, devices, n, { canWhatIf }) : null;

  const decide = async (decision) => {
    if (decision === 'reject' && !reason.value.trim()) {
      replace(status, 'Give a reason for the rejection: the technician and the copilot see it.');
      reason.focus();
      return;
    }
    if (decision === 'approve' && standing?.invalid()) {
      replace(status, 'A standing approval lasts 1 to 30 days: pick a whole number of days.');
      return;
    }
    for (const b of buttons) b.disabled = true;
    replace(status, decision === 'approve' ? (approval.passkeyRequired ? 'Confirm with your passkey…' : 'Approving…') : 'Rejecting…');
    try {
      let passkey;
      if (decision === 'approve' && approval.passkeyRequired) {
        const optionsJSON = await post(`/v1/approvals/${approval.id}/passkey-options`, {});
        passkey = await startAuthentication({ optionsJSON });
        replace(status, 'Approving…');
      }
      const decided = await post(`/v1/approvals/${approval.id}/decision`, {
        decision,
        digest: approval.digest,
        ...(reason.value.trim() ? { reason: reason.value.trim() } : {}),
        ...(phrase && decision === 'approve' ? { confirmation: phrase.value } : {}),
        ...(passkey ? { passkey } : {}),
        ...(decision === 'approve' && standing?.days() ? { standing: { days: standing.days() } } : {}),
      });
      const days = decision === 'approve' ? standing?.days() : null;
      replace(status, decided.status === 'approved' ? (days ? `Approved, and allowed for ${days} day(s): see the Policy page.` : 'Approved.') : 'Rejected.');
      form.remove();
      onDecided?.(decided);
    } catch (err) {
      replace(status, `Not decided: ${err.message}`);
      for (const b of buttons) b.disabled = false;
    }
  };

  const form = el(
    'form',
    {
      class: 'decision',
      onsubmit: (e) => {
        e.preventDefault();
        void decide(e.submitter?.value === 'reject' ? 'reject' : 'approve');
      },
    },
    el('label', { for: `reason-${n}` }, 'Reason (required to reject)'),
    reason,
    t4 ? [el('label', { for: `confirm-${n}` }, 'Type ', el('code', {}, approval.confirmationPhrase ?? ''), ' to approve'), phrase] : null,
    approval.passkeyRequired ? el('p', { class: 'muted' }, 'Approving asks for your passkey: it signs this exact call.') : null,
    standing?.node,
    el('div', { class: 'buttons' }, buttons),
  );

  return el(
    'article',
    { class: `card approval tier-${approval.tier}`, 'aria-label': `Approval T${approval.tier}: ${approval.summary}`, 'data-approval': approval.id },
    el('h3', {}, el('span', { class: `tier t${approval.tier}` }, `T${approval.tier}`), ' ', approval.tool),
    el(
      'dl',
      {},
      el('dt', {}, 'What'),
      el('dd', {}, approval.summary),
      el('dt', {}, 'Asked by'),
      el('dd', {}, approval.requestedByEmail ?? approval.requestedBy ?? '—'),
      el('dt', {}, 'Devices'),
      el('dd', {}, devices.length > 12 ? `${devices.slice(0, 12).join(', ')} and ${devices.length - 12} more (${devices.length})` : devices.join(', ')),
      el('dt', {}, 'Expires'),
      el('dd', {}, approval.expiresAt ? time(approval.expiresAt) : '—'),
      // A terminal request is not a copilot session: its reason and window are in the summary above.
      showSession && approval.sessionId && approval.tool !== 'open_terminal' ? [el('dt', {}, 'Session'), el('dd', {}, el('a', { href: `#/sessions/${approval.sessionId}` }, 'Open the session'))] : null,
    ),
    el(
      'section',
      { class: 'exact-call', 'aria-label': 'The exact call' },
      el('h4', {}, 'The exact call'),
      el('pre', {}, JSON.stringify({ tool: approval.tool, input: approval.input }, null, 2)),
      el('p', { class: 'muted' }, 'Digest ', el('code', {}, approval.digest)),
    ),
    approval.status === 'pending' ? form : el('p', {}, `This approval is ${approval.status}.`),
    status,
  );
}
