/**
 * The CLI for technicians and approvers.
 *   npm run copilot -- ask "<message>" [--org <slug>] [--new]      start or continue a session; prints each step
 *   npm run copilot -- approvals [--org <slug>]                      pending approvals of your organizations
 *   npm run copilot -- approve <id> [--reason <text>] [--confirm <phrase>]
 *   npm run copilot -- reject <id> [--reason <text>]
 *   npm run copilot -- remediation <id> [pause|resume|cancel]      a remediation's progress bar until it ends (or its canary fails)
 *   npm run copilot -- remediation <id> continue|rollback|stop --reason <why>   an approver's decision after a failed canary
 *   npm run copilot -- cancel <command id>                           cancel a command still waiting for its device
 * Common options: --server <url>, --api-key <key>, --as <role>. The API key comes from --api-key,
 * GATEHOUSE_API_KEY, or (for the demo) the user of that role in data/demo-credentials.json (technician for ask,
 * approver for the approval commands). `ask` exits 0 on an answer.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { io, type Socket } from 'socket.io-client';
import type { ApprovalAnswer as ApprovalRow, RemediationAnswer as RemediationView, TurnAnswer } from '../common/api-answers';
import { callText } from '../cage/call-view';
import { loadEnvOrExit } from '../lib/env';
import { SessionEventType, type ConsoleClientEvents, type ConsoleServerEvents, type SessionEvent } from '../common/console-protocol';

class CliError extends Error {}

async function api<T>(server: string, key: string, method: string, route: string, body?: unknown): Promise<{ status: number; json: T }> {
  let res: Response;
  try {
    res = await fetch(new URL(route, server), {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new CliError(`cannot reach the Gatehouse API at ${server}; is it running (npm start)?`);
  }
  const json = (await res.json().catch(() => ({}))) as T;
  return { status: res.status, json };
}

const errorText = (json: unknown) => (json as { error?: { message?: string } }).error?.message ?? 'unknown error';

async function apiKeyFor(dataDir: string, explicit: string | undefined, org: string, role: string): Promise<string> {
  if (explicit) return explicit;
  const file = path.join(dataDir, 'demo-credentials.json');
  if (!existsSync(file)) throw new CliError('no API key: pass --api-key, set GATEHOUSE_API_KEY, or run npm start once to seed the demo');
  const creds = JSON.parse(await readFile(file, 'utf8')) as { role: string; org: string; apiKey: string }[];
  const found = creds.find((c) => c.role === role && c.org === org);
  if (!found) throw new CliError(`no demo ${role} for org "${org}" in ${file}`);
  return found.apiKey;
}

/** `[#####.....]`, 30 wide, for a fraction between 0 and 1. */
function gauge(fraction: number): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * 30);
  return `[${'#'.repeat(filled)}${'.'.repeat(30 - filled)}]`;
}

/** A text progress bar for a remediation's pushed progress. */
function progressBar(p: { total: number; succeeded: number; failed: number }): string {
  const done = p.succeeded + p.failed;
  return `${gauge(p.total ? done / p.total : 1)} ${done}/${p.total}  ${p.succeeded} ok, ${p.failed} failed`;
}

function printEvent(e: SessionEvent): void {
  switch (e.type) {
    case SessionEventType.ModelReplied:
      if (e.text) console.log(`  · model: ${e.text.split('\n')[0]}`);
      break;
    case SessionEventType.ToolStarted:
      console.log(`  → ${e.tool} (tier ${e.tier})`);
      if (e.remediation && e.invocationId) console.log(`    follow it (pause, resume, cancel): npm run copilot -- remediation ${e.invocationId}`);
      break;
    case SessionEventType.ToolCompleted:
      console.log(`  ${e.status === 'succeeded' ? '✓' : '✗'} ${e.tool}: ${e.text ?? e.status}`);
      break;
    case SessionEventType.ToolDenied:
      console.log(`  ✗ ${e.tool} denied: ${e.text}`);
      break;
    case SessionEventType.ApprovalRequested:
      console.log(`  ⏸ waiting for approval ${e.approvalId} (T${e.tier}): ${e.text}`);
      console.log(
        e.tier === 4
          ? `    an approver approves it in the Gatehouse console (Approvals), signing it with their passkey`
          : `    an approver runs: npm run copilot -- approve ${e.approvalId}`,
      );
      break;
    case SessionEventType.RemediationProgress:
      if (e.progress) console.log(`    ${progressBar(e.progress)}`);
      break;
    case SessionEventType.ApprovalDecided:
      console.log(`  ${e.status === 'approved' ? '✓ approved' : '✗ rejected'}${e.text ? `: ${e.text}` : ''}`);
      break;
    case SessionEventType.BreakerTripped:
      console.log(`  ⛔ ${e.text}`);
      break;
    case SessionEventType.CommandWaiting:
      console.log(`  ⏳ ${e.text}`);
      if (e.commandId) console.log(`    cancel it: npm run copilot -- cancel ${e.commandId}`);
      break;
    default:
      break;
  }
}

/** A command of this turn that waits for an offline device, read back from the session (in case no event said so). */
function showWaiting(s: TurnAnswer, told: Set<string>): void {
  for (const step of s.steps ?? []) {
    for (const w of step.waiting ?? []) {
      if (told.has(w.commandId) || w.online || w.status !== 'pending') continue;
      told.add(w.commandId);
      console.log(`  ⏳ ${w.device} is ${w.lastSeenAt ? `offline since ${w.lastSeenAt}` : 'offline'}: ${step.tool} waits for it until ${w.expiresAt}`);
      console.log(`    cancel it: npm run copilot -- cancel ${w.commandId}`);
    }
  }
}

/**
 * A message waits, unseen, behind the session's earlier one while that one still runs (often: waiting for an
 * approval). Said once, with what it waits for and how not to wait.
 */
function showQueued(s: TurnAnswer, message: string, told: Set<string>): void {
  if (s.status !== 'queued' || !s.behind || told.has(`queued:${s.turnId}`)) return;
  told.add(`queued:${s.turnId}`);
  const why = s.pendingApproval ? `: it waits for approval ${s.pendingApproval.approvalId} (T${s.pendingApproval.tier}, ${s.pendingApproval.tool}, expires ${s.pendingApproval.expiresAt})` : '';
  console.log(`  … queued behind this session's earlier message, still running${why}; yours runs when it ends`);
  console.log(`    not to wait, ask in a new session: npm run copilot -- ask --new ${JSON.stringify(message)}`);
}

/** One line with what the guards will say next: budget spent today and this month, and the message rate. */
function guardLine(s: TurnAnswer): string {
  const usd = (n: number) => `$${n.toFixed(2)}`;
  const budget = s.usage
    ? `budget: today ${usd(s.usage.today.spentUsd)} of ${usd(s.usage.today.limitUsd)}, this month ${usd(s.usage.month.spentUsd)} of ${usd(s.usage.month.limitUsd)}`
    : 'budget: unavailable';
  const m = s.rateLimits.userMessages;
  return `${budget} · messages: ${m.used ?? '?'} of ${m.max} per ${m.windowSeconds}s`;
}

async function ask(message: string, opts: { server: string; org: string; key: string; fresh: boolean; dataDir: string }): Promise<number> {
  const store = path.join(opts.dataDir, 'cli-sessions.json');
  const sessions: Record<string, string> = existsSync(store) ? JSON.parse(await readFile(store, 'utf8')) : {};
  const slot = `${opts.server}|${opts.org}`;
  let sessionId = opts.fresh ? undefined : sessions[slot];
  if (sessionId && (await api(opts.server, opts.key, 'GET', `/v1/sessions/${sessionId}`)).status !== 200) sessionId = undefined;
  if (!sessionId) {
    const created = await api<{ id: string }>(opts.server, opts.key, 'POST', '/v1/sessions', { org: opts.org });
    if (created.status !== 201) throw new CliError(`could not start a session: ${errorText(created.json)}`);
    sessionId = created.json.id;
    sessions[slot] = sessionId;
    await writeFile(store, JSON.stringify(sessions, null, 2), { mode: 0o600 }).catch(() => undefined);
    console.log(`session ${sessionId} (${opts.org})`);
  }

  const socket: Socket<ConsoleServerEvents, ConsoleClientEvents> = io(new URL('/console', opts.server).toString(), { auth: { token: opts.key }, transports: ['websocket'] });
  // Commands already shown as waiting (pushed, or read back from the session while the turn runs).
  const told = new Set<string>();
  // A turn's end is pushed (turn:ended) once the workflow's state says so: the loop below reads the turn at once
  // instead of at its next poll. Heard while the loop was not waiting, it is kept for its next wait.
  let wake: (() => void) | undefined;
  const ended = new Set<string>();
  socket.on('session:event', (e) => {
    if (e.type === SessionEventType.TurnEnded) {
      if (wake) wake();
      else ended.add(e.turnId);
      return;
    }
    if (e.type === SessionEventType.CommandWaiting && e.commandId) {
      if (told.has(e.commandId)) return;
      told.add(e.commandId);
    }
    printEvent(e);
  });
  await socket.timeout(5000).emitWithAck('session:subscribe', { sessionId }).catch(() => undefined);

  try {
    const sent = await api<{ turnId: string }>(opts.server, opts.key, 'POST', `/v1/sessions/${sessionId}/messages`, { text: message });
    if (sent.status !== 202) throw new CliError(`message refused: ${errorText(sent.json)}`);
    const { turnId } = sent.json;
    // Long enough for a human to answer an approval (T3 approvals expire after 30 minutes by default).
    const deadline = Date.now() + 40 * 60_000;
    while (Date.now() < deadline) {
      // Told it ended (or polling, every 750 ms): read the turn, and only the turn, whatever the session's length.
      await new Promise<void>((r) => {
        if (ended.delete(turnId)) return r();
        const timer = setTimeout(r, 750);
        wake = () => (clearTimeout(timer), r());
      });
      wake = undefined;
      const got = await api<TurnAnswer>(opts.server, opts.key, 'GET', `/v1/sessions/${sessionId}/turns/${encodeURIComponent(turnId)}`);
      // The api or its database hiccuped: read again at the next poll. Anything else (a revoked key) will not pass.
      if (got.status >= 500) continue;
      if (got.status !== 200) throw new CliError(`reading the turn: ${errorText(got.json)}`);
      const turn = got.json;
      showWaiting(turn, told);
      showQueued(turn, message, told);
      if (turn.status === 'answered') {
        console.log(`\n${turn.answer}\n\n${guardLine(turn)}`);
        return 0;
      }
      if (turn.status === 'refused') {
        console.error(`\nrefused: ${turn.answer}\n${guardLine(turn)}`);
        return 1;
      }
      if (turn.status === 'failed') throw new CliError(`the turn failed: ${turn.error}`);
    }
    throw new CliError('no answer within 40 minutes; the turn is still running (see the Temporal UI)');
  } finally {
    socket.disconnect();
  }
}

/** Cancels a command of one's session that still waits for its device (it is never sent). */
async function cancelCommand(server: string, key: string, id: string): Promise<number> {
  const res = await api<{ device: string; kind: string }>(server, key, 'POST', `/v1/commands/${encodeURIComponent(id)}/cancel`);
  if (res.status !== 200) throw new CliError(`cancel: ${errorText(res.json)}`);
  console.log(`cancelled: ${res.json.kind} on ${res.json.device} will not be sent; the session was told`);
  return 0;
}

async function listPending(server: string, key: string): Promise<number> {
  const res = await api<{ approvals: ApprovalRow[] }>(server, key, 'GET', '/v1/approvals?status=pending');
  if (res.status !== 200) throw new CliError(`could not list approvals: ${errorText(res.json)}`);
  if (res.json.approvals.length === 0) console.log('no pending approvals');
  for (const a of res.json.approvals) {
    console.log(`${a.id}  T${a.tier}  ${a.summary}  (asked by ${a.requestedByEmail ?? 'unknown'}, expires ${a.expiresAt})`);
    // The exact call, whole: the summary may elide the middle of a long argument, and `approve` is bound to this.
    console.log(callText(a.tool, a.input).replace(/^/gm, '    '));
    if (a.confirmationPhrase) console.log(`    T4: approve it in the Gatehouse console (Approvals): it asks for "${a.confirmationPhrase}" and your passkey`);
  }
  return 0;
}

async function decideOne(server: string, key: string, id: string, decision: 'approve' | 'reject', reason?: string, confirm?: string): Promise<number> {
  const shown = await api<ApprovalRow>(server, key, 'GET', `/v1/approvals/${encodeURIComponent(id)}`);
  if (shown.status !== 200) throw new CliError(`approval ${id}: ${errorText(shown.json)}`);
  console.log(`${decision === 'approve' ? 'approving' : 'rejecting'} T${shown.json.tier}: ${shown.json.summary}`);
  // The digest binds the decision to exactly what was shown above.
  const res = await api<ApprovalRow>(server, key, 'POST', `/v1/approvals/${encodeURIComponent(id)}/decision`, {
    decision,
    digest: shown.json.digest,
    ...(reason ? { reason } : {}),
    ...(confirm !== undefined ? { confirmation: confirm } : {}),
  });
  if (res.status !== 200 && res.status !== 202) throw new CliError(errorText(res.json));
  console.log(`${res.json.status}${res.status === 202 ? ' (recorded; the session will get it when the workflow service is reachable)' : ''}`);
  return 0;
}

function bar(r: RemediationView): string {
  const canary = r.canary ? ` (canary ${r.canary.devices.map((d) => d.name).join(', ')}: ${r.canary.state})` : '';
  return `${gauge((r.percent ?? 0) / 100)} ${String(r.percent ?? 0).padStart(3)}%  ${r.succeeded ?? 0} ok, ${r.failed ?? 0} failed, ${r.running ?? 0} running, ${(r.skipped ?? 0) + (r.cancelled ?? 0)} not started of ${r.total ?? 0} — ${r.state}${canary}`;
}

/** The decisions after a failed canary, as the CLI names them (`stop` is the decision to cancel the rest). */
const CANARY_DECISIONS: Record<string, 'continue' | 'cancel' | 'rollback'> = { continue: 'continue', rollback: 'rollback', stop: 'cancel' };

/** Steers a remediation (when an action is given), then shows its progress until it ends (polling the API). */
async function followRemediation(server: string, key: string, id: string, action?: string, reason?: string): Promise<number> {
  const route = `/v1/remediations/${encodeURIComponent(id)}`;
  const decision = action ? CANARY_DECISIONS[action] : undefined;
  if (decision) {
    if (!reason) throw new CliError(`${action}: say why with --reason`);
    const res = await api(server, key, 'POST', `${route}/canary-decision`, { decision, reason });
    if (res.status !== 202) throw new CliError(`${action}: ${errorText(res.json)}`);
    console.log(`canary decision: ${decision}`);
  } else if (action) {
    if (!['pause', 'resume', 'cancel'].includes(action)) throw new CliError(`unknown action "${action}"; use pause, resume or cancel (or continue, rollback, stop after a failed canary)`);
    const res = await api(server, key, 'POST', `${route}/${action}`);
    if (res.status !== 202) throw new CliError(`${action}: ${errorText(res.json)}`);
    console.log(`${action} requested`);
  }
  const tty = process.stdout.isTTY;
  let last = '';
  for (;;) {
    const res = await api<RemediationView>(server, key, 'GET', route);
    if (res.status !== 200) throw new CliError(`remediation ${id}: ${errorText(res.json)}`);
    const line = res.json.state === 'not_started' ? 'waiting for its approval…' : bar(res.json);
    if (line !== last) process.stdout.write(tty ? `\r${line}` : `${line}\n`);
    last = line;
    if (res.json.state === 'canary-failed') {
      if (tty) process.stdout.write('\n');
      for (const f of res.json.canary?.failures ?? []) console.log(`  canary ${f.device}: ${f.reason}`);
      const choices = (res.json.canary?.choices ?? []).map((c) => Object.keys(CANARY_DECISIONS).find((k) => CANARY_DECISIONS[k] === c)).join('|');
      console.log(`nothing else runs until an approver decides: npm run copilot -- remediation ${id} ${choices} --reason "…"`);
      // A continue takes the proof approving the call took; a passkey signs only in the console.
      const needs = res.json.canary?.continueNeeds;
      if (needs?.passkey) console.log(`  continue${needs.confirmationPhrase ? ` (T4: type "${needs.confirmationPhrase}")` : ''} needs your passkey: decide it on the remediation's page in the Gatehouse console`);
      return 2;
    }
    if (res.json.state === 'finished' || res.json.state === 'cancelled' || (action === 'pause' && res.json.state === 'paused' && !res.json.running)) {
      if (tty) process.stdout.write('\n');
      for (const d of res.json.devices ?? []) if (d.status !== 'succeeded') console.log(`  ${d.name}: ${d.status}`);
      return res.json.failed ? 1 : 0;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function main(): Promise<number> {
  const env = loadEnvOrExit();
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      org: { type: 'string', default: 'acme' },
      new: { type: 'boolean', default: false },
      server: { type: 'string' },
      'api-key': { type: 'string' },
      as: { type: 'string' },
      reason: { type: 'string' },
      confirm: { type: 'string' },
    },
  });
  const [command, ...rest] = positionals;
  const org = values.org!;
  const server = values.server ?? env.GATEHOUSE_SERVER_URL;
  const key = (role: string) => apiKeyFor(env.DATA_DIR, values['api-key'] ?? env.GATEHOUSE_API_KEY, org, values.as ?? role);
  switch (command) {
    case 'ask':
      if (rest.length === 0) break;
      return ask(rest.join(' '), { server, org, key: await key('technician'), fresh: values.new!, dataDir: env.DATA_DIR });
    case 'approvals':
      return listPending(server, await key('approver'));
    case 'approve':
    case 'reject':
      if (rest.length !== 1) break;
      return decideOne(server, await key('approver'), rest[0]!, command, values.reason, values.confirm);
    case 'remediation':
      if (rest.length < 1 || rest.length > 2) break;
      // A canary decision is an approver's; steering and following, a technician's.
      return followRemediation(server, await key(rest[1] && CANARY_DECISIONS[rest[1]] ? 'approver' : 'technician'), rest[0]!, rest[1], values.reason);
    case 'cancel':
      if (rest.length !== 1) break;
      return cancelCommand(server, await key('technician'), rest[0]!);
    default:
      break;
  }
  throw new CliError('usage: npm run copilot -- ask "<message>" [--org <slug>] [--new] | approvals | approve <id> [--reason r] [--confirm phrase] | reject <id> [--reason r] | remediation <id> [pause|resume|cancel|continue|rollback|stop] [--reason r] | cancel <command id>');
}

main()
  .then((code) => process.exit(code))
  .catch((err: unknown) => {
    console.error(`copilot: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(err instanceof CliError ? 1 : 2);
  });
