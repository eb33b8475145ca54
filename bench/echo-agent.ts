/**
 * The bare baseline's agent process (bench/ask.ts): connects to the Socket.IO server given as its argument and
 * answers every `command` at once with a system_info-like reading. No Gatehouse code: the raw round trip.
 */
import os from 'node:os';
import { io } from 'socket.io-client';

const socket = io(process.argv[2]!, { transports: ['websocket'] });
socket.on('command', (_cmd: unknown, ack: (r: unknown) => void) => {
  ack({ hostname: os.hostname(), uptimeSeconds: os.uptime(), startedAt: new Date().toISOString() });
});
socket.on('connect', () => process.send?.('connected'));
