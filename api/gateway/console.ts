/**
 * Socket.IO `/console`: browsers and the CLI subscribe to a session and receive its progress as it happens.
 * Authenticated with the same API key as the REST API; a subscription is checked like a GET of the session.
 */
import type { Namespace, Socket } from 'socket.io';
import { z } from 'zod';
import type { SessionEvent } from '../../lib/session-events';
import type { ApiDeps } from '../deps';
import { authenticate, tenantScope, type Principal } from '../http/auth';

export interface ConsoleServerEvents {
  'session:event': (event: SessionEvent) => void;
}
export interface ConsoleClientEvents {
  'session:subscribe': (msg: { sessionId: string }, ack: (res: { ok: boolean; error?: string }) => void) => void;
}
type ConsoleSocket = Socket<ConsoleClientEvents, ConsoleServerEvents, Record<string, never>, { principal: Principal }>;
export type ConsoleNamespace = Namespace<ConsoleClientEvents, ConsoleServerEvents, Record<string, never>, { principal: Principal }>;

const Subscribe = z.object({ sessionId: z.uuid() }).strict();
const room = (sessionId: string) => `session:${sessionId}`;

export function createConsoleGateway(nsp: ConsoleNamespace, deps: ApiDeps) {
  nsp.use(async (socket, next) => {
    try {
      const token = z.string().max(200).safeParse(socket.handshake.auth?.token);
      if (!token.success) return next(new Error('a valid API key is required'));
      const fakeReq = { headers: { authorization: `Bearer ${token.data}` } } as Parameters<typeof authenticate>[1];
      socket.data = { principal: await authenticate(deps, fakeReq) };
      next();
    } catch {
      next(new Error('a valid API key is required'));
    }
  });

  nsp.on('connection', (socket: ConsoleSocket) => {
    socket.on('session:subscribe', async (raw: unknown, ack: unknown) => {
      const reply = (res: { ok: boolean; error?: string }) => typeof ack === 'function' && ack(res);
      const msg = Subscribe.safeParse(raw);
      if (!msg.success) return reply({ ok: false, error: 'sessionId must be a UUID' });
      const session = await deps.prisma.copilotSession
        .findFirst({ where: { id: msg.data.sessionId, ...tenantScope(socket.data.principal) } })
        .catch(() => null);
      if (!session) return reply({ ok: false, error: 'session not found' });
      await socket.join(room(session.id));
      reply({ ok: true });
    });
  });

  return {
    publish(event: SessionEvent) {
      nsp.to(room(event.sessionId)).emit('session:event', event);
    },
  };
}
