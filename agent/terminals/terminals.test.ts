/**
 * The agent's pseudo-terminals on their own: the simulated endpoint's shell (echo, Ctrl-C, a password prompt with echo
 * off, a flood that stops while paused), a real PTY through node-pty's prebuilt binaries (resize, UTF-8, exit status),
 * and how `stty -g` tells a password prompt from a line editor.
 */
import { createLinuxPtyFactory, echoFromStty } from './linux-pty';
import type { Pty } from './pty';
import { SimulatedShell } from './simulated-shell';

function collect(pty: Pty) {
  let text = '';
  pty.onData((d) => (text += d.toString('utf8')));
  const exit = new Promise<number | null>((resolve) => pty.onExit((e) => resolve(e.exitCode)));
  const until = async (match: string | RegExp, timeoutMs = 10_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(typeof match === 'string' ? text.includes(match) : match.test(text))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${String(match)}; shown: ${JSON.stringify(text.slice(-300))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  return { text: () => text, exit, until };
}

describe('the simulated shell', () => {
  it('runs hostname, echo and stty size, and exits with the status asked for', async () => {
    const shell = new SimulatedShell('ACME-PC-01', { cols: 80, rows: 24 });
    const out = collect(shell);
    await out.until('$ ');
    shell.write('hostname\r');
    await out.until('ACME-PC-01\r\n');
    shell.write('echo grüße ✓\r');
    await out.until('grüße ✓\r\n');
    shell.resize(120, 40);
    shell.write('stty size\r');
    await out.until('40 120\r\n');
    shell.write('exit 7\r');
    expect(await out.exit).toBe(7);
  });

  it('asks a password with echo off and echoes again after it', async () => {
    const shell = new SimulatedShell('ACME-PC-01', { cols: 80, rows: 24 });
    const out = collect(shell);
    expect(await shell.echo()).toBe(true);
    shell.write('sudo hostname\r');
    await out.until('password for tech: ');
    expect(await shell.echo()).toBe(false);
    shell.write('hunter2\r');
    await out.until('ACME-PC-01\r\n');
    expect(out.text()).not.toContain('hunter2');
    expect(await shell.echo()).toBe(true);
    shell.kill();
  });

  it('floods with yes only while not paused, and stops on Ctrl-C', async () => {
    const shell = new SimulatedShell('ACME-PC-01', { cols: 80, rows: 24 });
    const out = collect(shell);
    shell.write('yes\r');
    await out.until('y\r\ny\r\n');
    shell.pause();
    await new Promise((r) => setTimeout(r, 20));
    const paused = out.text().length;
    await new Promise((r) => setTimeout(r, 100));
    expect(out.text().length).toBe(paused);
    shell.resume();
    shell.write('\x03');
    await out.until('^C\r\n');
    shell.write('echo after\r');
    await out.until('after\r\n');
    shell.kill();
  });
});

describe('a real PTY on Linux', () => {
  it('opens the shell without a native build, resizes, carries UTF-8, and reports the exit status', async () => {
    const pty = createLinuxPtyFactory({ shell: '/bin/sh', path: '/usr/local/bin:/usr/bin:/bin' })({ cols: 80, rows: 24 });
    const out = collect(pty);
    pty.write('stty size\n');
    await out.until('24 80');
    pty.resize(132, 50);
    pty.write('stty size; printf "h\\303\\251llo \\342\\234\\223\\n"\n');
    await out.until('50 132');
    await out.until('héllo ✓');
    pty.write('exit 5\n');
    expect(await out.exit).toBe(5);
  });

  it('reads a password prompt as echo off, and a line editor as echoing', () => {
    // lflag 8a3b: ECHO and ICANON on (a plain shell); 8a33: ECHO off, ICANON on (getpass); 8a31: both off (readline).
    expect(echoFromStty('500:5:bf:8a3b:3:1c:7f:15:4:0:1:0')).toBe(true);
    expect(echoFromStty('500:5:bf:8a33:3:1c:7f:15:4:0:1:0')).toBe(false);
    expect(echoFromStty('500:5:bf:8a31:3:1c:7f:15:4:0:1:0')).toBe(true);
    expect(echoFromStty('garbage')).toBeNull();
  });
});
