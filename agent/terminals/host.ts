/**
 * The agent's terminals: PTYs the api opens over the `/agents` connection (common/terminal-protocol.ts).
 *
 * - Opened only by a `terminal:open` the api signed (the same Ed25519 key as commands) with the digest of the
 *   approval that granted it; the acknowledgement is the agent's "connected": the PTY is open.
 * - At most `max` at a time; each closes by itself at the end of its approval window (signed `expiresAt`), after
 *   `idleSeconds` without input or output, when the api says so, and when the connection to the api drops.
 * - Output goes in frames of at most TERMINAL_FRAME_BYTES, each acknowledged; while TERMINAL_OUTPUT_WINDOW bytes
 *   wait for an acknowledgement the PTY is paused, so a flood on the endpoint waits for the technician's browser.
 */
import type { Socket } from 'socket.io-client';
import { verifyCommand } from '../../cage/command-signing';
import type { AgentToServerEvents, ServerToAgentEvents } from '../../common/protocol';
import {
  AgentTerminalClose,
  AgentTerminalInput,
  AgentTerminalOpen,
  AgentTerminalResize,
  signedTerminalOpen,
  TERMINAL_FRAME_BYTES,
  TERMINAL_OUTPUT_WINDOW,
  TERMINAL_PROTOCOL_VERSION,
  TerminalEnd,
  type AgentInputAck,
  type AgentTerminalOpenAck,
} from '../../common/terminal-protocol';
import type { Logger } from '../../lib/logger';
import type { Pty, PtyFactory } from './pty';

export interface TerminalHostOptions {
  deviceId: string;
  /** The api's public key (from enrollment): every open must be signed with it. */
  commandKey?: string;
  spawn: PtyFactory;
  /** At most this many terminals at once on this device. */
  max: number;
  logger: Logger;
}

interface Live {
  id: string;
  pty: Pty;
  inFlight: number;
  paused: boolean;
  ending: TerminalEnd | null;
  timers: NodeJS.Timeout[];
  idle: NodeJS.Timeout | undefined;
  /**
   * Input and resizes, applied one after another in the order they came: an input waits for the echo state to be
   * read before it is written (see the `terminal:input` handler), and nothing after it may overtake it.
   */
  applied: Promise<void>;
}

export interface TerminalHost {
  count(): number;
  closeAll(reason: TerminalEnd): void;
}

export function attachTerminals(socket: Socket<ServerToAgentEvents, AgentToServerEvents>, opts: TerminalHostOptions): TerminalHost {
  const live = new Map<string, Live>();
  const { logger } = opts;

  const end = (t: Live, reason: TerminalEnd) => {
    if (t.ending) return;
    t.ending = reason;
    t.pty.kill();
  };

  const touch = (t: Live, idleSeconds: number) => {
    clearTimeout(t.idle);
    t.idle = setTimeout(() => end(t, TerminalEnd.Idle), idleSeconds * 1000);
    t.idle.unref();
  };

  const send = (t: Live, data: Buffer, idleSeconds: number) => {
    touch(t, idleSeconds);
    for (let at = 0; at < data.length; at += TERMINAL_FRAME_BYTES) {
      const frame = data.subarray(at, at + TERMINAL_FRAME_BYTES);
      t.inFlight += frame.length;
      socket.emit('terminal:output', { v: TERMINAL_PROTOCOL_VERSION, id: t.id, data: frame }, () => {
        t.inFlight -= frame.length;
        if (t.paused && t.inFlight <= TERMINAL_OUTPUT_WINDOW / 2) {
          t.paused = false;
          t.pty.resume();
        }
      });
    }
    if (!t.paused && t.inFlight >= TERMINAL_OUTPUT_WINDOW) {
      t.paused = true;
      t.pty.pause();
    }
  };

  const open = (raw: unknown): AgentTerminalOpenAck => {
    const parsed = AgentTerminalOpen.safeParse(raw);
    if (!parsed.success) return { ok: false, error: 'invalid terminal:open frame' };
    const msg = parsed.data;
    if (!opts.commandKey || !verifyCommand(opts.commandKey, signedTerminalOpen(msg, opts.deviceId), msg.signature)) {
      logger.error({ terminalId: msg.id }, 'refused to open a terminal: the signature does not verify');
      return { ok: false, error: 'the terminal request is not signed by the server this agent enrolled with' };
    }
    const remainingMs = new Date(msg.expiresAt).getTime() - Date.now();
    if (remainingMs <= 0) return { ok: false, error: 'the approval window of this terminal has ended' };
    if (live.has(msg.id)) return { ok: false, error: 'this terminal is already open' };
    if (live.size >= opts.max) return { ok: false, error: `this device already has ${opts.max} open terminals` };
    let pty: Pty;
    try {
      pty = opts.spawn({ cols: msg.cols, rows: msg.rows });
    } catch (err) {
      logger.error({ terminalId: msg.id, err: (err as Error).message }, 'could not open a pseudo-terminal');
      return { ok: false, error: 'the endpoint could not open a pseudo-terminal' };
    }
    const t: Live = { id: msg.id, pty, inFlight: 0, paused: false, ending: null, timers: [], idle: undefined, applied: Promise.resolve() };
    live.set(msg.id, t);
    // The window's end is the agent's own to enforce, whatever the api does (setTimeout's limit is ~24.8 days).
    const deadline = setTimeout(() => end(t, TerminalEnd.Window), Math.min(remainingMs, 2 ** 31 - 1));
    deadline.unref();
    t.timers.push(deadline);
    touch(t, msg.idleSeconds);
    pty.onData((data) => send(t, data, msg.idleSeconds));
    pty.onExit(({ exitCode }) => {
      live.delete(t.id);
      clearTimeout(t.idle);
      for (const timer of t.timers) clearTimeout(timer);
      const reason = t.ending ?? TerminalEnd.Exited;
      logger.info({ terminalId: t.id, reason, exitCode }, 'terminal closed');
      if (socket.connected) socket.emit('terminal:exit', { v: TERMINAL_PROTOCOL_VERSION, id: t.id, reason, exitCode: reason === TerminalEnd.Exited ? exitCode : null });
    });
    logger.info({ terminalId: msg.id, cols: msg.cols, rows: msg.rows }, 'terminal opened');
    return { ok: true };
  };

  socket.on('terminal:open', (raw: unknown, ack: unknown) => {
    const answer = open(raw);
    if (typeof ack === 'function') (ack as (a: AgentTerminalOpenAck) => void)(answer);
  });
  socket.on('terminal:input', (raw: unknown, ack: unknown) => {
    const reply = (a: AgentInputAck) => typeof ack === 'function' && (ack as (a: AgentInputAck) => void)(a);
    const msg = AgentTerminalInput.safeParse(raw);
    const t = msg.success ? live.get(msg.data.id) : undefined;
    if (!msg.success || !t || t.ending) return void reply({ ok: false, echo: true });
    // The echo state read before this input is written: a password typed at a prompt is recorded redacted. Written
    // only once that state is read: written at once, the program could take the input and change echo before the
    // state was read (on a loaded machine a shell's `exit` was recorded redacted; the other way round, a password
    // would be recorded as typed).
    const { data } = msg.data;
    t.applied = t.applied.then(async () => {
      const echo = await t.pty.echo().catch(() => false);
      if (t.ending) {
        reply({ ok: false, echo: true });
        return;
      }
      t.pty.write(data);
      reply({ ok: true, echo });
    }).catch(() => {
      // (A PTY that went away meanwhile: this input is lost, the next ones are still applied in turn.)
      reply({ ok: false, echo: true });
    });
  });
  socket.on('terminal:resize', (raw: unknown) => {
    const msg = AgentTerminalResize.safeParse(raw);
    const t = msg.success ? live.get(msg.data.id) : undefined;
    if (!msg.success || !t || t.ending) return;
    const { cols, rows } = msg.data;
    t.applied = t.applied
      .then(() => {
        if (!t.ending) t.pty.resize(cols, rows);
      })
      .catch(() => undefined);
  });
  socket.on('terminal:close', (raw: unknown) => {
    const msg = AgentTerminalClose.safeParse(raw);
    const t = msg.success ? live.get(msg.data.id) : undefined;
    if (msg.success && t) end(t, msg.data.reason);
  });
  // Nobody can watch or record a terminal while the api is away: it closes.
  socket.on('disconnect', () => {
    for (const t of live.values()) end(t, TerminalEnd.Disconnected);
  });

  return {
    count: () => live.size,
    closeAll(reason) {
      for (const t of live.values()) end(t, reason);
    },
  };
}
