/**
 * `/oauth/consent/<token>`: where /authorize sends the browser. It needs the person's signed-in console session
 * (however they signed in); without one it sends them to the sign-in page, which comes back here. The page shows
 * which client asks, for which scopes, and lists the person's own organizations: they tick the ones the client may
 * act in (never beyond their roles: the token's principal keeps only those bindings). Approving makes the grant and
 * a one-time code and sends the browser to the client's registered redirect URI; denying sends `access_denied`.
 * The POST carries the console session's CSRF token.
 */
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import { audit } from '../../audit/log';
import { randomToken, sha256 } from '../../lib/secrets';
import type { ApiDeps } from '../deps';
import { orgsOf } from '../http/access';
import { principalOfUser } from '../http/auth';
import type { WebAuth } from '../http/web-session';
import { h, page, sessionUserId, signInHref } from '../pages/html';
import { CODE_SECONDS } from './provider';
import { isScope, SCOPES } from '../../common/oauth-scopes';

const Token = z.string().regex(/^[A-Za-z0-9_-]{43}$/);
const many = z.union([z.string().max(100), z.array(z.string().max(100)).max(200)]).transform((v) => (Array.isArray(v) ? v : [v]));
const Answer = z
  .object({ _csrf: z.string().max(512), decision: z.enum(['approve', 'deny']), org: many.optional(), scope: many.optional() })
  .strict();

export const consentPath = (token: string) => `/oauth/consent/${token}`;

/** The pending request a consent token names, if it can still be answered; otherwise the page has been sent. */
async function pending(deps: ApiDeps, req: Request, res: Response) {
  const token = Token.safeParse(req.params.token);
  const row = token.success ? await deps.prisma.oAuthAuthorization.findUnique({ where: { requestHash: sha256(token.data) } }) : null;
  const client = row ? await deps.prisma.oAuthClient.findUnique({ where: { id: row.clientId } }) : null;
  if (!row || !client) {
    page(res, 404, 'This authorization request is not valid', '<p>Start again from the application that sent you here. Nothing was granted.</p>');
    return null;
  }
  if (row.grantId || row.expiresAt.getTime() <= Date.now()) {
    page(res, 410, 'This authorization request has ended', '<p>It was answered already or waited too long. Start again from the application. Nothing more was granted.</p>');
    return null;
  }
  return { row, client, token: token.data! };
}

/** The person behind the console session, or a redirect to sign in (coming back here); null when answered. */
async function signedIn(deps: ApiDeps, req: Request, res: Response, token: string) {
  const userId = sessionUserId(req);
  const principal = userId ? await principalOfUser(deps, userId, 'session') : null;
  if (!principal) res.redirect(303, signInHref(consentPath(token)));
  return principal;
}

/** What the page's CSP must let its form end at: the redirect URI's origin, or an app's own scheme (`cursor:`). */
const formTarget = (redirectUri: string) => {
  const url = new URL(redirectUri);
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : url.protocol;
};

/** Where the browser goes with the answer: the client's redirect URI with the code or the error, and the state. */
function answerUrl(redirectUri: string, state: string | null, params: Record<string, string>): string {
  const url = new URL(redirectUri);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  if (state !== null) url.searchParams.set('state', state);
  return url.href;
}

export function consentPages(deps: ApiDeps, web: WebAuth): express.Router {
  const router = express.Router();
  router.use('/oauth/consent', express.urlencoded({ extended: true, limit: '16kb' }));

  router.get('/oauth/consent/:token', async (req, res, next) => {
    try {
      const found = await pending(deps, req, res);
      if (!found) return;
      const principal = await signedIn(deps, req, res, found.token);
      if (!principal) return;
      const { row, client } = found;
      const orgs = await orgsOf(deps, principal);
      const redirect = new URL(row.redirectUri);
      const scopeBoxes = row.scopes
        .filter(isScope)
        .map((s) => `<label><input type="checkbox" name="scope" value="${h(s)}" checked> <code>${h(s)}</code>: ${h(SCOPES[s].label)}</label>`)
        .join('');
      const orgBoxes = orgs.length
        ? orgs.map((o) => `<label><input type="checkbox" name="org" value="${h(o.id)}"> ${h(o.name)} <span class="note">(${h(o.slug)}; you are ${h(o.roles.map((r) => r.role).join(', '))})</span></label>`).join('')
        : '<p>You have no role in any organization, so there is nothing to grant.</p>';
      page(
        res,
        200,
        `Allow ${client.name} to act as you?`,
        `<dl><dt>Application</dt><dd>${h(client.name)} <span class="note">(registered itself; returns to ${h(redirect.protocol === 'http:' || redirect.protocol === 'https:' ? redirect.origin : redirect.protocol)})</span></dd>` +
          `<dt>Signed in as</dt><dd>${h(principal.email)}</dd></dl>` +
          `<p>It will use Gatehouse's tools as you: with your roles, the same approvals, rate limits and audit as your own calls, only in the organizations you tick and only with the scopes you keep.</p>` +
          `<form method="post" action="${h(consentPath(found.token))}"><input type="hidden" name="_csrf" value="${h(web.csrfToken(req, res))}">` +
          `<fieldset><legend>Scopes</legend>${scopeBoxes}</fieldset><fieldset><legend>Organizations</legend>${orgBoxes}</fieldset>` +
          `<button class="approve" type="submit" name="decision" value="approve">Allow</button><button class="reject" type="submit" name="decision" value="deny">Deny</button></form>` +
          `<p class="note">You can revoke it at any time under <strong>Connected apps</strong> in the console.</p>`,
        [formTarget(row.redirectUri)],
      );
    } catch (err) {
      next(err);
    }
  });

  router.post('/oauth/consent/:token', async (req, res, next) => {
    try {
      const found = await pending(deps, req, res);
      if (!found) return;
      const principal = await signedIn(deps, req, res, found.token);
      if (!principal) return;
      const { row, client } = found;
      const redirectOrigin = [formTarget(row.redirectUri)];
      const parsed = Answer.safeParse(req.body);
      if (!parsed.success || !web.validCsrf(req)) {
        return page(res, 403, 'This form has expired', `<p>Go back and load the page again. Nothing was granted.</p>`);
      }
      if (parsed.data.decision === 'deny') {
        await deps.prisma.oAuthAuthorization.update({ where: { id: row.id }, data: { expiresAt: new Date() } });
        return res.redirect(303, answerUrl(row.redirectUri, row.state, { error: 'access_denied', error_description: 'the user denied the request' }));
      }
      const mine = new Set(principal.bindings.map((b) => b.orgId));
      const orgIds = [...new Set(parsed.data.org ?? [])];
      const scopes = [...new Set(parsed.data.scope ?? [])];
      // Never more than their own bindings, never scopes the client did not ask for.
      if (orgIds.some((o) => !mine.has(o)) || scopes.some((s) => !row.scopes.includes(s) || !isScope(s))) {
        return page(res, 400, 'This answer cannot be granted', '<p>It names an organization or a scope that is not offered here. Nothing was granted.</p>', redirectOrigin);
      }
      if (!orgIds.length || !scopes.length) {
        return page(res, 400, 'Choose what to grant', `<p>Tick at least one organization and one scope, or deny. <a href="${h(consentPath(found.token))}">Back</a></p>`, redirectOrigin);
      }
      const code = randomToken();
      const grant = await deps.prisma.$transaction(async (tx) => {
        const g = await tx.oAuthGrant.create({ data: { userId: principal.userId, clientId: client.id, orgIds, scopes, resource: row.resource } });
        // Answered once: a second POST (another tab) finds it answered.
        const claimed = await tx.oAuthAuthorization.updateMany({
          where: { id: row.id, grantId: null },
          data: { grantId: g.id, codeHash: sha256(code), expiresAt: new Date(Date.now() + CODE_SECONDS * 1000) },
        });
        if (claimed.count !== 1) throw new Error('answered twice');
        for (const orgId of orgIds) {
          await audit(tx, { orgId, actorType: 'user', actorId: principal.userId, action: 'oauth.granted', target: client.id, data: { grantId: g.id, client: client.name, scopes } });
        }
        return g;
      });
      deps.logger.info({ grantId: grant.id, clientId: client.id, userId: principal.userId }, 'oauth grant made');
      res.redirect(303, answerUrl(row.redirectUri, row.state, { code }));
    } catch (err) {
      next(err);
    }
  });
  return router;
}
