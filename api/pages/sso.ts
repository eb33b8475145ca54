/**
 * Single sign-on pages (services/oidc.ts does the protocol):
 *   GET /signin/oidc?email=&next=       the identity providers for this e-mail, each a link (a form's redirect to
 *                                       another origin would break the pages' CSP `form-action 'self'`; a link does not)
 *   GET /signin/oidc/start/:id?next=    starts a sign-in there: the state in a cookie of this browser, then off to it
 *   GET /signin/oidc/callback           the provider's answer: the same web session as a password sign-in, then back to
 *                                       `next` (a RETURNABLE page, or the console); a refusal is a page saying why
 */
import cookieParser from 'cookie-parser';
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import { audit } from '../../audit/log';
import { AppError } from '../../lib/app-error';
import type { ApiDeps } from '../deps';
import { beginWebSession } from '../http/web-session';
import { CALLBACK_PATH, finishLogin, OidcRefusal, providersForEmail, startLogin, type SsoDeps } from '../services/oidc';
import { h, page, RETURNABLE } from './html';

const STATE_COOKIE = 'gh_oidc_state';
const START_WINDOW = { max: 30, windowMs: 15 * 60_000 };

const safeNext = (next: unknown) => (typeof next === 'string' && RETURNABLE.test(next) ? next : '/');
const Email = z.email().max(254).transform((e) => e.toLowerCase());
const ProviderId = z.uuid();

const startHref = (providerId: string, next: string) => `/signin/oidc/start/${encodeURIComponent(providerId)}?next=${encodeURIComponent(next)}`;
const againLink = (next: string) => `<p><a href="/signin?next=${encodeURIComponent(next)}">Start signing in again</a></p>`;

function emailForm(res: Response, status: number, next: string, error?: string): void {
  page(
    res,
    status,
    'Sign in with single sign-on',
    (error ? `<p role="alert"><strong>${h(error)}</strong></p>` : '') +
      `<form method="get" action="/signin/oidc"><input type="hidden" name="next" value="${h(next)}">` +
      `<label for="sso-email">Work e-mail</label><input id="sso-email" name="email" type="email" autocomplete="username" maxlength="254" required>` +
      `<button class="approve" type="submit">Continue</button></form>`,
  );
}

export function ssoPages(deps: ApiDeps, opts: { secureCookies: boolean }, baseUrl: () => string | undefined): express.Router {
  const router = express.Router();
  router.use('/signin/oidc', cookieParser());
  const ssoDeps = (): SsoDeps => {
    const base = baseUrl();
    if (!base) throw new Error('the api does not know its own address yet (PUBLIC_URL)');
    return { system: deps.prisma, codec: deps.payloadCodec, redirectUri: new URL(CALLBACK_PATH, base).href };
  };

  router.get('/signin/oidc', async (req: Request, res: Response, next) => {
    try {
      const back = safeNext(req.query.next);
      if (req.query.email === undefined) return emailForm(res, 200, back);
      const email = Email.safeParse(req.query.email);
      if (!email.success) return emailForm(res, 400, back, 'Enter your work e-mail address.');
      const providers = await providersForEmail(deps.prisma, email.data);
      if (providers.length === 0) {
        return emailForm(res, 404, back, `No single sign-on is set up for ${email.data}. Sign in with your password, or ask your partner admin.`);
      }
      page(
        res,
        200,
        'Sign in with single sign-on',
        providers.map((p) => `<p><a class="approve" href="${h(startHref(p.id, back))}">Sign in with ${h(p.name)}</a></p>`).join('') +
          (back !== '/' ? '<p class="note">After signing in you go back to the page that sent you here.</p>' : ''),
      );
    } catch (err) {
      next(err);
    }
  });

  router.get('/signin/oidc/start/:id', async (req: Request, res: Response, next) => {
    try {
      const back = safeNext(req.query.next);
      // The provider sends the browser back to the api's public address: a sign-in started at another name of it
      // (127.0.0.1 for localhost) would keep its state cookie, and then its session, where the callback cannot see
      // them. Start it over at the public address (ours, not the Host header's).
      const base = new URL(ssoDeps().redirectUri);
      if (req.get('host') !== base.host) return res.redirect(303, new URL(req.originalUrl, base.origin).href);
      const id = ProviderId.safeParse(req.params.id);
      if (!id.success) return page(res, 404, 'Not signed in', `<p role="alert">There is no such identity provider.</p>${againLink(back)}`);
      const limit = await deps.limiter.hit(`oidc:start:ip:${req.ip ?? 'unknown'}`, START_WINDOW).catch(() => null);
      if (!limit) return page(res, 503, 'Not signed in', `<p role="alert">Sign-in is unavailable right now (rate-limit store unreachable); try again shortly.</p>${againLink(back)}`);
      if (!limit.allowed) return page(res, 429, 'Not signed in', `<p role="alert">Too many sign-in attempts from here; wait a few minutes.</p>${againLink(back)}`);
      let started: { url: string; state: string };
      try {
        started = await startLogin(ssoDeps(), id.data, back);
      } catch (err) {
        if (err instanceof OidcRefusal || err instanceof AppError) {
          return page(res, err instanceof AppError ? err.status : 502, 'Not signed in', `<p role="alert"><strong>${h(err.message)}</strong></p>${againLink(back)}`);
        }
        throw err;
      }
      // Lax: the provider sends the browser back with a top-level GET from its own site.
      res.cookie(STATE_COOKIE, started.state, { httpOnly: true, sameSite: 'lax', secure: opts.secureCookies, path: '/signin/oidc', maxAge: 10 * 60_000 });
      res.redirect(303, started.url);
    } catch (err) {
      next(err);
    }
  });

  router.get(CALLBACK_PATH, async (req: Request, res: Response, next) => {
    try {
      const cookieState = (req.cookies as Record<string, string | undefined>)[STATE_COOKIE];
      res.clearCookie(STATE_COOKIE, { path: '/signin/oidc' });
      const sso = ssoDeps();
      const callback = new URL(req.originalUrl, sso.redirectUri);
      let result: Awaited<ReturnType<typeof finishLogin>>;
      try {
        result = await finishLogin(sso, callback, cookieState);
      } catch (err) {
        if (!(err instanceof OidcRefusal)) throw err;
        page(res, err.reason === 'provider-unreachable' ? 502 : 403, 'Not signed in', `<p role="alert"><strong>Not signed in: ${h(err.message)}.</strong></p>${againLink('/')}`);
        return;
      }
      await beginWebSession(req, result.user.id);
      await audit(deps.prisma, {
        actorType: 'user',
        actorId: result.user.id,
        action: 'auth.signed_in',
        target: result.user.email,
        data: { address: req.ip ?? null, method: 'oidc', providerId: result.provider.id, provisioned: result.provisioned },
      });
      res.redirect(303, safeNext(result.returnTo));
    } catch (err) {
      next(err);
    }
  });
  return router;
}
