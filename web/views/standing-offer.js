// The standing-approval choice in a T3 approval card: "approve and allow this exact action on these devices for N
// days". It shows exactly what it would allow — the tool, its action, the other parameters as the call has them and
// the devices by name — because an approver must never grant more than they saw. The server builds the rule from
// the approval itself, not from anything this form sends but the number of days.
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

export function standingOffer(approval, names, n) {
  const what = exactAction(approval);
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
  );
  /** The days to allow, when chosen (and valid); null otherwise. */
  const chosen = () => {
    const d = Number(days.value);
    return check.checked && Number.isInteger(d) && d >= 1 && d <= 30 ? d : null;
  };
  return { node, days: chosen, invalid: () => check.checked && chosen() === null };
}
