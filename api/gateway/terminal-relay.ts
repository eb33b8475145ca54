/**
 * One live terminal on this api node: the browser's `/terminal` socket on one side, the device's `/agents` socket on
 * the other, the recorder in between.
 *
 * The connected acknowledgment: the relay is `opening` until the agent answers `terminal:open` with ok. Until then
 * nothing but the open itself reaches the agent: input and resizes the browser sends early are held, in order, and
 * sent in that order once the PTY is open (a resize before the PTY existed was one of the hardest bugs of the system
 * this reproduces). The browser hears `terminal:connected` only then.
 *
 * Flow control: the agent sends at most a window of output without an acknowledgement; the relay acknowledges a
 * frame once the browser has acknowledged it and the recording is not behind, so this node holds at most a window per
 * terminal. Input waits in one bounded queue (TERMINAL_INPUT_BUFFER) and goes to the agent at most INPUT_IN_FLIGHT
 * bytes at a time; past the bound it is dropped, and the browser told.
 */
import {
  TERMINAL_INPUT_BUFFER,
  TERMINAL_OUTPUT_WINDOW,
  TERMINAL_PROTOCOL_VERSION,
  TerminalEnd,
  type AgentInputAck,
  type AgentTerminalOpenAck,
  type FrameAck,
  type TerminalServerEvents,
  type TerminalClientEvents,
} from '../../common/terminal-protocol';
import { signCommand, type SigningKey } from '../../cage/command-signing';
import { signedTerminalOpen } from '../../common/terminal-protocol';
import type { Socket } from 'socket.io';
import type { AgentSocket } from './agent-sockets';
import type { TerminalRecorder } from './terminal-recorder';

const INPUT_IN_FLIGHT = 16 * 1024;
const AGENT_ACK_MS = 15_000;

type Queued = { kind: 'input'; data: string } | { kind: 'resize'; cols: number; rows: number };
export type RelayState = 'opening' | 'open' | 'closed';

export type BrowserSocket = Socket<TerminalClientEvents, TerminalServerEvents>;

export interface RelayHooks {
  /** The PTY is open on the endpoint. */
  opened(relay: TerminalRelay): void;
  resized(relay: TerminalRelay, cols: number, rows: number): void;
  /** The terminal ended (once): `byCage` when a kill switch, revoke, window or limit closed it. */
  ended(relay: TerminalRelay, end: { reason: TerminalEnd; exitCode: number | null; byCage: boolean }): void;
}

export class TerminalRelay {
  state: RelayState = 'opening';
  private readonly queue: Queued[] = [];
  private queuedBytes = 0;
  private inputInFlight = 0;
  private readonly inputAcks = new Set<Promise<unknown>>();
  private outputHeld = 0;
  private windowTimer: NodeJS.Timeout | undefined;
  private ending: { reason: TerminalEnd; byCage: boolean } | null = null;
  private exitFallback: NodeJS.Timeout | undefined;
  cols: number;
  rows: number;

  constructor(
    readonly id: string,
    readonly terminalSessionId: string,
    readonly orgId: string,
    readonly deviceId: string,
    readonly userId: string,
    readonly windowEndsAt: Date,
    private readonly browser: BrowserSocket,
    private readonly agent: AgentSocket,
    readonly recorder: TerminalRecorder,
    private readonly hooks: RelayHooks,
    size: { cols: number; rows: number },
  ) {
    this.cols = size.cols;
    this.rows = size.rows;
  }

  /** Asks the agent for the PTY (signed, with the approval's digest); the answer is the connected acknowledgment. */
  start(signing: SigningKey, open: { approvalDigest: string; idleSeconds: number }): void {
    const frame = { id: this.id, cols: this.cols, rows: this.rows, idleSeconds: open.idleSeconds, expiresAt: this.windowEndsAt.toISOString(), approvalDigest: open.approvalDigest };
    const signature = signCommand(signing, signedTerminalOpen(frame, this.deviceId));
    this.windowTimer = setTimeout(() => this.kill(TerminalEnd.Window), Math.max(0, Math.min(this.windowEndsAt.getTime() - Date.now(), 2 ** 31 - 1)));
    this.agent
      .timeout(AGENT_ACK_MS)
      .emitWithAck('terminal:open', { v: TERMINAL_PROTOCOL_VERSION, ...frame, signature })
      .then(
        (ack: AgentTerminalOpenAck) => this.onOpened(ack),
        () => this.onOpened({ ok: false, error: 'the device did not answer' }),
      );
  }

  private onOpened(ack: AgentTerminalOpenAck): void {
    if (this.state !== 'opening') return;
    if (!ack.ok) return this.end(TerminalEnd.Failed, null, false, ack.error ?? 'the device could not open a terminal');
    this.state = 'open';
    this.hooks.opened(this);
    this.browser.emit('terminal:connected', {
      v: TERMINAL_PROTOCOL_VERSION,
      recordingId: this.id,
      cols: this.cols,
      rows: this.rows,
      windowEndsAt: this.windowEndsAt.toISOString(),
      device: this.recorder.meta.deviceName,
    });
    this.pump();
  }

  /** Input from the browser: held in order until the PTY is open and the agent has room; dropped past the bound. */
  input(data: string): boolean {
    if (this.state === 'closed' || this.ending) return false;
    const size = Buffer.byteLength(data);
    if (this.queuedBytes + size > TERMINAL_INPUT_BUFFER) {
      this.browser.emit('terminal:notice', { v: TERMINAL_PROTOCOL_VERSION, text: 'input dropped: the device is not keeping up with what you send' });
      return false;
    }
    this.queue.push({ kind: 'input', data });
    this.queuedBytes += size;
    this.pump();
    return true;
  }

  resize(cols: number, rows: number): void {
    if (this.state === 'closed' || this.ending) return;
    this.queue.push({ kind: 'resize', cols, rows });
    this.pump();
  }

  private pump(): void {
    while (this.state === 'open' && !this.ending && this.queue.length > 0) {
      const next = this.queue[0]!;
      if (next.kind === 'resize') {
        this.queue.shift();
        this.cols = next.cols;
        this.rows = next.rows;
        this.agent.emit('terminal:resize', { v: TERMINAL_PROTOCOL_VERSION, id: this.id, cols: next.cols, rows: next.rows });
        this.recorder.resize(next.cols, next.rows);
        this.hooks.resized(this, next.cols, next.rows);
        continue;
      }
      const size = Buffer.byteLength(next.data);
      if (this.inputInFlight > 0 && this.inputInFlight + size > INPUT_IN_FLIGHT) return;
      this.queue.shift();
      this.queuedBytes -= size;
      this.inputInFlight += size;
      const acked = this.agent
        .timeout(AGENT_ACK_MS)
        .emitWithAck('terminal:input', { v: TERMINAL_PROTOCOL_VERSION, id: this.id, data: next.data })
        .then(
          (ack: AgentInputAck) => {
            // Recorded when the endpoint took it, redacted when its terminal did not echo.
            if (ack.ok) this.recorder.input(next.data, ack.echo);
          },
          () => undefined,
        )
        .finally(() => {
          this.inputAcks.delete(acked);
          this.inputInFlight -= size;
          this.pump();
        });
      this.inputAcks.add(acked);
    }
  }

  /**
   * Output from the agent: recorded, then shown; acknowledged to the agent once the browser has it and the recording
   * keeps up. An agent past its window, or output that would not fit the recording, ends the terminal.
   */
  output(data: Uint8Array, ack: (a: FrameAck) => void): void {
    if (this.state !== 'open' || this.ending) return ack({ ok: false });
    if (this.outputHeld + data.byteLength > TERMINAL_OUTPUT_WINDOW * 2) return this.kill(TerminalEnd.Failed);
    if (!this.recorder.fits(data.byteLength)) return this.kill(TerminalEnd.RecordingLimit);
    this.recorder.output(data);
    this.outputHeld += data.byteLength;
    const release = () => {
      this.outputHeld -= data.byteLength;
      void this.recorder.drained().then(() => ack({ ok: true }));
    };
    this.browser.timeout(60_000).emit('terminal:output', { v: TERMINAL_PROTOCOL_VERSION, data }, (err: Error | null) => {
      if (err) return void (this.outputHeld -= data.byteLength);
      release();
    });
  }

  /** The browser closed it, or went away. */
  close(reason: TerminalEnd): void {
    if (this.state === 'closed' || this.ending) return;
    if (this.state === 'opening') return this.end(reason, null, false);
    this.ending = { reason, byCage: false };
    this.agent.emit('terminal:close', { v: TERMINAL_PROTOCOL_VERSION, id: this.id, reason });
    this.exitFallback = setTimeout(() => this.end(reason, null, false), 5000);
  }

  /**
   * The cage closes it (kill switch, revoke, window, recording limit): the browser is told and hears nothing more at
   * once, whatever the agent does; the agent is told to kill the PTY.
   */
  kill(reason: TerminalEnd): void {
    if (this.state === 'closed') return;
    if (this.state === 'open' || this.ending) this.agent.emit('terminal:close', { v: TERMINAL_PROTOCOL_VERSION, id: this.id, reason });
    this.end(reason, null, true);
  }

  /** The agent says the PTY ended. */
  exited(reason: TerminalEnd, exitCode: number | null): void {
    const ending = this.ending;
    this.end(ending?.reason ?? reason, exitCode, ending?.byCage ?? false);
  }

  /** Input the endpoint took just before the end is still recorded: waits for its answers (a few seconds at most). */
  async inputSettled(): Promise<void> {
    if (this.inputAcks.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.inputAcks]), new Promise((r) => (timer = setTimeout(r, 3000)))]);
    clearTimeout(timer);
  }

  /** The device's connection dropped. */
  agentGone(): void {
    this.end(TerminalEnd.AgentGone, null, false);
  }

  private end(reason: TerminalEnd, exitCode: number | null, byCage: boolean, text?: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.windowTimer);
    clearTimeout(this.exitFallback);
    this.queue.length = 0;
    this.browser.emit('terminal:closed', { v: TERMINAL_PROTOCOL_VERSION, reason, exitCode, text: (text ?? describeEnd(reason, exitCode)).slice(0, 300) });
    this.hooks.ended(this, { reason, exitCode, byCage });
  }
}

export function describeEnd(reason: TerminalEnd, exitCode: number | null): string {
  switch (reason) {
    case TerminalEnd.Exited:
      return `the shell exited${exitCode !== null ? ` with status ${exitCode}` : ''}`;
    case TerminalEnd.ClosedByUser:
      return 'you closed the terminal';
    case TerminalEnd.Idle:
      return 'closed after a long time without input or output';
    case TerminalEnd.Window:
      return "the approval's window ended";
    case TerminalEnd.Paused:
      return 'an admin paused the copilot for this organization (kill switch)';
    case TerminalEnd.Revoked:
      return "the terminal's approval was revoked";
    case TerminalEnd.Disconnected:
      return 'the connection was lost';
    case TerminalEnd.RecordingLimit:
      return 'the recording reached its size limit';
    case TerminalEnd.AgentGone:
      return "the device's agent disconnected";
    default:
      return 'the terminal could not continue';
  }
}
