/**
 * Socket.IO `/console`: browsers and the CLI subscribe to a session and receive its progress as it happens.
 * Authenticated with an API key in `auth.token` (the CLI), or with the signed-in web session's cookie (the console
 * page; loaded onto the handshake by the engine middleware in api/server.ts). A subscription is checked like a
 * GET of the session, and again for every event: a session can reach a site outside a watcher's sites after they
 * subscribed (or their role can be narrowed or revoked), and from then on they hear nothing more of it. A watcher
 * whose API key is revoked, or who signed out of the web session they connected with, is disconnected at their next
 * subscription or event.
 */
import type { Namespace, Socket } from 'socket.io';
import {
  CONSOLE_CLIENT_EVENTS,
  SessionSubscribe,
  type ConsoleClientEvents,
  type ConsoleServerEvents,
  type SessionEvent,
  type SessionSubscribeAck,
} from '../../common/console-protocol';
import { maySeeSession, sitesReached } from '../../lib/site-scope';
import type { ApiDeps } from '../deps';
import { type Principal, visibleSession } from '../http/access';
import { browserPrincipal } from './browser-auth';

type ConsoleSocket = Socket<ConsoleClientEvents, ConsoleServerEvents, Record<string, never>, { principal: Principal }>;
export type ConsoleNamespace = Namespace<ConsoleClientEvents, ConsoleServerEvents, Record<string, never>, { principal: Principal }>;

const room = (sessionId: string) => `session:${sessionId}`;

export function createConsoleGateway(nsp: ConsoleNamespace, deps: ApiDeps) {
  nsp.use(async (socket, next) => {
    const principal = await browserPrincipal(deps, socket.handshake.auth?.token, socket.request).catch(() => null);
    // One refusal for every case (no key, a bad key, no session, a foreign origin): nothing to tell them apart.
    if (!principal) return next(new Error('a valid API key is required'));
    socket.data = { principal };
    next();
  });

  nsp.on('connection', (socket: ConsoleSocket) => {
    // An event the console does not have is dropped, and answered with an error if it asked for an answer.
    socket.use(([event, ...args], next) => {
      if (CONSOLE_CLIENT_EVENTS.has(event)) return next();
      const ack = args.at(-1);
      if (typeof ack === 'function') ack({ ok: false, error: 'unknown event' });
      next(new Error('unknown event'));
    });
    socket.on('session:subscribe', (raw: unknown, ack: unknown) => {
      const reply = (res: SessionSubscribeAck) => typeof ack === 'function' && ack(res);
      subscribe(socket, raw).then(reply, () => reply({ ok: false, error: 'subscription unavailable; try again' }));
    });
  });

  /**
   * The sockets whose API key was revoked, or whose web session ended (signed out), since they connected:
   * disconnected, since ending a credential must end what it opened, not only its next request. Fails closed: if the
   * credentials cannot be read, the caller's check throws and nobody hears anything.
   */
  async function dropSignedOut(sockets: ConsoleSocket[]): Promise<Set<ConsoleSocket>> {
    const keyIds = [...new Set(sockets.flatMap((s) => s.data.principal.apiKeyId ?? []))];
    const sids = [...new Set(sockets.flatMap((s) => s.data.principal.webSessionId ?? []))];
    const [keys, webSessions] = await Promise.all([
      keyIds.length ? deps.prisma.apiKey.findMany({ where: { id: { in: keyIds }, revokedAt: null }, select: { id: true } }) : [],
      sids.length ? deps.prisma.webSession.findMany({ where: { sid: { in: sids } }, select: { sid: true } }) : [],
    ]);
    const live = new Set([...keys.map((k) => k.id), ...webSessions.map((w) => w.sid)]);
    const ended = new Set(
      sockets.filter(({ data: { principal: p } }) => (p.apiKeyId && !live.has(p.apiKeyId)) || (p.webSessionId && !live.has(p.webSessionId))),
    );
    for (const socket of ended) socket.disconnect(true);
    return ended;
  }

  /** A subscription is checked like a GET of the session: unknown and other tenants' sessions look the same. */
  async function subscribe(socket: ConsoleSocket, raw: unknown): Promise<SessionSubscribeAck> {
    const msg = SessionSubscribe.safeParse(raw);
    if (!msg.success) return { ok: false, error: 'sessionId must be a UUID' };
    if ((await dropSignedOut([socket])).size > 0) return { ok: false, error: 'your API key was revoked or you signed out' };
    const session = await visibleSession(deps, socket.data.principal, msg.data.sessionId);
    if (!session) return { ok: false, error: 'session not found' };
    await socket.join(room(session.id));
    return { ok: true };
  }

  /**
   * Delivers an event to this node's watchers of its session who may still see it (the session as it is now, their
   * roles as they are now); the others leave the room. Fails closed: if that cannot be read, nobody gets the event.
   */
  async function deliver(event: SessionEvent): Promise<void> {
    const ids = nsp.adapter.rooms.get(room(event.sessionId));
    const revoked = await dropSignedOut([...(ids ?? [])].flatMap((id) => nsp.sockets.get(id) ?? []));
    const sockets = [...(ids ?? [])].flatMap((id) => nsp.sockets.get(id) ?? []).filter((s) => !revoked.has(s));
    if (sockets.length === 0) return;
    const session = await deps.prisma.copilotSession.findUnique({ where: { id: event.sessionId }, select: { id: true, orgId: true, userId: true } });
    const userIds = [...new Set(sockets.map((s) => s.data.principal.userId))];
    const [reached, bindings] = await Promise.all([
      sitesReached(deps.prisma, [event.sessionId]),
      session ? deps.prisma.roleBinding.findMany({ where: { userId: { in: userIds }, orgId: session.orgId, user: { disabledAt: null } }, select: { userId: true, orgId: true, role: true, siteIds: true } }) : [],
    ]);
    for (const socket of sockets) {
      const userId = socket.data.principal.userId;
      const viewer = { userId, bindings: bindings.filter((b) => b.userId === userId) };
      if (session && maySeeSession(viewer, session, reached.get(session.id) ?? [])) socket.emit('session:event', event);
      else void socket.leave(room(event.sessionId));
    }
  }

  // Events of one session are delivered in the order they were published, each after its check.
  const queues = new Map<string, Promise<void>>();

  return {
    publish(event: SessionEvent) {
      // Every api node hears each event from PostgreSQL itself, so each delivers it to its own sockets only: through
      // the Redis adapter every watcher would get one copy per node.
      if (!nsp.adapter.rooms.get(room(event.sessionId))?.size) return;
      const next = (queues.get(event.sessionId) ?? Promise.resolve())
        .then(() => deliver(event))
        .catch((err: unknown) => deps.logger.warn({ err: (err as Error).message, sessionId: event.sessionId }, 'session event not delivered: its watchers could not be checked'));
      queues.set(event.sessionId, next);
      void next.then(() => {
        if (queues.get(event.sessionId) === next) queues.delete(event.sessionId);
      });
    },
  };
}
