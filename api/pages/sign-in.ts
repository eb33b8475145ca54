/**
 * `/signin?next=<page>`: a plain sign-in form for the pages that need the person's own web session (a T4 e-mailed
 * approval, a Slack link confirmation) and are opened from a mail or from Slack, outside the console. The sign-in
 * itself is the API's (`signIn` in routes/identity.ts: rate limits that fail closed, audit, a new session id), so
 * there is one way to sign in with a password; single sign-on is pages/sso.ts's. Afterwards the browser goes back only to a page of the RETURNABLE shape.
 */
import cookieParser from 'cookie-parser';
import { doubleCsrf } from 'csrf-csrf';
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import { AppError } from '../../lib/app-error';
import type { ApiDeps } from '../deps';
import type { WebAuth } from '../http/web-session';
import { signIn } from '../routes/identity';
import { h, page, RETURNABLE } from './html';

const Form = z.object({ _csrf: z.string().max(512), email: z.string().max(320), password: z.string().max(1024), next: z.string().max(200).optional() }).strict();

const safeNext = (next: unknown) => (typeof next === 'string' && RETURNABLE.test(next) ? next : '/');

function form(res: Response, status: number, next: string, csrf: string, error?: string): void {
  page(
    res,
    status,
    'Sign in to Gatehouse',
    (error ? `<p role="alert"><strong>${h(error)}</strong></p>` : '') +
      `<form method="post" action="/signin"><input type="hidden" name="_csrf" value="${h(csrf)}"><input type="hidden" name="next" value="${h(next)}">` +
      `<label for="email">E-mail</label><input id="email" name="email" type="email" autocomplete="username" maxlength="320" required>` +
      `<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" maxlength="1024" required>` +
      `<button class="approve" type="submit">Sign in</button></form>` +
      // Single sign-on (pages/sso.ts): the e-mail finds the partner's identity providers.
      `<h2>Or sign in with single sign-on</h2><form method="get" action="/signin/oidc"><input type="hidden" name="next" value="${h(next)}">` +
      `<label for="sso-email">Work account</label><input id="sso-email" name="email" type="email" placeholder="you@company.example" autocomplete="username" maxlength="254" required>` +
      `<button type="submit">Continue with single sign-on</button></form>` +
      (next !== '/' ? '<p class="note">After signing in you go back to the page that sent you here.</p>' : ''),
  );
}

export function signInPage(deps: ApiDeps, web: WebAuth, opts: { secret: string; secureCookies: boolean }): express.Router {
  // Before a sign-in there is no session to bind the token to: a double-submit cookie of its own (SameSite strict),
  // so another site cannot post the form and sign the browser in to an account of its choosing.
  const { generateCsrfToken, validateRequest } = doubleCsrf({
    getSecret: () => opts.secret,
    getSessionIdentifier: () => 'signin',
    cookieName: 'gh_signin_csrf',
    cookieOptions: { sameSite: 'strict', path: '/signin', secure: opts.secureCookies, httpOnly: true },
    getCsrfTokenFromRequest: (req) => (req.body as { _csrf?: string } | undefined)?._csrf,
  });
  const router = express.Router();
  router.use('/signin', cookieParser(), express.urlencoded({ extended: false, limit: '8kb' }));

  router.get('/signin', (req, res) => {
    form(res, 200, safeNext(req.query.next), generateCsrfToken(req, res, { overwrite: true }));
  });

  router.post('/signin', async (req: Request, res: Response, next) => {
    try {
      const back = safeNext((req.body as { next?: unknown } | undefined)?.next);
      const fresh = () => generateCsrfToken(req, res, { overwrite: true });
      const parsed = Form.safeParse(req.body);
      if (!validateRequest(req) || !parsed.success) {
        form(res, 403, back, fresh(), 'This form has expired; enter your e-mail and password again.');
        return;
      }
      const body = signIn.body!.safeParse({ email: parsed.data.email, password: parsed.data.password });
      if (!body.success) {
        form(res, 400, back, fresh(), 'Enter your e-mail address and your password.');
        return;
      }
      try {
        await signIn.handler({ req, res, deps, system: deps.prisma, principal: undefined as never, web, baseUrl: () => deps.config.publicUrl, params: {}, query: {}, body: body.data });
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        form(res, err.status, back, fresh(), `Not signed in: ${err.message}.`);
        return;
      }
      res.redirect(303, back);
    } catch (err) {
      next(err);
    }
  });
  return router;
}
