// The org's policy: the version in force (who adopted it, when, why) as tables a person reads — tiers per tool and
// action beside their defaults, approval expiry, rate limits and the other guards — and, for admins, an edit mode:
// change tiers and numbers, ask "What if?" (which recorded calls this draft would have decided otherwise, and what
// it costs approvers), and adopt it with a reason. Below: standing approvals (revocable) and the version history
// with each version's diff and a roll back. Others see the same page read-only.
import { api, get, post } from '../lib/api.js';
import { el, replace, time } from '../lib/dom.js';
import { rowKey, rowLabel, setTier, sortedOverrides, tierIn, tierRows } from '../lib/policy-draft.js';
import { historySection } from './policy-history.js';
import { standingSection } from './policy-standing.js';
import { whatIfResult } from './policy-whatif.js';

/** common/default-policy.ts BLAST_RADIUS_THRESHOLD (the console cannot import it: no build step). */
const BLAST_RADIUS_DEFAULT = 10;
/** common/session.ts BREAKER_THRESHOLD: the breaker's default streak (longer needs the allowance, like lowering). */
const BREAKER_STREAK_DEFAULT = 3;

export function policyView(main, ctx) {
  const org = ctx.org;
  const admin = ctx.hasRole('admin');
  const base = `/v1/orgs/${org.id}/policy`;
  const current = el('section', { 'aria-labelledby': 'version-h', class: 'card' });
  const error = el('p', { role: 'alert', class: 'error' });
  const tables = el('div', { class: 'policy-tables' });
  const draftBar = el('div', { class: 'buttons' });
  const outcome = el('section', { 'aria-labelledby': 'whatif-h', 'aria-live': 'polite', class: 'whatif', hidden: true });
  const standing = standingSection(ctx, base, () => void load());
  const history = historySection(ctx, base, () => void load());
  main.append(el('h1', {}, `Policy — ${org.name}`), error, current, draftBar, tables, outcome, standing.node, history.node);

  /** What the page shows: the policy as GET answered it; while editing, the draft (overrides, numbers). */
  let policy = null;
  let draft = null;

  async function load() {
    try {
      policy = await get(base);
      replace(error);
      draft = null;
      render();
      standing.refresh();
      history.refresh(policy.version.number);
    } catch (err) {
      replace(error, err.message);
    }
  }

  function render() {
    const v = policy.version;
    replace(
      current,
      el('h2', { id: 'version-h' }, `Version ${v.number}`),
      // Version 0 is no saved version: the defaults every organization starts with.
      v.number === 0
        ? el('p', {}, 'The defaults: nobody has changed this organization\'s policy yet.')
        : el('p', {}, 'Adopted by ', v.createdBy ?? 'Gatehouse', ' ', time(v.createdAt), v.reason ? [': ', el('q', {}, v.reason)] : null),
      admin ? null : el('p', { class: 'note' }, 'Only an admin of this organization changes the policy.'),
    );
    replace(
      draftBar,
      admin && !draft ? el('button', { type: 'button', class: 'primary', onclick: startEditing }, 'Edit the policy') : null,
      draft ? el('p', { class: 'warning' }, 'Editing a draft: nothing changes until you adopt it.') : null,
    );
    const rows = tierRows(defaults(), draft ? draft.overrides : policy.overrides);
    replace(tables, tierTable(rows), expiryTable(), rateTable(), otherSettings(), draft ? draftActions() : null);
  }

  function startEditing() {
    draft = {
      overrides: policy.overrides.map(({ tool, action, tier }) => ({ tool, action, tier })),
      ttl: { ...policy.approvalTtlSeconds },
      blastRadius: policy.blastRadiusThreshold,
      breakerStreak: policy.breakerStreak,
      taint: policy.taint ? { ...policy.taint } : undefined,
      rates: { userMessagesPerMinute: policy.rateLimits.custom.userMessagesPerMinute, orgMessagesPerHour: policy.rateLimits.custom.orgMessagesPerHour, toolCallsPerUser: { ...policy.rateLimits.custom.toolCallsPerUser } },
      // The model budget in USD; all three empty is the deployment's defaults (budget null).
      budget: 'budget' in policy ? { ...(policy.budget ?? { dailyUsd: null, monthlyUsd: null, hourlyUsd: null }) } : undefined,
    };
    render();
    tables.querySelector('select')?.focus();
  }

  /**
   * The defaults the tier rows start from: the catalog's, and each upstream MCP tool's registered tier (its default;
   * its row is edited like a built-in tool's, as `upstream.<server>.<tool>` for every call).
   */
  const defaults = () => ({ ...policy.defaults, ...Object.fromEntries((policy.upstreamTools ?? []).map((t) => [t.tool, t.registeredTier])) });
  const isUpstream = (tool) => tool.startsWith('upstream.');

  /** Lowering a tier below its default needs the allowance the API reports; raising never does. */
  const mayLower = () => Boolean(policy.loweringAllowed);

  function tierTable(rows) {
    const initial = tierRows(defaults(), policy.overrides);
    const tierCell = (r) => {
      if (r.derived) return el('td', {}, 'the tier of the action it runs');
      const was = tierIn(policy.overrides, initial.find((x) => rowKey(x) === rowKey(r)));
      if (!draft) return el('td', {}, r.orgTier === null ? 'default' : [el('span', { class: `tier t${r.orgTier}` }, `T${r.orgTier}`), r.via ? ' (every action)' : '', r.orgTier > r.defaultTier ? ' raised' : r.orgTier < r.defaultTier ? ' lowered' : '']);
      // A terminal always needs an approver (T3 at least), whatever the allowance.
      const floor = Math.max(r.tool === 'open_terminal' ? 3 : 1, mayLower() ? 1 : Math.min(r.defaultTier, was));
      const select = el(
        'select',
        { 'aria-label': `Tier of ${rowLabel(r)}`, onchange: () => change(r, select.value) },
        el('option', { value: '', selected: r.orgTier === null, disabled: r.defaultTier < floor }, `default (T${r.defaultTier})`),
        [1, 2, 3, 4].map((t) => el('option', { value: String(t), selected: r.orgTier === t, disabled: t < floor }, `T${t}`)),
      );
      return el('td', {}, select);
    };
    const changeCell = (r) => {
      if (!draft || r.derived) return el('td', {});
      const was = tierIn(policy.overrides, r);
      const now = tierIn(draft.overrides, r);
      return el('td', { class: 'change' }, now === was ? '' : `T${was} → T${now}`);
    };
    return el(
      'table',
      { class: 'policy-tiers' },
      el('caption', {}, 'Tiers: who must agree before a call runs (T1 runs, T2 runs and is logged, T3 needs an approver, T4 an approver with a passkey)'),
      el('thead', {}, el('tr', {}, ['Tool', 'Action', 'Default', 'This organization', draft ? 'Draft change' : null].filter(Boolean).map((h) => el('th', { scope: 'col' }, h)))),
      el(
        'tbody',
        {},
        rows.map((r) =>
          el(
            'tr',
            { 'data-rule': rowKey(r) },
            el('th', { scope: 'row' }, r.tool, isUpstream(r.tool) ? el('span', { class: 'note' }, ' (upstream MCP tool: its default is the tier its registration gives it)') : null),
            el('td', {}, r.action === '*' ? '—' : r.action),
            el('td', {}, r.derived ? '—' : el('span', { class: `tier t${r.defaultTier}` }, `T${r.defaultTier}`)),
            tierCell(r),
            draft ? changeCell(r) : null,
          ),
        ),
      ),
    );
  }

  function change(r, value) {
    const rows = tierRows(defaults(), draft.overrides);
    draft.overrides = setTier(draft.overrides, rows, r, value === '' ? null : Number(value));
    render();
    tables.querySelector(`select[aria-label="Tier of ${CSS.escape(rowLabel(r))}"]`)?.focus();
  }

  /** A number input bound to the draft; empty means "the default" where `nullable`. */
  function numberInput(label, value, set, { min = 1, max = 1_000_000, nullable = false, placeholder, step = 1 } = {}) {
    if (!draft) return value === null || value === undefined ? 'default' : String(value);
    const input = el('input', { type: 'number', min, max, step, value: value ?? '', placeholder: placeholder ?? '', 'aria-label': label, class: 'num' });
    input.addEventListener('change', () => set(input.value === '' && nullable ? null : Number(input.value)));
    return input;
  }

  function expiryTable() {
    const ttl = draft ? draft.ttl : policy.approvalTtlSeconds;
    const line = (tier) =>
      el(
        'tr',
        {},
        el('th', { scope: 'row' }, `T${tier === 't3' ? 3 : 4} approval`),
        el('td', {}, numberInput(`T${tier === 't3' ? 3 : 4} approval expires after (seconds)`, ttl[tier], (n) => (draft.ttl[tier] = n), { min: 2, max: 7 * 86_400 }), draft ? '' : ` s (${minutes(ttl[tier])})`),
      );
    return el('table', { class: 'policy-small' }, el('caption', {}, 'Approval expiry: an approval not decided by then is refused'), el('tbody', {}, line('t3'), line('t4')));
  }

  function rateTable() {
    const rl = policy.rateLimits;
    const own = draft ? draft.rates : rl.custom;
    const line = (name, label, key) =>
      el(
        'tr',
        {},
        el('th', { scope: 'row' }, name),
        el('td', {}, String(draft ? defaultOf(key) : rl[key])),
        el('td', {}, numberInput(label, own[key], (n) => (draft.rates[key] = n), { nullable: true, placeholder: 'default' })),
      );
    const tools = Object.entries(rl.toolCallsPerUser);
    return el(
      'div',
      {},
      el(
        'table',
        { class: 'policy-small' },
        el('caption', {}, 'Rate limits'),
        el('thead', {}, el('tr', {}, ['Limit', draft ? 'In force now' : 'In force', 'Set by this organization'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, line('Messages per user per minute', 'Messages per user per minute', 'userMessagesPerMinute'), line('Messages per organization per hour', 'Messages per organization per hour', 'orgMessagesPerHour')),
      ),
      el(
        'details',
        {},
        el('summary', {}, `Tool calls per user (${tools.length} tools)`),
        el(
          'table',
          { class: 'policy-small' },
          el('thead', {}, el('tr', {}, ['Tool', 'In force', 'Window', 'Set by this organization'].map((h) => el('th', { scope: 'col' }, h)))),
          el(
            'tbody',
            {},
            tools.map(([tool, { max, windowSeconds }]) =>
              el(
                'tr',
                {},
                el('th', { scope: 'row' }, tool),
                el('td', {}, String(max)),
                el('td', {}, `${windowSeconds} s`),
                el(
                  'td',
                  {},
                  numberInput(`Calls of ${tool} per user`, own.toolCallsPerUser[tool], (n) => {
                    if (n === null) delete draft.rates.toolCallsPerUser[tool];
                    else draft.rates.toolCallsPerUser[tool] = n;
                  }, { nullable: true, placeholder: 'default', max: 100_000 }),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  }

  const defaultOf = (key) => policy.rateLimits[key];

  /**
   * The blast radius (more than this many target devices raise a T2/T3 call one tier), and any other setting the
   * API reports that this page does not know yet, read-only. A higher threshold loosens the guard: like lowering a
   * tier, it needs the partner admin's allowance above the default.
   */
  function otherSettings() {
    const threshold = draft ? draft.blastRadius : policy.blastRadiusThreshold;
    const ceiling = mayLower() ? 1000 : Math.max(BLAST_RADIUS_DEFAULT, policy.blastRadiusThreshold);
    const known = new Set(['defaults', 'overrides', 'approvalTtlSeconds', 'rateLimits', 'version', 'loweringAllowed', 'blastRadiusThreshold', 'org', 'breakerStreak', 'taint', 'budget']);
    const streak = draft ? draft.breakerStreak : policy.breakerStreak;
    const taint = draft ? draft.taint : policy.taint;
    const row = (rule, label, value) => el('tr', { 'data-rule': rule }, el('th', { scope: 'row' }, label), el('td', {}, value));
    const rest = Object.entries(policy).filter(([k, v]) => !known.has(k) && v !== null && v !== undefined);
    return el(
      'table',
      { class: 'policy-small' },
      el('caption', {}, 'Other guards'),
      el(
        'tbody',
        {},
        threshold === undefined
          ? null
          : el(
              'tr',
              { 'data-rule': 'blastRadiusThreshold' },
              el('th', { scope: 'row' }, 'Blast radius: a T2 or T3 call on more devices than this is raised one tier'),
              el('td', {}, numberInput('Blast radius threshold (devices)', threshold, (n) => (draft.blastRadius = n), { max: ceiling }), ` (default ${BLAST_RADIUS_DEFAULT})`),
            ),
        streak === undefined
          ? null
          : row('breakerStreak', "Circuit breaker: rejections in a row that stop a session's tool calls", [
              numberInput('Breaker streak (rejections)', streak, (n) => (draft.breakerStreak = n), { max: mayLower() ? 10 : Math.max(BREAKER_STREAK_DEFAULT, policy.breakerStreak) }),
              ` (default ${BREAKER_STREAK_DEFAULT})`,
            ]),
        taint
          ? [
              row('taint.flaggedContentMinTier', 'After content flagged as injected, a call needs at least', [numberInput('Least tier after flagged content', taint.flaggedContentMinTier, (n) => (draft.taint.flaggedContentMinTier = n), { min: 3, max: 4 }), draft ? '' : ' (T3 or T4)']),
              row('taint.provenanceMinTier', "A call with an argument from a tool's output needs at least", [numberInput('Least tier with an argument from tool output', taint.provenanceMinTier, (n) => (draft.taint.provenanceMinTier = n), { min: 3, max: 4 }), draft ? '' : ' (T3 or T4)']),
            ]
          : null,
        'budget' in policy ? row('budget', 'Model budget: spend ceilings in USD (part of the policy version)', budgetCell()) : null,
        rest.map(([k, v]) => el('tr', {}, el('th', { scope: 'row' }, k), el('td', {}, typeof v === 'object' ? JSON.stringify(v) : String(v)))),
      ),
    );
  }

  /**
   * The budget: read, the ceilings in force; in a draft, the three ceilings in USD (a spend ceiling may go up or
   * down: it is no lowering of a tier). All three empty is the deployment's defaults; the api names a missing one.
   */
  function budgetCell() {
    if (!draft) return policy.budget ? `$${policy.budget.dailyUsd} a day, $${policy.budget.monthlyUsd} a month, $${policy.budget.hourlyUsd} an hour` : "the deployment's defaults";
    const usd = (key, label) => [numberInput(`${label} budget (USD)`, draft.budget[key], (n) => (draft.budget[key] = n), { min: 0.01, step: 0.01, nullable: true, placeholder: 'default' }), ` ${label.toLowerCase()} `];
    return [usd('dailyUsd', 'Daily'), usd('monthlyUsd', 'Monthly'), usd('hourlyUsd', 'Hourly'), '(empty: the deployment\'s defaults)'];
  }

  /** The budget as the document holds it: null when no ceiling is set (the deployment's defaults). */
  function budgetOf(b) {
    return b.dailyUsd === null && b.monthlyUsd === null && b.hourlyUsd === null ? null : { dailyUsd: b.dailyUsd, monthlyUsd: b.monthlyUsd, hourlyUsd: b.hourlyUsd };
  }

  /** The document PUT and what-if take, from the draft. */
  function documentOf() {
    return {
      overrides: sortedOverrides(draft.overrides),
      approvalTtlSeconds: { t3: draft.ttl.t3, t4: draft.ttl.t4 },
      rateLimits: { userMessagesPerMinute: draft.rates.userMessagesPerMinute, orgMessagesPerHour: draft.rates.orgMessagesPerHour, toolCallsPerUser: { ...draft.rates.toolCallsPerUser } },
      ...(draft.blastRadius === undefined ? {} : { blastRadiusThreshold: draft.blastRadius }),
      ...(draft.breakerStreak === undefined ? {} : { breakerStreak: draft.breakerStreak }),
      ...(draft.taint === undefined ? {} : { taint: { ...draft.taint } }),
      ...(draft.budget === undefined ? {} : { budget: budgetOf(draft.budget) }),
    };
  }

  function draftActions() {
    const status = el('p', { role: 'status', class: 'decision-status' });
    const days = el('input', { id: 'whatif-days', type: 'number', min: 1, max: 90, value: 30, class: 'num' });
    const reason = el('textarea', { id: 'adopt-reason', rows: 2, maxLength: 500 });
    const whatIf = async () => {
      replace(status, 'Replaying the recorded calls against the draft…');
      try {
        const answer = await post(`${base}/what-if`, { policy: documentOf(), windowDays: Number(days.value) || 30 });
        replace(status);
        outcome.hidden = false;
        replace(outcome, whatIfResult(answer));
        outcome.querySelector('h2')?.scrollIntoView();
      } catch (err) {
        replace(status, `What if failed: ${err.message}`);
      }
    };
    const adopt = async () => {
      if (!reason.value.trim()) {
        replace(status, 'Say why: the reason is kept with the new version.');
        reason.focus();
        return;
      }
      replace(status, 'Adopting…');
      try {
        const saved = await api('PUT', base, { ...documentOf(), reason: reason.value.trim() });
        outcome.hidden = true;
        await load();
        replace(error);
        current.append(el('p', { role: 'status', class: 'badge ok' }, `Adopted as version ${saved.version?.number ?? saved.version}.`));
      } catch (err) {
        replace(status, `Not adopted: ${err.message}`);
      }
    };
    return el(
      'section',
      { class: 'card', 'aria-label': 'The draft' },
      el('h2', {}, 'Try and adopt the draft'),
      el('label', { for: 'whatif-days' }, 'Replay the calls of the last (days)'),
      days,
      el('div', { class: 'buttons' }, el('button', { type: 'button', onclick: whatIf }, 'What if?')),
      el('label', { for: 'adopt-reason' }, 'Why (required to adopt)'),
      reason,
      el(
        'div',
        { class: 'buttons' },
        el('button', { type: 'button', class: 'primary', onclick: adopt }, 'Adopt this policy'),
        el('button', { type: 'button', onclick: () => ((draft = null), (outcome.hidden = true), render()) }, 'Discard the draft'),
      ),
      status,
    );
  }

  /**
   * A slow poll: standing approvals are granted and used from other pages, and another admin may adopt a version.
   * The page reloads only when the version changed and no draft is open (a reload would drop it and close the
   * history's open diffs); otherwise it only refreshes the standing approvals' list.
   */
  async function poll() {
    try {
      const head = await get(base);
      const moved = policy && head.version.number !== policy.version.number;
      // Not while someone types a reason (roll back, revoke): the reload would drop it; the next poll reloads.
      const typing = main.contains(document.activeElement) && /^(INPUT|TEXTAREA)$/.test(document.activeElement.tagName);
      if (moved && !draft && !typing) return void (await load());
      if (moved) replace(error, `Version ${head.version.number} was adopted by ${head.version.createdBy ?? 'Gatehouse'} meanwhile: this draft starts from version ${policy.version.number}. Discard it to see the new version.`);
      standing.refresh();
    } catch {
      // The next poll tries again; load() reports errors.
    }
  }
  void load();
  const timer = setInterval(poll, 15_000);
  return () => {
    clearInterval(timer);
    standing.stop();
  };
}

function minutes(seconds) {
  if (seconds < 120) return `${seconds} seconds`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} minutes`;
  return `${Math.round(seconds / 360) / 10} hours`;
}
