/**
 * Who a browser's (or a CLI's) Socket.IO connection is, for `/console` and `/terminal`: an API key in `auth.token`,
 * or the signed-in web session's cookie (loaded onto the handshake by the engine middleware in api/server.ts), and
 * the cookie only from our own pages (a websocket opened by another site cannot use it).
 */
import type { IncomingMessage } from 'node:http';
import { z } from 'zod';
import type { ApiDeps } from '../deps';
import type { Principal } from '../http/access';
import { authenticate, principalOfUser } from '../http/auth';

function sameOrigin(req: IncomingMessage): boolean {
  const origin = req.headers.origin;
  if (!origin || !req.headers.host) return false;
  try {
    return new URL(origin).host === req.headers.host;
  } catch {
    return false;
  }
}

export async function browserPrincipal(deps: ApiDeps, token: unknown, req: IncomingMessage): Promise<Principal | null> {
  if (token !== undefined) {
    const key = z.string().max(200).safeParse(token);
    if (!key.success) return null;
    return authenticate(deps, { headers: { authorization: `Bearer ${key.data}` } } as Parameters<typeof authenticate>[1]);
  }
  const session = (req as IncomingMessage & { session?: { id?: string; userId?: string } }).session;
  // A cookie rides along with any page's request: only a websocket opened by our own pages (whose Origin the
  // browser sets and no page can forge) may use it, so another site cannot listen in on a signed-in technician.
  if (!session?.userId || !session.id || !sameOrigin(req)) return null;
  const principal = await principalOfUser(deps, session.userId, 'session');
  return principal && { ...principal, webSessionId: session.id };
}
