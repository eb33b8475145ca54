/**
 * `/password/reset/<token>`: where a user sets their own password from the link a partner admin had mailed to them
 * (services/password-resets.ts). A GET shows the form and changes nothing (mail scanners fetch links); the POST
 * (CSRF double-submit bound to the token) spends the token, sets the password and signs the user out everywhere.
 */
import cookieParser from 'cookie-parser';
import { doubleCsrf } from 'csrf-csrf';
import express, { type Request, type Response } from 'express';
import { PASSWORD_MAX, PASSWORD_MIN } from '../../lib/passwords';
import type { ApiDeps } from '../deps';
import { completePasswordReset, pendingPasswordReset, RESET_MINUTES } from '../services/password-resets';
import { h, page } from './html';

const again = '<p>Ask your partner admin for a new link.</p>';

async function usable(deps: ApiDeps, req: Request, res: Response) {
  const pending = await pendingPasswordReset(deps.prisma, String(req.params.token));
  if (pending.reset) return pending.reset;
  if (pending.problem === 'unknown') page(res, 404, 'This link is not valid', `<p>Check that the whole link was copied from the mail. Nothing was changed.</p>${again}`);
  else if (pending.problem === 'used') page(res, 410, 'This link was already used', `<p>Each link works once. Nothing was changed.</p>${again}`);
  else page(res, 410, 'This link has expired', `<p>Links work for ${RESET_MINUTES} minutes. Nothing was changed.</p>${again}`);
  return null;
}

export function passwordResetPages(deps: ApiDeps, opts: { secret: string; secureCookies: boolean }): express.Router {
  const { generateCsrfToken, validateRequest } = doubleCsrf({
    getSecret: () => opts.secret,
    getSessionIdentifier: (req) => String(req.params.token ?? ''),
    cookieName: 'gh_reset_csrf',
    cookieOptions: { sameSite: 'strict', path: '/password/reset', secure: opts.secureCookies, httpOnly: true },
    getCsrfTokenFromRequest: (req) => (req.body as { _csrf?: string } | undefined)?._csrf,
  });
  const form = (req: Request, res: Response, email: string, problem?: string) =>
    page(
      res,
      problem ? 400 : 200,
      'Set your password',
      (problem ? `<p role="alert"><strong>${h(problem)}</strong></p>` : '') +
        `<p>For <strong>${h(email)}</strong>. Signing in anywhere else ends when you save it.</p>` +
        `<form method="post"><input type="hidden" name="_csrf" value="${h(generateCsrfToken(req, res, { overwrite: true }))}">` +
        `<input type="hidden" name="username" autocomplete="username" value="${h(email)}">` +
        `<label for="password">New password (at least ${PASSWORD_MIN} characters)</label>` +
        `<input id="password" name="password" type="password" autocomplete="new-password" minlength="${PASSWORD_MIN}" maxlength="${PASSWORD_MAX}" required>` +
        `<label for="again">The same again</label>` +
        `<input id="again" name="again" type="password" autocomplete="new-password" minlength="${PASSWORD_MIN}" maxlength="${PASSWORD_MAX}" required>` +
        `<button class="approve">Set my password</button></form>`,
    );

  const router = express.Router();
  router.use('/password/reset', cookieParser(), express.urlencoded({ extended: false, limit: '4kb' }));
  router.get('/password/reset/:token', async (req, res, next) => {
    try {
      const reset = await usable(deps, req, res);
      if (reset) form(req, res, reset.user.email);
    } catch (err) {
      next(err);
    }
  });
  router.post('/password/reset/:token', async (req, res, next) => {
    try {
      const reset = await usable(deps, req, res);
      if (!reset) return;
      if (!validateRequest(req)) {
        page(res, 403, 'This form has expired', '<p>Open the link from the mail again and set the password on the fresh page. Nothing was changed.</p>');
        return;
      }
      const { password, again: repeated } = req.body as { password?: unknown; again?: unknown };
      if (typeof password !== 'string' || password.length < PASSWORD_MIN || password.length > PASSWORD_MAX) {
        form(req, res, reset.user.email, `The password must have ${PASSWORD_MIN} to ${PASSWORD_MAX} characters. Nothing was changed.`);
        return;
      }
      if (password !== repeated) {
        form(req, res, reset.user.email, 'The two passwords differ. Nothing was changed.');
        return;
      }
      if (!(await completePasswordReset(deps.prisma, String(req.params.token), password))) {
        page(res, 410, 'This link was already used', `<p>Nothing was changed.</p>${again}`);
        return;
      }
      page(res, 200, 'Password set', `<p>You can now <a href="/signin">sign in</a> with your new password. You were signed out everywhere else.</p>`);
    } catch (err) {
      next(err);
    }
  });
  return router;
}
