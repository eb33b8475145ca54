/**
 * The technicians' CLI.
 *   npm run copilot -- ask "<message>" [--org <slug>] [--new] [--server <url>] [--api-key <key>]
 * Starts or continues a session, prints each step as it happens, then the answer. Exit 0 on an answer.
 * The API key comes from --api-key, GATEHOUSE_API_KEY, or (for the demo) the org's technician in
 * data/demo-credentials.json.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { io } from 'socket.io-client';
import type { TurnState } from '../common/session';
import { loadEnvOrExit } from '../lib/env';
import type { SessionEvent } from '../lib/session-events';

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

async function apiKeyFor(dataDir: string, explicit: string | undefined, org: string): Promise<string> {
  if (explicit) return explicit;
  const file = path.join(dataDir, 'demo-credentials.json');
  if (!existsSync(file)) throw new CliError('no API key: pass --api-key, set GATEHOUSE_API_KEY, or run npm start once to seed the demo');
  const creds = JSON.parse(await readFile(file, 'utf8')) as { role: string; org: string; apiKey: string }[];
  const tech = creds.find((c) => c.role === 'technician' && c.org === org);
  if (!tech) throw new CliError(`no demo technician for org "${org}" in ${file}`);
  return tech.apiKey;
}

function printEvent(e: SessionEvent): void {
  switch (e.type) {
    case 'model:replied':
      if (e.text) console.log(`  · model: ${e.text.split('\n')[0]}`);
      break;
    case 'tool:started':
      console.log(`  → ${e.tool} (tier ${e.tier})`);
      break;
    case 'tool:completed':
      console.log(`  ${e.status === 'succeeded' ? '✓' : '✗'} ${e.tool}: ${e.text ?? e.status}`);
      break;
    case 'tool:denied':
      console.log(`  ✗ ${e.tool} denied: ${e.text}`);
      break;
    default:
      break;
  }
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

  const socket = io(new URL('/console', opts.server).toString(), { auth: { token: opts.key }, transports: ['websocket'] });
  socket.on('session:event', (e: SessionEvent) => printEvent(e));
  await socket.timeout(5000).emitWithAck('session:subscribe', { sessionId }).catch(() => undefined);

  try {
    const sent = await api<{ turnId: string }>(opts.server, opts.key, 'POST', `/v1/sessions/${sessionId}/messages`, { text: message });
    if (sent.status !== 202) throw new CliError(`message refused: ${errorText(sent.json)}`);
    const { turnId } = sent.json;
    const deadline = Date.now() + 10 * 60_000;
    while (Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 750));
      const got = await api<{ turns: TurnState[]; stateError?: string }>(opts.server, opts.key, 'GET', `/v1/sessions/${sessionId}`);
      const turn = got.json.turns?.find((t) => t.turnId === turnId);
      if (turn?.status === 'answered') {
        console.log(`\n${turn.answer}`);
        return 0;
      }
      if (turn?.status === 'failed') throw new CliError(`the turn failed: ${turn.error}`);
    }
    throw new CliError('no answer within 10 minutes; the turn is still running (see the Temporal UI)');
  } finally {
    socket.disconnect();
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
    },
  });
  const [command, ...rest] = positionals;
  if (command !== 'ask' || rest.length === 0) {
    throw new CliError('usage: npm run copilot -- ask "<message>" [--org <slug>] [--new]');
  }
  const org = values.org!;
  const key = await apiKeyFor(env.DATA_DIR, values['api-key'] ?? env.GATEHOUSE_API_KEY, org);
  return ask(rest.join(' '), { server: values.server ?? env.GATEHOUSE_SERVER_URL, org, key, fresh: values.new!, dataDir: env.DATA_DIR });
}

main()
  .then((code) => process.exit(code))
  .catch((err: unknown) => {
    console.error(`copilot: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(err instanceof CliError ? 1 : 2);
  });
