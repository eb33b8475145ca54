// Live session events over Socket.IO `/console`, authenticated by the session cookie (websocket only: the server
// accepts the cookie only on a connection whose Origin is this page's).
import { io } from '/vendor/socket.io.esm.min.js';
import { ConsoleReceive, ConsoleSend } from './events.js';

let socket = null;
const watched = new Map(); // sessionId -> Set of listeners

export function connectLive() {
  if (socket) return;
  socket = io('/console', { transports: ['websocket'] });
  socket.on(ConsoleReceive.SessionEvent, (event) => {
    for (const listener of watched.get(event.sessionId) ?? []) listener(event);
  });
  // After a reconnect the server has forgotten our rooms: subscribe again.
  socket.on('connect', () => {
    for (const sessionId of watched.keys()) subscribe(sessionId);
  });
}

export function disconnectLive() {
  socket?.disconnect();
  socket = null;
  watched.clear();
}

function subscribe(sessionId) {
  if (socket?.connected) socket.timeout(5000).emit(ConsoleSend.SessionSubscribe, { sessionId }, () => undefined);
}

/** Calls `listener` with each event of the session until the returned function is called. */
export function watchSession(sessionId, listener) {
  connectLive();
  let set = watched.get(sessionId);
  if (!set) {
    set = new Set();
    watched.set(sessionId, set);
    subscribe(sessionId);
  }
  set.add(listener);
  return () => set.delete(listener);
}
