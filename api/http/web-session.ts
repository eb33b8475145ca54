/**
 * Signed-in web sessions for the console: express-session with its PostgreSQL store (table `web_session`, made by
 * a migration), an httpOnly SameSite cookie, and a CSRF token (csrf-csrf's double-submit cookie, bound to the
 * session id) that every write made with the cookie must carry in `X-CSRF-Token`. API keys need neither.
 * A session ends after `idleMinutes` without a request (the cookie rolls, and the store's expiry with it) and
 * `maxHours` after its sign-in whatever happens (checked on every request that loads it, and on Socket.IO
 * handshakes); a session without a sign-in time (made before it was recorded) counts as ended.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Request, RequestHandler, Response } from 'express';
import session from 'express-session';
import connectPgSimple from 'connect-pg-simple';
import cookieParser from 'cookie-parser';
import { doubleCsrf } from 'csrf-csrf';

export const SESSION_COOKIE = 'gh_session';

declare module 'express-session' {
  interface SessionData {
    userId: string;
    /** When the user signed in (ms since the epoch): the session ends `maxHours` after it, however active. */
    signedInAt: number;
    /** The browser it was signed in from, as it said (shown in the user's list of sessions). */
    userAgent: string;
  }
}

export interface WebAuth {
  middleware: RequestHandler[];
  /**
   * For Socket.IO's engine (`io.engine.use`): loads the signed-in session onto the handshake request, so `/console`
   * can read `socket.request.session.userId`. Only the handshake (no `sid` yet): later polling requests and the
   * websocket upgrade of an established connection need no session lookup.
   */
  handshake(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): void;
  /** A CSRF token for the current session (sets its cookie). */
  csrfToken(req: Request, res: Response): string;
  validCsrf(req: Request): boolean;
  close(): void;
}

/**
 * Binds the user to a fresh web session: a new session id (no fixation), the sign-in time and the browser. Password
 * and OIDC sign-in both end here, so what follows (passkeys, T4 approvals, signing out everywhere) is the same.
 */
export async function beginWebSession(req: Request, userId: string): Promise<void> {
  await new Promise<void>((resolve, reject) => req.session.regenerate((err) => (err ? reject(err) : resolve())));
  req.session.userId = userId;
  req.session.signedInAt = Date.now();
  req.session.userAgent = (req.get('user-agent') ?? '').slice(0, 200);
  await new Promise<void>((resolve, reject) => req.session.save((err) => (err ? reject(err) : resolve())));
}

/** Whether a loaded session has passed its absolute lifetime. */
export const sessionOutlived = (s: { signedInAt?: number } | undefined, maxHours: number, now = Date.now()) => typeof s?.signedInAt !== 'number' || now - s.signedInAt > maxHours * 3600_000;

export function createWebAuth(opts: { databaseUrl: string; secret: string; secureCookies: boolean; idleMinutes?: number; maxHours?: number }): WebAuth {
  const idleMinutes = opts.idleMinutes ?? 60;
  const maxHours = opts.maxHours ?? 12;
  const PgStore = connectPgSimple(session);
  const store = new PgStore({ conString: opts.databaseUrl, tableName: 'web_session', createTableIfMissing: false, pruneSessionInterval: 15 * 60 });
  const { generateCsrfToken, validateRequest } = doubleCsrf({
    getSecret: () => opts.secret,
    getSessionIdentifier: (req) => req.session?.id ?? '',
    cookieName: 'gh_csrf',
    cookieOptions: { sameSite: 'strict', path: '/', secure: opts.secureCookies, httpOnly: true },
    getCsrfTokenFromRequest: (req) => {
      const token: unknown = req.headers['x-csrf-token'] ?? (req.body as { _csrf?: unknown } | undefined)?._csrf;
      return typeof token === 'string' ? token : undefined;
    },
  });
  const sessions = session({
    store,
    name: SESSION_COOKIE,
    secret: opts.secret,
    resave: false,
    saveUninitialized: false,
    rolling: true,
    cookie: { httpOnly: true, sameSite: 'lax', secure: opts.secureCookies, maxAge: idleMinutes * 60_000 },
  });
  /** Ends a signed-in session past its absolute lifetime before anything reads it: the request is anonymous. */
  const absolute: RequestHandler = (req, _res, next) => {
    if (!req.session?.userId || !sessionOutlived(req.session, maxHours)) return next();
    req.session.destroy((err) => next(err));
  };
  return {
    middleware: [cookieParser(), sessions, absolute],
    handshake(req, res, next) {
      const isHandshake = (req as IncomingMessage & { _query?: { sid?: string } })._query?.sid === undefined;
      // Requests without our cookie (agents, API-key clients) skip the store entirely.
      if (!isHandshake || !req.headers.cookie?.includes(`${SESSION_COOKIE}=`)) return next();
      sessions(req as Request, res as Response, (err?: unknown) => (err ? next(err) : absolute(req as Request, res as Response, next)));
    },
    csrfToken: (req, res) => generateCsrfToken(req, res, { overwrite: false, validateOnReuse: false }),
    validCsrf: (req) => validateRequest(req),
    close: () => store.close(),
  };
}
