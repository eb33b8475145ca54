/**
 * The agent's connection to `/agents`: receives commands, runs each at most once (the on-disk journal remembers
 * every command across reconnects and restarts; see journal.ts), and reports the result until the server
 * acknowledges it (results produced while disconnected, or before a restart, are sent after reconnecting). A
 * command's spooled full output (output-spool.ts) is uploaded, chunk by acknowledged chunk, before its result.
 * Reconnects with exponential back-off, full jitter and a cap (./backoff.ts), scheduled by the agent itself.
 */
import { io, type Socket } from 'socket.io-client';
import {
  CommandDispatch,
  FullOutput,
  OutputRefusal,
  OutputStream,
  PROTOCOL_VERSION,
  type AgentToServerEvents,
  type CommandOutputChunk,
  type CommandResult,
  type CommandResultAck,
  type ServerToAgentEvents,
} from '../common/protocol';
import type { Logger } from '../lib/logger';
import type { AgentCredentials } from './credentials';
import { CommandJournal } from './journal';
import { OutputSpool, outputDirOf } from './output-spool';
import { verifyCommand } from '../cage/command-signing';
import { commandNeedsApproval } from '../common/tools';
import { ExecutorError, type ExecutionContext, type Executor } from './executors/types';
import { AGENT_VERSION } from './version';
import { Backoff, type BackoffOptions } from './backoff';
import { contextOf, inSpan, markError, SpanKind, traceparentOf } from '../lib/tracing';
import { attachTerminals } from './terminals/host';
import type { PtyFactory } from './terminals/pty';
import { TerminalEnd } from '../common/terminal-protocol';

export interface AgentConnection {
  socket: Socket<ServerToAgentEvents, AgentToServerEvents>;
  stats(): { executed: number; invalidFrames: number; refusedCommands: number };
  /** Drops the connection and comes back after `ms` (a simulated reboot). */
  goOffline(ms: number): void;
  stop(): void;
}

/** How often results the gateway has not acknowledged are sent again while connected (above the 10 s ack wait). */
const RESEND_UNACKED_MS = 15_000;

/** How long a timed-out command gets to stop (its process tree killed) before its TIMEOUT is reported anyway. */
const STOP_GRACE_MS = 5000;

/**
 * Runs one command under its dispatch timeout. When the timeout fires the command is told to stop (an AbortSignal:
 * a script's whole process group is killed) and TIMEOUT is reported once it has stopped, so a retry under a new
 * command id never runs beside a copy that is still going.
 */
export async function execute(executor: Executor, cmd: CommandDispatch, ctx: ExecutionContext): Promise<CommandResult> {
  const startedAt = new Date().toISOString();
  const finish = (partial: Pick<CommandResult, 'ok' | 'output' | 'error'>): CommandResult => ({
    v: PROTOCOL_VERSION,
    commandId: cmd.commandId,
    startedAt,
    finishedAt: new Date().toISOString(),
    ...partial,
  });
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const running = Promise.resolve().then(() => executor[cmd.kind](cmd.params, { ...ctx, signal: abort.signal }));
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ExecutorError('TIMEOUT', `timed out after ${cmd.timeoutSeconds}s`)), cmd.timeoutSeconds * 1000);
    });
    const output = await Promise.race([running, timeout]);
    return finish({ ok: true, output });
  } catch (err) {
    const code = err instanceof ExecutorError ? err.code : 'EXECUTION_FAILED';
    if (code === 'TIMEOUT' && !abort.signal.aborted) {
      abort.abort();
      await Promise.race([running.catch(() => undefined), new Promise((r) => setTimeout(r, STOP_GRACE_MS).unref())]);
    }
    return finish({ ok: false, error: { code, message: (err as Error).message.slice(0, 2000) } });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * When an api node restarts, every agent it held loses its connection in the same instant. Each waits anywhere in
 * 0–5 s before its first attempt, then 0–10 s, then 0–15 s each (full jitter): a fleet of 20,000 comes back spread
 * over seconds instead of one herd. The cap is what an agent waits at most once the node is back: low enough that
 * the whole fleet returns within the minute, high enough to spread it (bench agent-memory's restart).
 */
export const RECONNECT: Readonly<Pick<BackoffOptions, 'baseMs' | 'capMs'>> = { baseMs: 5000, capMs: 15_000 };

/**
 * How long an attempt may go unanswered (no connection, no refusal, no error) before the agent drops it and tries
 * again. socket.io-client times out only the opening of its transport; a handshake the gateway never answered would
 * wait for good. Also how long the transport may take to open: a busy node's accept queue is slow, and an agent that
 * gives up after socket.io's default 20 s leaves a dead connection in the queue for the node to work through and
 * joins the back of it again (6,000 of 10,000 agents did, on a fleet's first start).
 */
export const HANDSHAKE_TIMEOUT_MS = 45_000;

export function connectAgent(opts: {
  credentials: AgentCredentials;
  /** The command journal's file (next to the credential). */
  journalFile: string;
  executor: Executor | ((conn: AgentConnection) => Executor);
  logger: Logger;
  onFatal?: (message: string) => void;
  /** Remote terminals on this endpoint (agent/terminals/): how a PTY is opened, and how many at once. */
  terminals?: { spawn: PtyFactory; max: number };
  /** The reconnection back-off (RECONNECT unless a test shortens it). */
  reconnect?: BackoffOptions;
  /** HANDSHAKE_TIMEOUT_MS unless a test shortens it. */
  handshakeTimeoutMs?: number;
}): AgentConnection {
  const handshakeTimeoutMs = opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
  const { credentials, logger } = opts;
  const socket: Socket<ServerToAgentEvents, AgentToServerEvents> = io(new URL('/agents', credentials.server).toString(), {
    auth: { v: PROTOCOL_VERSION, deviceId: credentials.deviceId, secret: credentials.secret, agentVersion: AGENT_VERSION },
    transports: ['websocket'],
    // Every attempt after the first is the agent's own (below): socket.io-client's back-off clips its jitter at the
    // maximum, so a fleet would retry in step (./backoff.ts).
    reconnection: false,
    timeout: handshakeTimeoutMs,
  });
  const backoff = new Backoff(opts.reconnect ?? RECONNECT);
  /** When the attempt in progress began; undefined while connected or waiting for the next attempt. */
  let attemptSince: number | undefined = Date.now();
  const journal = CommandJournal.open(opts.journalFile);
  const terminals = opts.terminals
    ? attachTerminals(socket, { deviceId: credentials.deviceId, commandKey: credentials.commandKey, spawn: opts.terminals.spawn, max: opts.terminals.max, logger })
    : undefined;
  // Spool files of results the server has acknowledged (or of commands that never finished) go at start.
  const spool = new OutputSpool(outputDirOf(opts.journalFile));
  spool.prune(journal.unacked());
  const running = new Set<string>();
  const counters = { executed: 0, invalidFrames: 0, refusedCommands: 0 };
  let stopped = false;
  /** The next attempt to connect, while one is scheduled. */
  let retry: NodeJS.Timeout | undefined;

  /**
   * A frame, acknowledged: sent again (bounded back-off) while the gateway does not answer or asks for it later (its
   * frame limit, a store it could not reach). 'disconnected' once the connection drops: it goes again on the next.
   */
  const acknowledged = async (send: () => Promise<CommandResultAck>): Promise<CommandResultAck | 'disconnected'> => {
    for (let attempt = 0; ; attempt++) {
      if (!socket.connected || stopped) return 'disconnected';
      try {
        const ack = await send();
        if (ack.accepted || ack.reason !== OutputRefusal.RetryLater) return ack;
      } catch {
        // no answer: a slow link, or a gateway that dropped the frame without saying
      }
      if (attempt >= 5) return { accepted: false, reason: 'no acknowledgement' };
      await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** attempt, 30_000)));
    }
  };
  const sendChunk = (chunk: CommandOutputChunk) => acknowledged(() => socket.timeout(30_000).emitWithAck('command:output', chunk));

  /**
   * Uploads what the result says was spooled, before the result itself (the gateway takes chunks only while the
   * command is unfinished). False when the connection dropped: all of it goes again on the next connect (chunks are
   * idempotent). A refused chunk ends the upload; the result still goes, and the server says what it lacks.
   */
  const uploadOutput = async (result: CommandResult): Promise<boolean> => {
    const described = FullOutput.safeParse((result.output as { fullOutput?: unknown } | undefined)?.fullOutput);
    if (!result.ok || !described.success) return true;
    for (const stream of OutputStream.options) {
      for await (const { seq, data } of spool.chunks(result.commandId, stream, described.data[stream].bytes)) {
        const ack = await sendChunk({ v: PROTOCOL_VERSION, commandId: result.commandId, stream, seq, data });
        if (ack === 'disconnected') return false;
        if (!ack.accepted) {
          logger.warn({ commandId: result.commandId, stream, seq, reason: ack.reason }, 'the server did not take the full output');
          return true;
        }
      }
    }
    return true;
  };

  /** The result, acknowledged (as a chunk is); one the gateway never took goes again at the next resend or connect. */
  const sendResult = async (commandId: string) => {
    const result = journal.result(commandId);
    if (!result || !socket.connected) return;
    // A spool that cannot be read leaves the result for the next resend, as a dropped connection does.
    if (!(await uploadOutput(result).catch(() => false))) return;
    const ack = await acknowledged(() => socket.timeout(10_000).emitWithAck('command:result', result));
    if (ack === 'disconnected') return;
    if (ack.accepted || ack.reason === OutputRefusal.UnknownCommand) {
      spool.remove(commandId);
      // Not on disk: the result goes again after a restart, and the gateway knows it already.
      await journal.acked(commandId).catch((err: unknown) => logger.warn({ commandId, err: (err as Error).message }, 'could not journal the acknowledgement'));
    }
    if (!ack.accepted) logger.warn({ commandId, reason: ack.reason }, 'server did not accept the result');
  };
  // One report per command at a time; asked again meanwhile (a reconnect), it runs once more after.
  const reporting = new Map<string, Promise<void>>();
  const again = new Set<string>();
  const report = (commandId: string): Promise<void> => {
    const inFlight = reporting.get(commandId);
    if (inFlight) {
      again.add(commandId);
      return inFlight;
    }
    const run = sendResult(commandId).finally(() => {
      reporting.delete(commandId);
      if (again.delete(commandId) && !journal.isAcked(commandId)) void report(commandId);
    });
    reporting.set(commandId, run);
    return run;
  };

  socket.on('connect', () => {
    backoff.reset();
    clearTimeout(retry);
    retry = undefined;
    attemptSince = undefined;
    logger.info({ deviceId: credentials.deviceId, server: credentials.server }, 'connected to the gateway');
    for (const id of journal.unacked()) void report(id);
  });
  // A result the gateway did not take while the connection stayed up (it could not record it, or dropped the frame
  // because its rate-limit store was away) is offered again, not only on the next connect.
  const resend = setInterval(() => {
    if (socket.connected) for (const id of journal.unacked()) void report(id);
  }, RESEND_UNACKED_MS);
  resend.unref();
  /**
   * Connects again after the back-off's next delay: one attempt scheduled at a time, none once stopped or connected.
   * Every lost or refused connection comes here (the client's own reconnection is off).
   */
  const retryLater = (why: string) => {
    attemptSince = undefined;
    if (stopped || retry) return;
    const delay = backoff.next();
    logger.warn({ why, retryInMs: Math.round(delay), attempt: backoff.attempts }, 'connecting again later');
    retry = setTimeout(() => {
      retry = undefined;
      if (stopped || socket.connected) return;
      attemptSince = Date.now();
      socket.connect();
    }, delay);
  };
  // An attempt that nothing answered: dropped (which closes its transport) and made again after the back-off.
  const watchdog = setInterval(() => {
    if (stopped || socket.connected || retry || attemptSince === undefined || Date.now() - attemptSince < handshakeTimeoutMs) return;
    socket.disconnect();
    retryLater(`no answer to the handshake in ${Math.round(handshakeTimeoutMs / 1000)} s`);
  }, handshakeTimeoutMs / 3);
  watchdog.unref();
  socket.on('disconnect', (reason) => {
    logger.warn({ reason }, 'disconnected from the gateway');
    // The agent's own disconnect (stop, a simulated reboot) decides itself when to come back. Anything else (the
    // server closed the connection: an api node shutting down, or one that dropped this agent; the network; a
    // handshake the server did not finish in time) comes back after the back-off. A device that was revoked
    // meanwhile is refused at the handshake and stops there (below).
    if (reason !== 'io client disconnect') retryLater(`disconnected: ${reason}`);
  });
  socket.on('connect_error', (err) => {
    if (stopped) return;
    // Refused by the server's middleware for the credential itself: trying again cannot help.
    if (/invalid agent credentials/.test(err.message)) {
      attemptSince = undefined;
      logger.error('the gateway refused this device credential (revoked or unknown); enroll again');
      opts.onFatal?.('credential refused');
      return;
    }
    retryLater(`could not connect: ${err.message}`);
  });
  socket.on('protocol:error', (msg) => logger.warn({ reason: msg?.reason }, 'the gateway dropped a frame of ours'));

  socket.on('command:dispatch', (raw: unknown) => {
    const parsed = CommandDispatch.safeParse(raw);
    if (!parsed.success) {
      counters.invalidFrames += 1;
      logger.warn({ issue: parsed.error.issues[0]?.message }, 'dropped an invalid command frame');
      return;
    }
    const cmd = parsed.data;
    if (!credentials.commandKey || !verifyCommand(credentials.commandKey, { ...cmd, deviceId: credentials.deviceId }, cmd.signature)) {
      // Unsigned, altered, meant for another device, or signed by another server: never runs. Said so, not journaled.
      counters.refusedCommands += 1;
      const why = credentials.commandKey ? 'the command signature does not verify' : 'this credential has no server key to verify commands with; enroll again';
      logger.error({ commandId: cmd.commandId, kind: cmd.kind }, `refused a command: ${why}`);
      return refuse(cmd.commandId, 'BAD_SIGNATURE', why);
    }
    if (!cmd.approvalDigest && commandNeedsApproval(cmd.kind, cmd.params)) {
      // The signature proves the gateway sent it, not that a human approved it: a kind that is T3/T4 by default
      // runs only with the approval digest the gateway signs in. Said so, not journaled.
      counters.refusedCommands += 1;
      logger.error({ commandId: cmd.commandId, kind: cmd.kind }, 'refused a command that needs an approval and carries none');
      return refuse(cmd.commandId, 'APPROVAL_MISSING', 'this kind of command runs only with the digest of a human approval, and none came with it');
    }
    if (journal.result(cmd.commandId)) return void report(cmd.commandId); // redelivered: answer, never rerun
    if (running.has(cmd.commandId) || journal.seen(cmd.commandId)) return;
    if (new Date(cmd.expiresAt) <= new Date()) return; // past its TTL: never runs
    running.add(cmd.commandId);
    void run(cmd);
  });

  /** Runs a command once its start is on disk, then journals and reports its result. */
  const run = async (cmd: CommandDispatch) => {
    try {
      await journal.started(cmd.commandId, cmd.kind);
    } catch (err) {
      // Without its start on disk nothing could prove later that it ran: it does not run.
      running.delete(cmd.commandId);
      logger.error({ commandId: cmd.commandId, err: (err as Error).message }, 'the command journal cannot be written; refused the command');
      return refuse(cmd.commandId, 'JOURNAL_UNAVAILABLE', 'the agent cannot write its command journal, so it ran nothing');
    }
    logger.info({ commandId: cmd.commandId, kind: cmd.kind }, 'running command');
    // Its span continues the gateway's dispatch; the result carries it back (and keeps it in the journal, so a result
    // sent again after a restart still joins its trace). Kind and outcome only: never the params or the output.
    const result = await inSpan(
      `command:execute ${cmd.kind}`,
      { parent: contextOf(cmd.trace?.traceparent), kind: SpanKind.CONSUMER, attributes: { 'gatehouse.command.id': cmd.commandId, 'gatehouse.command.kind': cmd.kind } },
      async (span) => {
        const done = await execute(executor, cmd, { output: spool.files(cmd.commandId) });
        span.setAttribute('gatehouse.command.ok', done.ok);
        if (!done.ok) markError(span);
        const traceparent = traceparentOf();
        return traceparent ? { ...done, trace: { traceparent } } : done;
      },
    );
    running.delete(cmd.commandId);
    counters.executed += 1;
    await journal.finished(result).catch((err: unknown) => logger.error({ commandId: cmd.commandId, err: (err as Error).message }, 'could not journal the result; reporting it anyway'));
    await report(cmd.commandId);
  };

  /** A command that did not run, answered once and not journaled (it may come again, and is refused again). */
  const refuse = (commandId: string, code: string, message: string) => {
    const now = new Date().toISOString();
    void socket
      .timeout(10_000)
      .emitWithAck('command:result', { v: PROTOCOL_VERSION, commandId, ok: false, error: { code, message }, startedAt: now, finishedAt: now })
      .catch(() => undefined);
  };

  const connection: AgentConnection = {
    socket,
    stats: () => ({ ...counters }),
    goOffline(ms) {
      clearTimeout(retry);
      retry = undefined;
      attemptSince = undefined;
      socket.disconnect();
      setTimeout(() => {
        if (stopped || socket.connected || retry) return;
        attemptSince = Date.now();
        socket.connect();
      }, ms);
    },
    stop() {
      stopped = true;
      clearTimeout(retry);
      clearInterval(watchdog);
      clearInterval(resend);
      terminals?.closeAll(TerminalEnd.AgentGone);
      socket.disconnect();
      void journal.close().catch(() => undefined);
    },
  };
  // Built last: a simulated executor needs the connection (to go offline while it "reboots").
  const executor = typeof opts.executor === 'function' ? opts.executor(connection) : opts.executor;
  return connection;
}
