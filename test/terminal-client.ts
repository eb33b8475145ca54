/**
 * A browser-less terminal client for tests and the bench: a real Socket.IO client on `/terminal` with an API key,
 * speaking common/terminal-protocol.ts, and the steps around it (ask for a terminal, have it approved).
 */
import { io, type Socket } from 'socket.io-client';
import {
  TERMINAL_PROTOCOL_VERSION,
  type TerminalClientEvents,
  type TerminalClosed,
  type TerminalConnected,
  type TerminalOpenAck,
  type TerminalServerEvents,
} from '../common/terminal-protocol';
import type { TestSystem } from './harness';
import { waitUntil } from './harness';

export interface TerminalClient {
  socket: Socket<TerminalServerEvents, TerminalClientEvents>;
  /** The answer to `terminal:open`. */
  opened: Promise<TerminalOpenAck>;
  /** Resolves with `terminal:connected` (the PTY is open on the endpoint). */
  connected: Promise<TerminalConnected>;
  closed: Promise<TerminalClosed>;
  /** Everything shown so far, decoded as UTF-8. */
  text(): string;
  bytes(): number;
  notices: string[];
  send(data: string): void;
  resize(cols: number, rows: number): void;
  close(): void;
  /** Stop (false) or resume (true) acknowledging output, as a browser that stopped drawing would. */
  acking(on: boolean): void;
  /** Waits until the output (from `from` on) matches. */
  waitFor(match: string | RegExp, what?: string, timeoutMs?: number, from?: number): Promise<void>;
  disconnect(): void;
}

/** `keep`: how much of the output `text()` keeps (the tail); a benchmark moving megabytes keeps little. */
export function openTerminal(url: string, key: string, terminalId: string, size = { cols: 80, rows: 24 }, keep = Infinity): TerminalClient {
  const socket: Socket<TerminalServerEvents, TerminalClientEvents> = io(new URL('/terminal', url).toString(), { auth: { token: key }, transports: ['websocket'], reconnection: false });
  const decoder = new TextDecoder();
  let text = '';
  let bytes = 0;
  let ackOn = true;
  const held: (() => void)[] = [];
  const notices: string[] = [];
  socket.on('terminal:output', (msg, ack) => {
    const data = msg.data instanceof Uint8Array ? msg.data : new Uint8Array(msg.data as ArrayBuffer);
    bytes += data.byteLength;
    text += decoder.decode(data, { stream: true });
    if (text.length > keep * 2) text = text.slice(-keep);
    if (ackOn) ack({ ok: true });
    else held.push(() => ack({ ok: true }));
  });
  socket.on('terminal:notice', (n) => notices.push(n.text));
  const connected = new Promise<TerminalConnected>((resolve) => socket.once('terminal:connected', resolve));
  const closed = new Promise<TerminalClosed>((resolve) => socket.once('terminal:closed', resolve));
  const opened = socket.timeout(15_000).emitWithAck('terminal:open', { v: TERMINAL_PROTOCOL_VERSION, terminalId, ...size });
  return {
    socket,
    opened,
    connected,
    closed,
    text: () => text,
    bytes: () => bytes,
    notices,
    send: (data) => socket.emit('terminal:input', { v: TERMINAL_PROTOCOL_VERSION, data }, () => undefined),
    resize: (cols, rows) => socket.emit('terminal:resize', { v: TERMINAL_PROTOCOL_VERSION, cols, rows }),
    close: () => socket.emit('terminal:close', { v: TERMINAL_PROTOCOL_VERSION }),
    acking(on) {
      ackOn = on;
      if (on) for (const release of held.splice(0)) release();
    },
    async waitFor(match, what, timeoutMs = 20_000, from = 0) {
      const hit = () => (typeof match === 'string' ? text.indexOf(match, from) >= 0 : match.test(text.slice(from)));
      const deadline = Date.now() + timeoutMs;
      while (!hit()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what ?? String(match)}; the terminal shows: ${JSON.stringify(text.slice(-500))}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    disconnect: () => socket.disconnect(),
  };
}

/** A technician asks for a terminal on a device; answers the request's id. */
export async function askForTerminal(sys: TestSystem, key: string, deviceId: string, body: { reason: string; windowSeconds?: number } = { reason: 'investigate the print queue' }): Promise<string> {
  const res = await sys.request('POST', `/v1/devices/${deviceId}/terminals`, { key, body });
  if (res.status !== 201) throw new Error(`terminal not requested: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.id as string;
}

/** The request's approval, once its workflow has asked for it. */
export async function approvalOfTerminal(sys: TestSystem, terminalId: string): Promise<{ id: string; digest: string; confirmationPhrase: string | null; tier: number }> {
  let found: { id: string; digest: string; confirmationPhrase: string | null; tier: number } | null = null;
  await waitUntil(async () => {
    found = await sys.prisma.approval.findFirst({ where: { sessionId: terminalId } });
    return found !== null;
  }, 'the terminal request to ask for an approval');
  return found!;
}

/** The org's approver approves it (typing the device name for T4), and the grant opens. */
export async function approveTerminal(sys: TestSystem, terminalId: string, approverKey = sys.keyOf('approver')): Promise<void> {
  const approval = await approvalOfTerminal(sys, terminalId);
  const res = await sys.request('POST', `/v1/approvals/${approval.id}/decision`, {
    key: approverKey,
    body: { decision: 'approve', digest: approval.digest, reason: 'go ahead', ...(approval.confirmationPhrase ? { confirmation: approval.confirmationPhrase } : {}) },
  });
  if (res.status !== 200 && res.status !== 202) throw new Error(`not approved: ${res.status} ${JSON.stringify(res.body)}`);
  await waitUntil(async () => (await sys.prisma.terminalSession.findUnique({ where: { id: terminalId } }))?.status === 'approved', 'the terminal grant to open');
}
