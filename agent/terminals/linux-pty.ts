/**
 * A real pseudo-terminal on Linux through `@lydell/node-pty` (node-pty with prebuilt binaries: nothing is compiled
 * on the endpoint). The shell is the agent user's login shell with a clean environment: the agent's own variables
 * (its credential path, tokens) never reach it.
 *
 * Echo: a program reading a password turns the terminal's ECHO off and leaves it in canonical (line) mode (getpass,
 * sudo, ssh, passwd, `read -s`); a line editor such as bash's readline or a full-screen program turns both off and
 * draws what is typed itself. So input counts as not echoed (recorded redacted) when ECHO is off and ICANON on. Node
 * cannot read termios; `stty -g` on the slave device can. It is read again after output (a program turns echo off
 * before it prints its prompt, so the state is fresh by the time someone types), at most one read at a time, and
 * input is answered with the state read before it was written (the host writes it only once that read is done).
 */
import { spawn } from 'node:child_process';
import os from 'node:os';
import { spawn as spawnPty, type IPty } from '@lydell/node-pty';
import type { Pty, PtyExit, PtyFactory, PtySize } from './pty';

/** termios c_lflag ECHO and ICANON (Linux). */
const ECHO = 0o10;
const ICANON = 0o2;

/**
 * From `stty -g` (iflag:oflag:cflag:lflag:…, hex): false when the terminal is at a password prompt (ECHO off in
 * canonical mode), true otherwise; null when it cannot be read.
 */
export function echoFromStty(saved: string): boolean | null {
  const lflag = saved.trim().split(':')[3];
  if (lflag === undefined || !/^[0-9a-f]+$/i.test(lflag)) return null;
  const flags = parseInt(lflag, 16);
  return !((flags & ECHO) === 0 && (flags & ICANON) !== 0);
}

/**
 * Reads the slave's termios on request through one small shell per terminal that runs `stty -g` for each line it
 * reads: spawning `stty` from the agent's own (large) process each time would block its event loop for milliseconds.
 */
function echoReader(ptsName: string): { read(): Promise<boolean | null>; close(): void } {
  const helper = spawn('sh', ['-c', 'while IFS= read -r _; do stty -F "$1" -g 2>/dev/null || echo unreadable; done', 'sh', ptsName], { stdio: ['pipe', 'pipe', 'ignore'] });
  helper.on('error', () => undefined);
  helper.stdin.on('error', () => undefined);
  const waiting: ((state: boolean | null) => void)[] = [];
  let buffered = '';
  helper.stdout.setEncoding('utf8');
  helper.stdout.on('data', (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      waiting.shift()?.(echoFromStty(line));
    }
  });
  helper.on('exit', () => {
    for (const w of waiting.splice(0)) w(null);
  });
  return {
    read() {
      if (helper.exitCode !== null || helper.killed) return Promise.resolve(null);
      return new Promise((resolve) => {
        waiting.push(resolve);
        helper.stdin.write('\n');
      });
    },
    close() {
      helper.kill();
    },
  };
}

/** After output, the state is read again once the output has paused this long (never during a flood). */
const QUIET_MS = 30;

/** `shell`: TERMINAL_SHELL; `path`: PATH as lib/env.ts read it (the only variable of the agent's own the shell gets). */
export function createLinuxPtyFactory(opts: { shell: string; path: string }): PtyFactory {
  return (size: PtySize): Pty => {
    const user = os.userInfo();
    const env: Record<string, string> = { TERM: 'xterm-256color', COLORTERM: 'truecolor', LANG: 'C.UTF-8', PATH: opts.path, HOME: user.homedir, USER: user.username, LOGNAME: user.username, SHELL: opts.shell };
    const shell = opts.shell;
    // encoding null: raw bytes in and out, never decoded on the endpoint.
    const pty: IPty = spawnPty(shell, [], { name: 'xterm-256color', cols: size.cols, rows: size.rows, cwd: os.homedir(), env, encoding: null });
    const ptsName = (pty as IPty & { ptsName?: string }).ptsName ?? '';
    // Made on the first read, once the shell has its terminal (a helper started with the PTY delayed bash's start).
    let reader: ReturnType<typeof echoReader> | null = null;
    const readerOf = () => (reader ??= echoReader(ptsName));
    let echo = true;
    let reading: Promise<void> | null = null;
    let stale = false;
    let quiet: NodeJS.Timeout | undefined;
    const refresh = (): Promise<void> => {
      clearTimeout(quiet);
      quiet = undefined;
      if (reading) return reading;
      stale = false;
      reading = (ptsName && !exited ? readerOf().read() : Promise.resolve(null)).then((state) => {
        if (state !== null) echo = state;
        reading = null;
      });
      return reading;
    };
    let exited = false;
    pty.onExit(() => {
      exited = true;
      clearTimeout(quiet);
      reader?.close();
    });
    return {
      onData(listener) {
        pty.onData((data) => {
          listener(typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data));
          if (!ptsName || exited) return;
          stale = true;
          clearTimeout(quiet);
          quiet = setTimeout(() => void refresh(), QUIET_MS);
        });
      },
      onExit(listener) {
        pty.onExit(({ exitCode, signal }) => listener({ exitCode, signal: signal ?? null } satisfies PtyExit));
      },
      write: (data) => pty.write(data),
      resize: (cols, rows) => {
        if (!exited) pty.resize(cols, rows);
      },
      pause: () => pty.pause(),
      resume: () => pty.resume(),
      async echo() {
        // Output came since the last read (or during the read under way): read now. Twice at most, so that input
        // still gets through a flood of output (Ctrl-C into `yes`).
        for (let i = 0; i < 2 && (reading || stale); i++) await (reading ?? refresh());
        return echo;
      },
      kill() {
        if (exited) return;
        try {
          pty.kill('SIGHUP');
        } catch {
          // gone already
        }
        // A shell that ignores SIGHUP (or a child holding the terminal) is killed for good a moment later.
        setTimeout(() => {
          if (!exited) {
            try {
              process.kill(pty.pid, 'SIGKILL');
            } catch {
              // gone
            }
          }
        }, 2000).unref();
      },
    };
  };
}
