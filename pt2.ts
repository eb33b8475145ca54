import { createLinuxPtyFactory } from './agent/terminals/linux-pty';
const pty = createLinuxPtyFactory({ shell: '/bin/bash', path: process.env.PATH! })({ cols: 80, rows: 24 });
pty.onData(() => undefined);
const log = async (w: string) => { await new Promise((r) => setTimeout(r, 400)); console.log(w, await pty.echo()); };
(async () => {
  await log('prompt');
  pty.write('read -s -p "pw: " X\r'); await log('read -s');
  pty.write('x\r'); await log('after');
  pty.write('cat\r'); await log('cat');
  pty.write('\x04exit\r');
})();
