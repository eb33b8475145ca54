// The copilot chat: the org's sessions on the left; the picked session's turns, each step as it happens (pushed
// over Socket.IO, then read back from GET /v1/sessions/:id), inline approvals for approvers, and the composer.
import { get, post } from '../lib/api.js';
import { el, externalLink, progressBar, replace, time, usd } from '../lib/dom.js';
import { REMEDIATION_TOOLS, SessionEventType } from '../lib/events.js';
import { watchSession } from '../lib/live.js';
import { approvalCard } from './approval-card.js';

const STATUS = {
  running: 'running…',
  awaiting_approval: 'waiting for an approver',
  succeeded: 'succeeded',
  failed: 'failed',
  denied: 'denied',
  rejected: 'rejected',
};

/** Statuses a tool call's row ends in. */
const FINISHED = new Set(['succeeded', 'failed']);

export function chatView(main, ctx, [sessionId]) {
  const canAsk = ctx.hasRole('technician') || ctx.hasRole('admin');
  const list = el('ul', { class: 'session-list' });
  const meta = el('div', { class: 'session-meta' });
  const transcript = el('div', { class: 'transcript' });
  const live = el('ol', { class: 'live', 'aria-live': 'polite', 'aria-label': 'Live activity' });
  const error = el('p', { role: 'alert', class: 'error' });
  const message = el('textarea', { id: 'message', rows: 3, maxLength: 8000, disabled: !canAsk, placeholder: 'Ask in plain words, e.g. "restart the Spooler service on ACME-PC-01"' });
  const send = el('button', { type: 'submit', class: 'primary', disabled: !canAsk }, 'Send');
  const composer = el(
    'form',
    { class: 'composer', onsubmit: (e) => (e.preventDefault(), void submit()) },
    el('label', { for: 'message' }, 'Message to the copilot'),
    message,
    el('div', { class: 'buttons' }, send, el('span', { class: 'muted' }, 'Enter sends · Shift+Enter for a new line')),
    canAsk ? null : el('p', { class: 'note' }, 'Only technicians and admins of this organization can ask the copilot.'),
  );
  message.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) (e.preventDefault(), void submit());
  });

  main.append(
    el(
      'div',
      { class: 'chat' },
      el(
        'aside',
        { 'aria-labelledby': 'sessions-h' },
        el('h2', { id: 'sessions-h' }, 'Sessions'),
        el('button', { type: 'button', onclick: () => ctx.navigate('#/chat'), disabled: !canAsk }, 'New session'),
        list,
      ),
      el(
        'section',
        { class: 'conversation', 'aria-labelledby': 'conv-h' },
        el('h1', { id: 'conv-h' }, sessionId ? `Copilot — ${ctx.org.name}` : `New session — ${ctx.org.name}`),
        meta,
        transcript,
        el('h2', { class: 'sr-only' }, 'Live activity'),
        live,
        error,
        composer,
      ),
    ),
  );

  void loadList();
  async function loadList() {
    try {
      const { sessions } = await get(`/v1/sessions?org=${encodeURIComponent(ctx.org.slug)}`);
      replace(
        list,
        sessions.length ? null : el('li', { class: 'muted' }, 'No session yet.'),
        sessions.map((s) =>
          el(
            'li',
            {},
            el('a', { href: `#/sessions/${s.id}`, 'aria-current': s.id === sessionId ? 'page' : null }, s.title ?? (s.startedVia === 'mcp' ? '(no tool call yet)' : '(no message yet)')),
            el('br'),
            // Sessions an MCP client started (Claude Code, Cursor, …) name the client, as it named itself.
            s.startedVia === 'mcp' ? el('span', { class: 'muted' }, `MCP: ${s.mcpClient ?? 'unknown client'} · `) : null,
            time(s.createdAt),
          ),
        ),
      );
    } catch (err) {
      replace(list, el('li', { class: 'error' }, err.message));
    }
  }

  async function submit() {
    const text = message.value.trim();
    if (!text) return;
    send.disabled = true;
    replace(error);
    try {
      const id = sessionId ?? (await post('/v1/sessions', { org: ctx.org.slug })).id;
      await post(`/v1/sessions/${id}/messages`, { text });
      message.value = '';
      if (!sessionId) return ctx.navigate(`#/sessions/${id}`);
      await load();
    } catch (err) {
      replace(error, err.message);
    } finally {
      send.disabled = !canAsk;
      message.focus();
    }
  }

  if (!sessionId) {
    replace(transcript, el('p', { class: 'muted' }, 'Ask the copilot something to start a session. Reads run at once; changes wait for an approver.'));
    message.focus();
    return undefined;
  }

  // ---- one session ------------------------------------------------------------------------------------------
  const progress = new Map(); // a remediation's invocation id -> latest pushed counts
  const turnNodes = new Map(); // turn id -> { signature, node }
  const approvalNodes = new Map(); // approval id -> card (kept across refreshes so a half-filled form survives)
  let session = null;

  async function load() {
    try {
      session = await get(`/v1/sessions/${sessionId}`);
      renderMeta();
      renderTurns();
      if (!composer.dataset.checked) {
        composer.dataset.checked = 'yes';
        const mine = session.userId === ctx.user.id || ctx.hasRole('admin');
        if (!mine) (message.disabled = true, send.disabled = true, composer.append(el('p', { class: 'note' }, 'This is another technician’s session: you can follow it, not write in it.')));
      }
    } catch (err) {
      replace(error, err.message);
    }
  }

  function renderMeta() {
    const s = session;
    const breaker = s.breaker?.tripped
      ? el('span', { class: 'badge danger' }, 'Circuit breaker tripped', ctx.hasRole('admin') ? [' ', el('button', { type: 'button', onclick: () => post(`/v1/sessions/${sessionId}/breaker/reset`).then(load, (e) => replace(error, e.message)) }, 'Reset the breaker')] : null)
      : el('span', { class: 'badge' }, `breaker armed (${s.breaker?.streak ?? 0} rejections in a row)`);
    replace(
      meta,
      el('span', { class: 'badge' }, `status: ${s.status.replace('_', ' ')}`),
      s.paused ? el('span', { class: 'badge danger' }, 'Copilot paused by an admin') : null,
      breaker,
      s.usage ? el('span', { class: 'muted' }, `spent today ${usd(s.usage.today.spentUsd)} of ${usd(s.usage.today.limitUsd)}`) : null,
      el('span', { class: 'links' }, externalLink(s.temporalUrl, 'Temporal Web UI'), ' · ', el('a', { href: `#/sessions/${sessionId}/timeline` }, 'Audit timeline')),
      s.stateError ? el('p', { class: 'note' }, s.stateError) : null,
    );
  }

  function renderTurns() {
    const users = new Map(session.transcript.filter((m) => m.role === 'user').map((m) => [m.turnId, m.text]));
    const flagged = new Set(session.steps.filter((st) => st.flagged).map((st) => st.id));
    // A tool call's row is written when its result is recorded, a moment before the workflow's state says so: a
    // step the row says has finished is shown finished (and never as running with its result already flagged).
    const recorded = new Map(session.steps.filter((st) => FINISHED.has(st.status)).map((st) => [st.id, st]));
    // Commands still waiting for their device, by tool call: shown on the step, each with a Cancel button.
    const waiting = new Map(session.steps.filter((st) => st.waiting?.length).map((st) => [st.id, st.waiting]));
    const settled = (st) => {
      const row = st.kind === 'tool' && st.status === 'running' && recorded.get(st.invocationId);
      return row ? { ...st, status: row.status, summary: row.summary ?? st.summary } : st;
    };
    const nodes = session.turns.map((turn, i) => {
      // A model step without tool calls is the answer, shown once below the steps.
      turn = { ...turn, steps: turn.steps.filter((st) => st.kind !== 'model' || st.toolCalls?.length).map(settled) };
      const signature = JSON.stringify([turn, [...flagged], turn.steps.map((st) => [progress.get(st.invocationId), waiting.get(st.invocationId)])]);
      const known = turnNodes.get(turn.turnId);
      if (known?.signature === signature) return known.node;
      const node = renderTurn(turn, i + 1, users.get(turn.turnId), flagged, waiting);
      turnNodes.set(turn.turnId, { signature, node });
      return node;
    });
    // Only what changed is replaced, so focus and a form being filled in elsewhere stay put.
    const current = [...transcript.children];
    if (nodes.length !== current.length || nodes.some((n, i) => n !== current[i])) replace(transcript, nodes);
    if (!session.turns.length) replace(transcript, el('p', { class: 'muted' }, 'No message yet.'));
  }

  function renderTurn(turn, n, userText, flagged, waiting) {
    const done = ['answered', 'refused', 'failed'].includes(turn.status);
    return el(
      'article',
      { class: `turn ${turn.status}`, 'aria-label': `Turn ${n}`, 'data-turn': turn.turnId },
      el('div', { class: 'msg user' }, el('span', { class: 'who' }, 'You'), el('p', {}, userText ?? '')),
      el('ol', { class: 'steps', 'aria-label': 'Steps' }, turn.steps.map((st) => renderStep(st, flagged, waiting)).filter(Boolean)),
      done
        ? el('div', { class: `msg copilot ${turn.status}` }, el('span', { class: 'who' }, turn.status === 'answered' ? 'Copilot' : `Copilot (${turn.status})`), el('p', {}, turn.answer ?? turn.error ?? ''))
        : el('p', { class: 'muted working' }, turn.status === 'queued' ? 'Queued…' : 'Working…'),
    );
  }

  function renderStep(st, flagged, waiting) {
    if (st.kind === 'model') return st.text ? el('li', { class: 'step model' }, el('span', { class: 'who' }, 'Copilot'), ' ', st.text) : null;
    const isFlagged = st.invocationId && flagged.has(st.invocationId);
    const head = el(
      'div',
      { class: 'step-head' },
      st.tier ? el('span', { class: `tier t${st.tier}`, title: `tier ${st.tier}` }, `T${st.tier}`) : null,
      ' ',
      el('code', {}, st.tool),
      ' ',
      el('span', { class: `status ${st.status}` }, STATUS[st.status] ?? st.status),
    );
    const body = [];
    if (st.status === 'denied' || st.status === 'rejected') body.push(el('p', { class: 'reason' }, st.status === 'denied' ? 'Reason: ' : '', st.summary ?? ''));
    else if (st.summary) {
      body.push(
        el('p', { class: 'fence-label' }, 'Result — data from the device or tool, not instructions'),
        el('pre', { class: `fenced${isFlagged ? ' flagged' : ''}` }, st.summary),
      );
    }
    if (isFlagged) body.push(el('p', { class: 'warning', role: 'note' }, 'Flagged as untrusted: this output contains text that looks like instructions. It was shown to the copilot fenced as data, and the next tool call needs an approver.'));
    if (st.status === 'awaiting_approval' && st.approvalId) body.push(approvalSlot(st.approvalId));
    if (st.status === 'running' && st.invocationId) for (const w of waiting.get(st.invocationId) ?? []) body.push(waitingCommand(w));
    if (REMEDIATION_TOOLS.includes(st.tool) && st.invocationId) {
      const p = progress.get(st.invocationId);
      if (p) body.push(progressBar(p.total ? Math.round(((p.succeeded + p.failed) / p.total) * 100) : 0, 'Remediation progress', `${p.succeeded + p.failed} of ${p.total} devices done (${p.failed} failed)`));
      body.push(el('p', {}, el('a', { href: `#/remediations/${st.invocationId}` }, 'Open the remediation: progress per device, pause, resume, cancel')));
    }
    return el('li', { class: `step tool ${st.status}${isFlagged ? ' flagged' : ''}` }, head, body);
  }

  /** A command waiting for its device: which, since when it is away, until when it waits, and a Cancel button. */
  function waitingCommand(w) {
    const mine = session.userId === ctx.user.id || ctx.hasRole('admin');
    const where = w.status === 'delivered'
      ? `sent to ${w.device}, waiting for its result`
      : w.online
        ? `waiting to be sent to ${w.device}`
        : `${w.device} is offline${w.lastSeenAt ? ` (last seen ${new Date(w.lastSeenAt).toLocaleString()})` : ''}: queued until ${new Date(w.expiresAt).toLocaleTimeString()}, runs when it reconnects`;
    const cancel = w.status === 'pending' && mine
      ? el('button', { type: 'button', onclick: (e) => {
          e.target.disabled = true;
          post(`/v1/commands/${encodeURIComponent(w.commandId)}/cancel`).then(load, (err) => (replace(error, err.message), (e.target.disabled = false)));
        } }, `Cancel the command on ${w.device}`)
      : null;
    return el('p', { class: 'waiting', role: 'status' }, '⏳ ', where, ' ', cancel);
  }

  /** The inline decision form for approvers of the org; a note for everyone else. */
  function approvalSlot(approvalId) {
    if (!ctx.hasRole('approver')) return el('p', { class: 'note' }, 'Waiting for an approver of the organization (Approvals page, Slack or email).');
    let slot = approvalNodes.get(approvalId);
    if (!slot) {
      slot = el('div', { class: 'inline-approval' }, el('p', { class: 'muted' }, 'Loading the approval…'));
      approvalNodes.set(approvalId, slot);
      get(`/v1/approvals/${approvalId}`).then(
        (a) => replace(slot, approvalCard(a, { showSession: false, canWhatIf: ctx.hasRole('admin') || ctx.hasRole('auditor'), onDecided: () => setTimeout(load, 300) })),
        (err) => replace(slot, el('p', { class: 'error' }, err.message)),
      );
    }
    return slot;
  }

  // ---- live -------------------------------------------------------------------------------------------------
  let pending = null;
  const soon = () => {
    clearTimeout(pending);
    pending = setTimeout(load, 200);
  };
  const unwatch = watchSession(sessionId, (e) => {
    if (e.type === SessionEventType.RemediationProgress && e.invocationId && e.progress) progress.set(e.invocationId, e.progress);
    const line = describe(e);
    // The turn's end is pushed once the workflow's state says so: read it back now.
    if (e.type === SessionEventType.TurnEnded) return void load();
    if (line) {
      live.append(el('li', { class: e.type.replace(':', '-') }, line));
      while (live.children.length > 8) live.firstElementChild.remove();
    }
    soon();
  });
  // Besides the pushed turn:ended, poll while something is going on (a push is a hint: one missed, say across a
  // worker's restart, is caught here).
  const poll = setInterval(() => {
    if (!session || session.status !== 'idle' || session.turns.some((t) => t.status === 'queued' || t.status === 'running')) void load();
  }, 1500);
  void load();
  return () => {
    unwatch();
    clearInterval(poll);
    clearTimeout(pending);
  };
}

/** One line per pushed event, as the CLI prints them. */
function describe(e) {
  switch (e.type) {
    case SessionEventType.TurnStarted:
      return 'Your message reached the copilot.';
    case SessionEventType.ModelReplied:
      return e.text ? `Copilot: ${e.text.split('\n')[0]}` : null;
    case SessionEventType.ToolStarted:
      return `→ ${e.tool} (tier ${e.tier}) started`;
    case SessionEventType.ToolCompleted:
      return `${e.status === 'succeeded' ? '✓' : '✗'} ${e.tool}: ${e.text ?? e.status}${e.flagged ? ' [flagged as untrusted]' : ''}`;
    case SessionEventType.ToolDenied:
      return `✗ ${e.tool} denied: ${e.text ?? ''}`;
    case SessionEventType.ApprovalRequested:
      return `Waiting for approval (T${e.tier}): ${e.text ?? ''}`;
    case SessionEventType.ApprovalDecided:
      return `${e.status === 'approved' ? '✓ approved' : '✗ rejected'}${e.text ? `: ${e.text}` : ''}`;
    case SessionEventType.BreakerTripped:
      return `Circuit breaker: ${e.text}`;
    case SessionEventType.CommandWaiting:
      return `⏳ ${e.text ?? 'a command waits for its device'}`;
    case SessionEventType.RemediationProgress:
      return e.progress ? `remediation: ${e.progress.succeeded + e.progress.failed} of ${e.progress.total} devices done` : null;
    default:
      return null;
  }
}
