/**
 * The recording of one terminal, as asciicast v2 (https://docs.asciinema.org/manual/asciicast/v2/): a header line,
 * then one `[seconds, code, data]` line per event — "o" output, "i" input, "r" resize ("COLSxROWS"), "m" a marker
 * (why it closed). Every byte each way is in it (output decoded as UTF-8 across frame boundaries; a byte that is not
 * UTF-8 becomes U+FFFD); input the endpoint took while its terminal did not echo (a password prompt) is recorded
 * as "[redacted]", keeping only its line end.
 *
 * Written as it happens, in chunks (`TerminalRecordingChunk`, append-only in the database) at most a second apart,
 * so a crash loses at most the last second; the SHA-256 of the whole file is computed as it is written and, at the
 * close, stored on the recording and written into the org's audit chain (`terminal.recorded`). Past `maxBytes` the
 * recorder says so and the relay closes the terminal: nothing is ever shown that is not recorded.
 */
import crypto from 'node:crypto';
import type { Logger } from '../../lib/logger';
import type { PrismaClient } from '../../lib/prisma';
import { audit } from '../../audit/log';

/** Unflushed and in-flight recording bytes past which the relay stops acknowledging output (the database is slow). */
export const RECORDER_BACKLOG_LIMIT = 1024 * 1024;
const FLUSH_BYTES = 256 * 1024;
const FLUSH_MS = 1000;

export const REDACTED = '[redacted]';

export interface RecordingMeta {
  id: string;
  orgId: string;
  terminalSessionId: string;
  deviceName: string;
  userEmail: string;
  cols: number;
  rows: number;
}

export class TerminalRecorder {
  private readonly hash = crypto.createHash('sha256');
  private readonly decoder = new TextDecoder('utf-8');
  private readonly started = Date.now();
  private lastT = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private inFlight = 0;
  private seq = 0;
  private bytes = 0;
  private writing: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private drainWaiters: (() => void)[] = [];
  private finished = false;
  bytesIn = 0;
  bytesOut = 0;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly logger: Logger,
    readonly meta: RecordingMeta,
    private readonly maxBytes: number,
  ) {
    const header = {
      version: 2,
      width: meta.cols,
      height: meta.rows,
      timestamp: Math.floor(this.started / 1000),
      env: { TERM: 'xterm-256color' },
      title: `${meta.deviceName} — ${meta.userEmail}`,
    };
    this.append(`${JSON.stringify(header)}\n`);
  }

  /** Bytes recorded but not yet in the database. */
  backlog(): number {
    return this.pendingBytes + this.inFlight;
  }
  /** Resolves once the backlog is under RECORDER_BACKLOG_LIMIT. */
  drained(): Promise<void> {
    if (this.backlog() < RECORDER_BACKLOG_LIMIT) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Whether `n` more bytes of terminal data still fit the recording (an event adds a little framing). */
  fits(n: number): boolean {
    return this.bytes + n * 2 + 64 <= this.maxBytes;
  }

  output(data: Uint8Array): void {
    this.bytesOut += data.byteLength;
    const text = this.decoder.decode(data, { stream: true });
    if (text) this.event('o', text);
  }

  input(data: string, echo: boolean): void {
    this.bytesIn += Buffer.byteLength(data);
    if (echo) return this.event('i', data);
    const end = /[\r\n]+$/.exec(data)?.[0] ?? '';
    this.event('i', `${REDACTED}${end}`);
  }

  resize(cols: number, rows: number): void {
    this.event('r', `${cols}x${rows}`);
  }

  marker(text: string): void {
    this.event('m', text);
  }

  private event(code: 'o' | 'i' | 'r' | 'm', data: string): void {
    if (this.finished) return;
    // Times never go back, so players read the file in order.
    const t = Math.max(this.lastT, (Date.now() - this.started) / 1000);
    this.lastT = t;
    this.append(`${JSON.stringify([Number(t.toFixed(6)), code, data])}\n`);
  }

  private append(line: string): void {
    const buf = Buffer.from(line, 'utf8');
    this.hash.update(buf);
    this.bytes += buf.length;
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    if (this.pendingBytes >= FLUSH_BYTES) void this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), FLUSH_MS);
      this.timer.unref();
    }
  }

  private flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length === 0) return this.writing;
    const data = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    this.inFlight += data.length;
    const seq = this.seq++;
    this.writing = this.writing
      .then(() => this.prisma.terminalRecordingChunk.create({ data: { recordingId: this.meta.id, orgId: this.meta.orgId, seq, data: new Uint8Array(data) } }))
      .then(
        () => undefined,
        (err: unknown) => this.logger.error({ recordingId: this.meta.id, seq, err: (err as Error).message }, 'a recording chunk could not be stored'),
      )
      .finally(() => {
        this.inFlight -= data.length;
        if (this.backlog() < RECORDER_BACKLOG_LIMIT) for (const w of this.drainWaiters.splice(0)) w();
      });
    return this.writing;
  }

  /** The rest written, the hash sealed into the recording row and the audit chain. Once. */
  async finish(close: { reason: string; exitCode: number | null }): Promise<{ sha256: string; bytes: number }> {
    if (!this.finished) {
      const tail = this.decoder.decode();
      if (tail) this.event('o', tail);
      this.marker(`closed: ${close.reason}${close.exitCode !== null ? ` (exit ${close.exitCode})` : ''}`);
      this.finished = true;
    }
    await this.flush();
    for (const w of this.drainWaiters.splice(0)) w();
    const sha256 = this.hash.digest('hex');
    const bytes = this.bytes;
    await this.prisma.terminalRecording.update({
      where: { id: this.meta.id },
      data: { closedAt: new Date(), closeReason: close.reason, exitCode: close.exitCode, bytesIn: this.bytesIn, bytesOut: this.bytesOut, castBytes: bytes, sha256 },
    });
    await audit(this.prisma, {
      orgId: this.meta.orgId,
      actorType: 'system',
      action: 'terminal.recorded',
      target: this.meta.id,
      sessionId: this.meta.terminalSessionId,
      data: { sha256, castBytes: bytes, bytesIn: this.bytesIn, bytesOut: this.bytesOut, device: this.meta.deviceName },
    });
    return { sha256, bytes };
  }
}
