/**
 * The simulated endpoint's terminal: a small shell with its own line discipline (echo, backspace, Ctrl-C, Ctrl-D),
 * so the demo and the tests get a terminal on every device. Commands: hostname, echo, stty size, cat (lines back
 * until Ctrl-D), seq N, yes [word] (a flood until Ctrl-C, which respects pause), sudo <cmd> (asks a password with
 * echo off), clear, help, exit [n]. UTF-8 throughout.
 */
import type { Pty, PtyExit, PtyFactory, PtySize } from './pty';

type Mode = { kind: 'line' } | { kind: 'cat' } | { kind: 'yes'; word: string } | { kind: 'password'; then: string };

const YES_CHUNK = 8192;

export class SimulatedShell implements Pty {
  private cols: number;
  private rows: number;
  private line = '';
  private mode: Mode = { kind: 'line' };
  private echoing = true;
  private paused = false;
  private exited = false;
  private readonly dataListeners: ((data: Buffer) => void)[] = [];
  private readonly exitListeners: ((exit: PtyExit) => void)[] = [];

  constructor(
    private readonly hostname: string,
    size: PtySize,
  ) {
    this.cols = size.cols;
    this.rows = size.rows;
    setImmediate(() => this.out(`Gatehouse simulated shell on ${hostname}. Type help.\r\n${this.prompt()}`));
  }

  private prompt(): string {
    return `tech@${this.hostname}:~$ `;
  }

  private out(text: string): void {
    if (this.exited) return;
    const data = Buffer.from(text, 'utf8');
    for (const l of this.dataListeners) l(data);
  }

  onData(listener: (data: Buffer) => void): void {
    this.dataListeners.push(listener);
  }
  onExit(listener: (exit: PtyExit) => void): void {
    this.exitListeners.push(listener);
  }

  write(data: string): void {
    for (const ch of data) {
      if (this.exited) return;
      this.key(ch);
    }
  }

  private key(ch: string): void {
    if (ch === '\x03') return this.interrupt();
    if (this.mode.kind === 'yes') return; // only Ctrl-C stops it
    if (ch === '\x04') {
      if (this.mode.kind === 'cat') {
        this.mode = { kind: 'line' };
        this.line = '';
        return this.out(this.prompt());
      }
      if (this.line === '') return this.exit(0);
      return;
    }
    if (ch === '\r' || ch === '\n') {
      const line = this.line;
      this.line = '';
      if (this.echoing) this.out('\r\n');
      return this.enter(line);
    }
    if (ch === '\x7f' || ch === '\b') {
      if (this.line.length === 0) return;
      const chars = [...this.line];
      chars.pop();
      this.line = chars.join('');
      if (this.echoing) this.out('\b \b');
      return;
    }
    if (ch < ' ') return; // other control characters are ignored
    this.line += ch;
    if (this.echoing) this.out(ch);
  }

  private interrupt(): void {
    this.line = '';
    this.echoing = true;
    this.mode = { kind: 'line' };
    this.out(`^C\r\n${this.prompt()}`);
  }

  private enter(line: string): void {
    const mode = this.mode;
    if (mode.kind === 'cat') return this.out(`${line}\r\n`);
    if (mode.kind === 'password') {
      this.echoing = true;
      this.mode = { kind: 'line' };
      this.out('\r\n');
      return this.run(mode.then);
    }
    this.run(line.trim());
  }

  private run(command: string): void {
    const [name = '', ...args] = command.split(/\s+/).filter(Boolean);
    const done = (text = '') => this.out(`${text}${this.prompt()}`);
    switch (name) {
      case '':
        return done();
      case 'hostname':
        return done(`${this.hostname}\r\n`);
      case 'echo':
        return done(`${args.join(' ')}\r\n`);
      case 'stty':
        return done(args[0] === 'size' ? `${this.rows} ${this.cols}\r\n` : 'stty: only "stty size" here\r\n');
      case 'clear':
        return done('\x1b[H\x1b[2J');
      case 'help':
        return done('hostname, echo, stty size, cat, seq N, yes [word], sudo <command>, clear, exit [n]\r\n');
      case 'seq': {
        const n = Math.min(Number(args[0]) || 0, 100_000);
        const lines: string[] = [];
        for (let i = 1; i <= n; i++) lines.push(String(i));
        return done(lines.length ? `${lines.join('\r\n')}\r\n` : '');
      }
      case 'cat':
        if (args.length) return done(`cat: ${args[0]}: No such file or directory\r\n`);
        this.mode = { kind: 'cat' };
        return;
      case 'yes':
        this.mode = { kind: 'yes', word: args.join(' ') || 'y' };
        return this.flood();
      case 'sudo':
        this.mode = { kind: 'password', then: args.join(' ') };
        this.echoing = false;
        return this.out('[sudo] password for tech: ');
      case 'exit':
        return this.exit(Number.parseInt(args[0] ?? '0', 10) || 0);
      default:
        return done(`${name}: command not found\r\n`);
    }
  }

  /** `yes`: output for as long as nobody pauses the terminal and until Ctrl-C. */
  private flood(): void {
    if (this.exited || this.mode.kind !== 'yes' || this.paused) return;
    const line = `${this.mode.word}\r\n`;
    this.out(line.repeat(Math.max(1, Math.floor(YES_CHUNK / Buffer.byteLength(line)))));
    setImmediate(() => this.flood());
  }

  private exit(code: number): void {
    if (this.exited) return;
    this.out('logout\r\n');
    this.exited = true;
    setImmediate(() => {
      for (const l of this.exitListeners) l({ exitCode: code, signal: null });
    });
  }

  resize(cols: number, rows: number): void {
    this.cols = cols;
    this.rows = rows;
  }
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    if (this.mode.kind === 'yes') setImmediate(() => this.flood());
  }
  echo(): Promise<boolean> {
    return Promise.resolve(this.echoing);
  }
  kill(): void {
    if (this.exited) return;
    this.exited = true;
    setImmediate(() => {
      for (const l of this.exitListeners) l({ exitCode: null, signal: 1 });
    });
  }
}

export const simulatedPtyFactory =
  (hostname: string): PtyFactory =>
  (size) =>
    new SimulatedShell(hostname, size);
