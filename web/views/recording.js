// Plays a terminal recording back for auditors: the asciicast v2 file as stored (checked against the SHA-256 sealed
// into the audit chain at its close), drawn by xterm.js at its recorded pace, faster, or at once. Input lines are
// listed beside it (a password typed with echo off shows as [redacted]).
import { Terminal } from '/vendor/xterm.mjs';
import { get } from '../lib/api.js';
import { el, replace, time } from '../lib/dom.js';

export function recordingView(main, _ctx, [recordingId]) {
  const info = el('dl', { class: 'recording-info' });
  const box = el('div', { class: 'terminal-box', 'data-recording': recordingId });
  const status = el('p', { role: 'status', class: 'player-status' }, 'Loading…');
  const inputs = el('ol', { class: 'recording-input' });
  const speed = el('select', { id: 'player-speed' }, [1, 2, 4, 16].map((s) => el('option', { value: s }, `${s}×`)));
  const play = el('button', { type: 'button', class: 'primary' }, 'Play');
  const end = el('button', { type: 'button' }, 'Show it all');
  main.append(
    el('h1', {}, 'Terminal recording'),
    info,
    el('div', { class: 'buttons' }, play, el('label', { for: 'player-speed' }, 'Speed '), speed, end, el('a', { href: '#/terminals', class: 'button' }, 'Back')),
    status,
    box,
    el('h2', {}, 'Typed'),
    inputs,
  );
  let term = null;
  let timer = null;
  let events = [];
  let at = 0;
  let header = null;

  const reset = () => {
    clearTimeout(timer);
    term?.dispose();
    term = new Terminal({ cols: header.width, rows: header.height, fontSize: 13, disableStdin: true, scrollback: 5000, theme: { background: '#000000', foreground: '#e8e8e8' } });
    term.open(box);
    at = 0;
  };
  const apply = (e) => {
    if (e[1] === 'o') term.write(e[2]);
    else if (e[1] === 'r') {
      const [cols, rows] = e[2].split('x').map(Number);
      if (cols && rows) term.resize(cols, rows);
    }
  };
  const step = () => {
    if (at >= events.length) return replace(status, 'Played to the end.');
    const e = events[at++];
    apply(e);
    const next = events[at];
    if (!next) return replace(status, 'Played to the end.');
    const wait = Math.min(2000, Math.max(0, (next[0] - e[0]) * 1000)) / Number(speed.value);
    timer = setTimeout(step, wait);
  };
  play.addEventListener('click', () => {
    reset();
    replace(status, 'Playing…');
    step();
  });
  end.addEventListener('click', () => {
    reset();
    for (const e of events) apply(e);
    at = events.length;
    replace(status, 'Played to the end.');
  });

  get(`/v1/terminal-recordings/${recordingId}`).then(
    (r) => {
      const lines = r.cast.split('\n').filter(Boolean).map((l) => JSON.parse(l));
      header = lines[0];
      events = lines.slice(1);
      replace(
        info,
        el('dt', {}, 'Device'),
        el('dd', {}, r.recording.device),
        el('dt', {}, 'Technician'),
        el('dd', {}, r.recording.user),
        el('dt', {}, 'Opened'),
        el('dd', {}, time(r.recording.openedAt)),
        el('dt', {}, 'Closed'),
        el('dd', {}, r.recording.closedAt ? [time(r.recording.closedAt), ` (${r.recording.closeReason})`] : 'still open'),
        el('dt', {}, 'SHA-256'),
        el('dd', {}, el('code', {}, r.recording.sha256 ?? '—'), ' ', el('span', { class: `badge ${r.verified ? 'ok' : 'danger'}`, 'data-verified': String(r.verified) }, r.verified ? 'matches the audit chain' : r.verified === false ? 'does NOT match the audit chain' : 'not sealed yet')),
      );
      // Keystrokes are recorded one event each: shown here as the lines they made (a password as one [redacted]).
      const typed = events.filter((e) => e[1] === 'i').map((e) => e[2]).join('').replace(/(\[redacted\])+/g, '[redacted]');
      replace(inputs, typed.split(/\r\n|\r|\n/).filter((line) => line.length > 0).map((line) => el('li', {}, el('code', {}, JSON.stringify(line).slice(1, -1)))));
      reset();
      replace(status, `Ready: ${events.length} events over ${events.length ? events[events.length - 1][0].toFixed(1) : 0} s.`);
    },
    (err) => replace(status, `Cannot load the recording: ${err.message}`),
  );
  return () => {
    clearTimeout(timer);
    term?.dispose();
  };
}
