// The standing-approval choice in a T3 approval card: "approve and allow this exact action on these devices for N
// days". It shows exactly what it would allow — the tool, its action, the other parameters as the call has them and
// the devices by name — because an approver must never grant more than they saw. The server builds the rule from
// the approval itself, not from anything this form sends but the number of days. Who may run a what-if (an org
// admin or auditor) can first ask how many approvals this rule would have saved over the last 30 days.
import { get, post } from '../lib/api.js';
import { el, replace } from '../lib/dom.js';

/**
 * The exact action of a call, as the server makes the rule of it: the tool, its action (for a tool whose actions
 * have tiers), the call's whole input as parameters (a later call must equal it, byte for byte, with the same
 * devices: the rule is the call's digest).
 */
export function exactAction(approval) {
  const input = approval.input && typeof approval.input === 'object' ? approval.input : {};
  return { tool: approval.tool, action: typeof input.action === 'string' ? input.action : null, params: input };
}

/** How many of the org's recorded approvals of the last 30 days this exact call, allowed, would have saved. */
async function savedBy(approval) {
  const current = await get(`/v1/orgs/${approval.orgId}/policy`);
  const devices = (approval.targets ?? []).map((t) => t.id ?? t);
  const overrides = current.overrides.map(({ tool, action, tier }) => ({ tool, action, tier }));
  return post(`/v1/orgs/${approval.orgId}/policy/what-if`, { policy: { overrides, standing: [{ tool: approval.tool, params: approval.input, devices }] }, windowDays: 30 });
}

export function standingOffer(approval, names, n, { canWhatIf = false } = {}) {
  const what = exactAction(approval);
  const saved = el('p', { role: 'status', class: 'decision-status' });
  const ask = async () => {
    replace(saved, 'Replaying the last 30 days…');
    try {
      const w = await savedBy(approval);
      replace(saved, `Over the last 30 days it would have saved ${w.standingApprovalsSaved} approval(s), this one included.`);
    } catch (err) {
      replace(saved, `No answer: ${err.message}`);
    }
  };
  const check = el('input', { type: 'checkbox', id: `standing-${n}`, class: 'inline' });
  const days = el('input', { type: 'number', id: `standing-days-${n}`, min: 1, max: 30, step: 1, value: 7, class: 'num', disabled: true });
  const until = el('span');
  const showUntil = () => replace(until, `${Number(days.value) || 0} day(s)`);
  check.addEventListener('change', () => {
    days.disabled = !check.checked;
    if (check.checked) days.focus();
  });
  days.addEventListener('input', showUntil);
  showUntil();
  const node = el(
    'fieldset',
    { class: 'standing-offer' },
    el('legend', {}, 'Standing approval'),
    el('div', { class: 'check' }, check, el('label', { for: `standing-${n}` }, 'Approve and allow this exact action on these devices for a number of days')),
    el('label', { for: `standing-days-${n}` }, 'Days (1 to 30)'),
    days,
    el(
      'dl',
      { class: 'standing-what', 'aria-label': 'What the standing approval allows' },
      el('dt', {}, 'Tool'),
      el('dd', {}, el('code', {}, what.tool)),
      el('dt', {}, 'Action'),
      el('dd', {}, what.action ? el('code', {}, what.action) : '—'),
      el('dt', {}, 'Parameters'),
      el('dd', {}, el('code', {}, JSON.stringify(what.params ?? {}))),
      el('dt', {}, 'Devices'),
      el('dd', {}, names.join(', ')),
      el('dt', {}, 'For'),
      el('dd', {}, until, ', then approvals are asked again. Any other action, parameter or device still asks.'),
    ),
    canWhatIf ? el('div', { class: 'buttons' }, el('button', { type: 'button', onclick: ask }, 'How many approvals would it have saved?')) : null,
    saved,
  );
  /** The days to allow, when chosen (and valid); null otherwise. */
  const chosen = () => {
    const d = Number(days.value);
    return check.checked && Number.isInteger(d) && d >= 1 && d <= 30 ? d : null;
  };
  return { node, days: chosen, invalid: () => check.checked && chosen() === null };
}
