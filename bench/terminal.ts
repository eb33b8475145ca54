/**
 * bench/terminal: the remote terminal against the real system with the real Linux agent process (a real PTY).
 *   npm run bench -- terminal [--n 300]
 *
 * - Keystroke to echo: a browser-less Socket.IO client on `/terminal` types one character at a time into `cat`
 *   (the kernel echoes it) and times each until its echo arrives, p50/p99; next to, in the same run, the raw
 *   Socket.IO round trips the path is made of: client ↔ api (an event the namespace answers at once) and api ↔ the
 *   same agent process (a terminal frame it answers at once), and their sum.
 * - Throughput: `cat` of a 64 MiB file through the terminal (recorded, acknowledged end to end), MB/s; next to the
 *   same file piped by `cat` into a raw TCP socket on loopback.
 * - Memory per open terminal on the api: heap after a full GC with N idle `/terminal` connections, then with a
 *   terminal open on each (relay, recorder, agent hop), per terminal; the connections' own cost is shown apart.
 *   The bench's clients live in the api's process, so the connection figure includes both ends of each socket.
 */
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { io } from 'socket.io-client';
import { TERMINAL_PROTOCOL_VERSION } from '../common/terminal-protocol';
import { startTestSystem, waitUntil, type TestSystem } from '../test/harness';
import { approveTerminal, askForTerminal, openTerminal, type TerminalClient } from '../test/terminal-client';
import { emit, summarize } from './stats';

const FILE_MB = 64;
const MEMORY_TERMINALS = 20;

const heapMb = () => {
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage().heapUsed / (1024 * 1024);
};

async function newTerminal(sys: TestSystem, deviceId: string, windowSeconds = 3600): Promise<TerminalClient> {
  const id = await askForTerminal(sys, sys.keyOf('technician'), deviceId, { reason: 'benchmark', windowSeconds });
  await approveTerminal(sys, id);
  const term = openTerminal(sys.url, sys.keyOf('technician'), id, { cols: 200, rows: 50 }, 64 * 1024);
  await term.connected;
  await term.waitFor(/[$#] $/, 'the prompt');
  return term;
}

/** client ↔ api: an event `/terminal` does not have is answered by its middleware at once. */
async function clientRoundTrips(sys: TestSystem, n: number): Promise<number[]> {
  const socket = io(new URL('/terminal', sys.url).toString(), { auth: { token: sys.keyOf('technician') }, transports: ['websocket'] });
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await socket.timeout(5000).emitWithAck('terminal:ping', {});
    out.push(performance.now() - t0);
  }
  socket.close();
  return out;
}

/** api ↔ agent: input for a terminal the agent does not have is answered at once. */
async function agentRoundTrips(sys: TestSystem, deviceId: string, n: number): Promise<number[]> {
  const agent = sys.api.gateway.live(deviceId);
  if (!agent) throw new Error('the agent is not connected to this api');
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await agent.timeout(5000).emitWithAck('terminal:input', { v: TERMINAL_PROTOCOL_VERSION, id: crypto.randomUUID(), data: 'x' });
    out.push(performance.now() - t0);
  }
  return out;
}

async function keystrokes(term: TerminalClient, n: number): Promise<number[]> {
  term.send('stty -icanon; cat >/dev/null\r');
  await new Promise((r) => setTimeout(r, 500));
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const ch = String.fromCharCode(97 + (i % 26));
    const before = term.bytes();
    const t0 = performance.now();
    term.send(ch);
    while (term.bytes() === before) await new Promise((r) => setImmediate(r));
    out.push(performance.now() - t0);
  }
  term.send('\x03');
  return out;
}

async function terminalThroughput(term: TerminalClient, file: string): Promise<number> {
  const start = term.bytes();
  const t0 = performance.now();
  term.send(`cat ${file}; echo cat-done-$((6*7))\r`);
  await term.waitFor(/cat-done-42/, 'cat to finish', 600_000);
  const seconds = (performance.now() - t0) / 1000;
  return (term.bytes() - start) / (1024 * 1024) / seconds;
}

async function rawSocketThroughput(file: string): Promise<number> {
  let received = 0;
  const server = net.createServer((s) => s.on('data', (d: Buffer) => (received += d.length)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const t0 = performance.now();
  await new Promise<void>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      const cat = spawn('cat', [file], { stdio: ['ignore', 'pipe', 'inherit'] });
      cat.stdout.pipe(socket);
      cat.on('error', reject);
    });
    socket.on('error', reject);
    socket.on('close', () => resolve());
  });
  await waitUntil(async () => received >= FILE_MB * 1024 * 1024, 'the raw socket to receive the file', 60_000);
  const seconds = (performance.now() - t0) / 1000;
  server.close();
  return received / (1024 * 1024) / seconds;
}

export async function runTerminalBench(n: number): Promise<void> {
  const sys = await startTestSystem({ agent: true, env: { TERMINAL_MAX_PER_DEVICE: '64', RATE_WINDOW_SCALE: '0.001', TERMINAL_RECORDING_MAX_MB: '512' } });
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-bench-terminal-'));
  try {
    const deviceId = sys.agent!.deviceId;
    const term = await newTerminal(sys, deviceId);

    const client = summarize(await clientRoundTrips(sys, n));
    emit({ bench: 'terminal', phase: 'raw client-api round trip', ...client });
    const agent = summarize(await agentRoundTrips(sys, deviceId, n));
    emit({ bench: 'terminal', phase: 'raw api-agent round trip', ...agent });
    const echo = summarize(await keystrokes(term, n));
    emit({ bench: 'terminal', phase: 'keystroke to echo', ...echo });

    const file = path.join(dir, 'big.txt');
    const line = `${'0123456789abcdef'.repeat(7)}\n`;
    await writeFile(file, line.repeat(Math.ceil((FILE_MB * 1024 * 1024) / line.length)).slice(0, FILE_MB * 1024 * 1024));
    const raw = await rawSocketThroughput(file);
    emit({ bench: 'terminal', phase: 'raw socket throughput', mbPerSecond: Math.round(raw * 10) / 10 });
    const through = await terminalThroughput(term, file);
    emit({ bench: 'terminal', phase: 'cat through the terminal', mbPerSecond: Math.round(through * 10) / 10 });
    term.send('exit\r');
    await term.closed;
    term.disconnect();

    // Memory: N idle connections, then a terminal open on each.
    await new Promise((r) => setTimeout(r, 1000));
    const base = heapMb();
    const ids: string[] = [];
    for (let i = 0; i < MEMORY_TERMINALS; i++) {
      const id = await askForTerminal(sys, sys.keyOf('technician'), deviceId, { reason: 'benchmark memory', windowSeconds: 3600 });
      await approveTerminal(sys, id);
      ids.push(id);
    }
    const grants = heapMb();
    const sockets = ids.map(() => io(new URL('/terminal', sys.url).toString(), { auth: { token: sys.keyOf('technician') }, transports: ['websocket'] }));
    await Promise.all(sockets.map((s) => new Promise<void>((resolve) => s.once('connect', () => resolve()))));
    await new Promise((r) => setTimeout(r, 500));
    const connected = heapMb();
    const opened: Promise<unknown>[] = [];
    sockets.forEach((s, i) => {
      s.on('terminal:output', (_m: unknown, ack: (a: { ok: boolean }) => void) => ack({ ok: true }));
      opened.push(new Promise((resolve) => s.once('terminal:connected', resolve)));
      s.emit('terminal:open', { v: TERMINAL_PROTOCOL_VERSION, terminalId: ids[i]!, cols: 120, rows: 40 }, () => undefined);
    });
    await Promise.all(opened);
    await new Promise((r) => setTimeout(r, 2000));
    const open = heapMb();
    const perTerminalKb = ((open - connected) * 1024) / MEMORY_TERMINALS;
    const perConnectionKb = ((connected - grants) * 1024) / MEMORY_TERMINALS;
    emit({ bench: 'terminal', phase: 'memory', terminals: MEMORY_TERMINALS, heapMb: { base: round(base), connected: round(connected), open: round(open) }, perTerminalKb: round(perTerminalKb), perConnectionKb: round(perConnectionKb) });
    for (const s of sockets) s.close();

    emit({
      bench: 'terminal',
      summary: true,
      keystrokeEchoMs: { p50: echo.p50, p99: echo.p99 },
      rawRoundTripMs: { clientApi: { p50: client.p50, p99: client.p99 }, apiAgent: { p50: agent.p50, p99: agent.p99 }, sumP50: round(client.p50 + agent.p50) },
      echoOverRawP50: round(echo.p50 / (client.p50 + agent.p50)),
      catMbPerSecond: round(through),
      rawSocketMbPerSecond: round(raw),
      catOverRaw: round(through / raw),
      apiKbPerOpenTerminal: round(perTerminalKb),
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
    await sys.stop();
  }
}

const round = (x: number) => Math.round(x * 100) / 100;
