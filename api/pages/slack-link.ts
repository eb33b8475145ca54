/**
 * `/slack/link/<token>`: where a Slack user confirms the link they started with `/gatehouse link`. The page needs
 * the person's own signed-in Gatehouse session (otherwise it asks to sign in and comes back); a GET shows what
 * would be linked and changes nothing; the POST (CSRF double-submit bound to the token) makes the link through
 * services/slack-links.ts, which spends the token and checks the Slack account against Slack's directory.
 */
import cookieParser from 'cookie-parser';
import { doubleCsrf } from 'csrf-csrf';
import express, { type Request, type Response } from 'express';
import type { WebClient } from '@slack/web-api';
import { AppError } from '../../lib/app-error';
import type { ApiDeps } from '../deps';
import type { Principal } from '../http/access';
import { principalOfUser } from '../http/auth';
import { callerOf } from '../services/caller';
import { confirmSlackLink, LINK_REQUEST_MINUTES, pendingSlackLink } from '../services/slack-links';
import { h, page, sessionUserId, signInHref } from './html';

const again = '<p>Type <code>/gatehouse link</code> in Slack for a new link.</p>';

/** The pending request of the URL's token, or null when a page saying why it cannot be used was sent. */
async function usable(deps: ApiDeps, req: Request, res: Response) {
  const pending = await pendingSlackLink(deps, String(req.params.token));
  if (pending.request) return pending.request;
  if (pending.problem === 'unknown') page(res, 404, 'This link is not valid', `<p>Check that the whole link was copied from Slack. Nothing was changed.</p>${again}`);
  else if (pending.problem === 'used') page(res, 410, 'This link was already used', `<p>Each link works once. Nothing was changed.</p>${again}`);
  else page(res, 410, 'This link has expired', `<p>Links work for ${LINK_REQUEST_MINUTES} minutes. Nothing was changed.</p>${again}`);
  return null;
}

/** The signed-in user, or null when the page asking to sign in was sent. */
async function signedIn(deps: ApiDeps, req: Request, res: Response): Promise<Principal | null> {
  const userId = sessionUserId(req);
  const principal = userId ? await principalOfUser(deps, userId, 'session') : null;
  if (!principal) {
    page(res, 401, 'Sign in to link your Slack account', `<p>Only you can link your Slack account, and Gatehouse knows it is you once you are signed in. Nothing was changed.</p><p><a href="${h(signInHref(`/slack/link/${String(req.params.token)}`))}">Sign in</a>; you come back to this page afterwards.</p>`);
  }
  return principal;
}

export function slackLinkPages(deps: ApiDeps, slack: WebClient, opts: { secret: string; secureCookies: boolean }): express.Router {
  const { generateCsrfToken, validateRequest } = doubleCsrf({
    getSecret: () => opts.secret,
    // Bound to the link and to the signed-in session: neither another link's token nor another session's works.
    getSessionIdentifier: (req) => `${String(req.params.token ?? '')}:${req.session?.id ?? ''}`,
    cookieName: 'gh_slack_link_csrf',
    cookieOptions: { sameSite: 'strict', path: '/slack/link', secure: opts.secureCookies, httpOnly: true },
    getCsrfTokenFromRequest: (req) => (req.body as { _csrf?: string } | undefined)?._csrf,
  });
  const router = express.Router();
  router.use('/slack/link', cookieParser(), express.urlencoded({ extended: false, limit: '4kb' }));

  router.get('/slack/link/:token', async (req, res, next) => {
    try {
      const request = await usable(deps, req, res);
      const principal = request && (await signedIn(deps, req, res));
      if (!request || !principal) return;
      page(
        res,
        200,
        'Link your Slack account?',
        `<dl><dt>Slack account</dt><dd><code>${h(request.slackUserId)}</code> in workspace <code>${h(request.teamId)}</code></dd>` +
          `<dt>Gatehouse user</dt><dd>${h(principal.email)} (you)</dd></dl>` +
          `<p>Once linked, Approve and Reject clicks of that Slack account count as your decisions, in the organizations where you are an approver.</p>` +
          `<p><strong>Confirm only if you typed <code>/gatehouse link</code> in Slack yourself, just now.</strong> If someone sent you this link, do not confirm it. Slack must also list your e-mail (${h(principal.email)}) for that account.</p>` +
          `<form method="post"><input type="hidden" name="_csrf" value="${h(generateCsrfToken(req, res, { overwrite: true }))}">` +
          `<button class="approve" name="confirm" value="yes">Link my Slack account</button></form>`,
      );
    } catch (err) {
      next(err);
    }
  });

  router.post('/slack/link/:token', async (req, res, next) => {
    try {
      const request = await usable(deps, req, res);
      const principal = request && (await signedIn(deps, req, res));
      if (!request || !principal) return;
      if (!validateRequest(req)) {
        page(res, 403, 'This form has expired', '<p>Open the link from Slack again and confirm on the fresh page. Nothing was changed.</p>');
        return;
      }
      try {
        const { created } = await confirmSlackLink(callerOf(deps, principal), slack, String(req.params.token));
        page(res, 200, created ? 'Linked' : 'Already linked', `<p>Your Slack account <code>${h(request.slackUserId)}</code> is linked to ${h(principal.email)}. You can close this page.</p>`);
      } catch (err) {
        if (!(err instanceof AppError)) throw err;
        page(res, err.status, 'Not linked', `<p role="alert"><strong>${h(err.message)}.</strong></p><p>Nothing was linked.</p>`);
      }
    } catch (err) {
      next(err);
    }
  });
  return router;
}
