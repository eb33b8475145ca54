/**
 * A user's own console sessions: the list (when each signed in, until when it lasts without a request, from which
 * browser; which one is this) and sign-out everywhere, which ends every one of them at once (audited). Works with an
 * API key too, so someone who lost a laptop can end its session from a script.
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import { SignedOutEverywhereAnswer, WebSessionsAnswer } from '../../common/api-answers';
import { auditForUser } from '../../audit/log';
import { defineRoute, type AnyRoute } from '../http/route';
import { SESSION_COOKIE } from '../http/web-session';

const SessionRow = z.object({ sid: z.string(), expire: z.date(), signedInAt: z.union([z.number(), z.string()]).nullable(), userAgent: z.string().nullable() });

/** A session's public handle: never its id, which is the cookie's secret. */
const handle = (sid: string) => crypto.createHash('sha256').update(sid).digest('base64url').slice(0, 16);

export const listWebSessions = defineRoute({
  method: 'get',
  path: '/v1/auth/sessions',
  summary: 'Your signed-in console sessions: when each signed in, when it ends if unused, its browser, and which is this one',
  tag: 'auth',
  auth: 'user',
  responses: { 200: 'The sessions', 401: 'Not authenticated' },
  response: WebSessionsAnswer,
  async handler({ system, principal, req }) {
    const rows = z.array(SessionRow).parse(
      await system.$queryRaw`SELECT sid, expire, sess->>'signedInAt' AS "signedInAt", sess->>'userAgent' AS "userAgent" FROM web_session WHERE sess->>'userId' = ${principal.userId} AND expire > now() ORDER BY expire DESC`,
    );
    return {
      status: 200,
      body: {
        sessions: rows.map((r) => ({
          id: handle(r.sid),
          signedInAt: r.signedInAt === null ? null : new Date(Number(r.signedInAt)).toISOString(),
          idleExpiresAt: r.expire.toISOString(),
          browser: r.userAgent ?? '',
          current: principal.via === 'session' && r.sid === req.sessionID,
        })),
      },
    };
  },
});

export const signOutEverywhere = defineRoute({
  method: 'post',
  path: '/v1/auth/signout-everywhere',
  summary: 'End every console session of yours at once, this one included (audited)',
  tag: 'auth',
  auth: 'user',
  body: z.object({}).strict(),
  responses: { 200: 'Signed out everywhere', 401: 'Not authenticated', 403: 'Missing CSRF token' },
  response: SignedOutEverywhereAnswer,
  async handler({ system, principal, res }) {
    const ended = await system.$executeRaw`DELETE FROM web_session WHERE sess->>'userId' = ${principal.userId}`;
    if (principal.via === 'session') res.clearCookie(SESSION_COOKIE);
    await auditForUser(system, principal.userId, { actorType: 'user', actorId: principal.userId, action: 'auth.signed_out_everywhere', target: principal.email, data: { sessions: ended, via: principal.via } });
    return { status: 200, body: { signedOut: ended } };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const webSessionRoutes: AnyRoute[] = [listWebSessions, signOutEverywhere];
