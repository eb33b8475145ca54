// One approved terminal: xterm.js in the page, Socket.IO `/terminal` to the api (cookie-authenticated, websocket
// only). Nothing is sent before the server says the PTY is open on the endpoint (`terminal:connected`): keys typed
// and resizes made meanwhile wait here, in order. Output is acknowledged once xterm has drawn it, which is what
// holds a flood back on the endpoint.
import { io } from '/vendor/socket.io.esm.min.js';
import { Terminal } from '/vendor/xterm.mjs';
import { FitAddon } from '/vendor/addon-fit.mjs';
import { el, replace } from '../lib/dom.js';

const V = 1;

export function terminalView(main, ctx, [terminalId]) {
  const status = el('p', { role: 'status', class: 'terminal-status' }, 'Connecting…');
  const box = el('div', { class: 'terminal-box', 'data-terminal': terminalId });
  const close = el('button', { type: 'button', class: 'reject' }, 'Close the terminal');
  main.append(el('h1', {}, 'Terminal'), status, box, el('div', { class: 'buttons' }, close, el('a', { href: '#/terminals', class: 'button' }, 'Back to terminals')));

  const term = new Terminal({ cursorBlink: true, fontSize: 14, scrollback: 5000, convertEol: false, theme: { background: '#000000', foreground: '#e8e8e8' } });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.open(box);
  fit.fit();
  term.focus();

  const socket = io('/terminal', { transports: ['websocket'], reconnection: false });
  let connected = false;
  let ended = false;
  const waiting = []; // [event, payload] sent before the PTY was open, in order
  const send = (event, payload) => {
    if (ended) return;
    if (connected) socket.emit(event, payload, ...(event === 'terminal:input' ? [() => undefined] : []));
    else waiting.push([event, payload]);
  };
  term.onData((data) => {
    for (let i = 0; i < data.length; i += 4096) send('terminal:input', { v: V, data: data.slice(i, i + 4096) });
  });
  term.onResize(({ cols, rows }) => send('terminal:resize', { v: V, cols, rows }));
  let resizeTimer;
  const onWindowResize = () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => fit.fit(), 150);
  };
  window.addEventListener('resize', onWindowResize);

  socket.on('connect', () => {
    socket.timeout(15_000).emit('terminal:open', { v: V, terminalId, cols: term.cols, rows: term.rows }, (err, ack) => {
      if (err) return replace(status, 'The server did not answer; reload to try again.');
      if (!ack.ok) {
        ended = true;
        replace(status, `Not opened: ${ack.error}`);
      }
    });
  });
  socket.on('connect_error', (err) => replace(status, `Cannot connect: ${err.message}`));
  socket.on('terminal:connected', (c) => {
    connected = true;
    replace(status, `Connected to ${c.device} until ${new Date(c.windowEndsAt).toLocaleTimeString()}. Every key and every byte of output is recorded.`);
    for (const [event, payload] of waiting.splice(0)) socket.emit(event, payload, ...(event === 'terminal:input' ? [() => undefined] : []));
    // The window may have changed size while the PTY opened.
    if (term.cols !== c.cols || term.rows !== c.rows) socket.emit('terminal:resize', { v: V, cols: term.cols, rows: term.rows });
  });
  socket.on('terminal:output', (msg, ack) => {
    term.write(new Uint8Array(msg.data), () => ack({ ok: true }));
  });
  socket.on('terminal:notice', (n) => term.write(`\r\n\x1b[33m[${n.text}]\x1b[0m\r\n`));
  socket.on('terminal:closed', (c) => {
    ended = true;
    connected = false;
    replace(status, `Closed: ${c.text}.`);
    box.setAttribute('data-closed', c.reason);
    term.write(`\r\n\x1b[2m[closed: ${c.text}]\x1b[0m\r\n`);
  });
  close.addEventListener('click', () => {
    if (!ended) socket.emit('terminal:close', { v: V });
  });

  return () => {
    window.removeEventListener('resize', onWindowResize);
    clearTimeout(resizeTimer);
    socket.disconnect();
    term.dispose();
  };
}
