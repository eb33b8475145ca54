import { createLinuxPtyFactory } from './agent/terminals/linux-pty';
const pty = createLinuxPtyFactory({ shell: '/bin/bash', path: process.env.PATH! })({ cols: 80, rows: 24 });
pty.onData((d) => console.log('data', JSON.stringify(d.toString())));
setTimeout(() => pty.write('echo hi\r'), 300);
setTimeout(() => process.exit(0), 5000);
