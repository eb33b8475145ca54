/**
 * The approval page behind an emailed link, `/a/<token>`. A GET shows what is asked (tool, tier, devices, who
 * asked, the exact call) and changes nothing, so mail scanners that prefetch links are harmless. The decision is a
 * POST carrying a CSRF token (double-submit cookie, bound to the link); T4 asks for the typed confirmation phrase.
 * It goes through the same decision service as every other channel, as the link's approver, with the digest the
 * link was made for. A used, expired or unknown link gets a clear page and nothing happens.
 *
 * A T4 link is not enough by itself (mail is forwarded, logged by gateways, ingested by ticket systems): its page
 * and its POST also require the approver's own signed-in Gatehouse session, the same user the link names. Without
 * it the page asks to sign in as that user (and comes back here); nothing of the call is shown and nothing is
 * decided. T3 links decide with the link alone, unless the org's admins require the session for every tier
 * (routes/email-approvals.ts). Approving a call that needs a passkey (T4; T3 where the org asks) is done on the
 * console's page for that approval, which asks for the passkey; the link's page offers that step and Reject only
 * (and the decision service refuses an approval posted here without an assertion).
 */
import cookieParser from 'cookie-parser';
import { doubleCsrf } from 'csrf-csrf';
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import type { Approval, ApprovalLink } from '@prisma/client';
import { AppError } from '../../lib/app-error';
import { audit } from '../../audit/log';
import { sha256 } from '../../lib/secrets';
import { Tier } from '../../common/tools';
import type { ApiDeps } from '../deps';
import type { Principal } from '../http/access';
import { principalOfUser } from '../http/auth';
import { callerOf } from '../services/caller';
import { decideApproval, emailOf } from '../services/decide-approval';
import { passkeyRequired } from '../services/passkeys';
import { h, page, sessionUserId, signInHref } from './html';

const Token = z.string().regex(/^[A-Za-z0-9_-]{43}$/);
const Decision = z
  .object({
    _csrf: z.string().max(512),
    decision: z.enum(['approve', 'reject']),
    reason: z.string().trim().max(500).optional(),
    confirmation: z.string().trim().max(200).optional(),
  })
  .strict();

type LinkWithApproval = ApprovalLink & { approval: Approval };

/** The link if it can still be used; otherwise the page has been sent and null returned. */
async function usableLink(deps: ApiDeps, req: Request, res: Response): Promise<LinkWithApproval | null> {
  const token = Token.safeParse(req.params.token);
  const link = token.success
    ? await deps.prisma.approvalLink.findUnique({ where: { tokenHash: sha256(token.data) }, include: { approval: true } })
    : null;
  if (!link) {
    page(res, 404, 'This link is not valid', '<p>Check that the whole link was copied from the email. Nothing was changed.</p>');
    return null;
  }
  if (link.usedAt) {
    page(res, 410, 'This link was already used', `<p>A decision was made with it at ${h(link.usedAt.toISOString())}. Each link works once.</p>`);
    return null;
  }
  const a = link.approval;
  if (a.status !== 'pending') {
    page(res, 410, `This approval is already ${h(a.status)}`, `<p>${a.decidedAt ? `Decided at ${h(a.decidedAt.toISOString())}${a.channel ? ` via ${h(a.channel)}` : ''}.` : ''} Nothing more to do.</p>`);
    return null;
  }
  if (link.expiresAt.getTime() <= Date.now() || a.expiresAt.getTime() <= Date.now()) {
    page(res, 410, 'This approval has expired', `<p>It expired at ${h(a.expiresAt.toISOString())}; the copilot treated it as rejected. Nothing was run.</p>`);
    return null;
  }
  return link;
}

/**
 * Whether the link alone is not enough and the approver's own web session is required: always for T4, and for
 * every tier where the org's admins asked for it. An org that cannot be read counts as asking for it.
 */
async function needsSession(deps: ApiDeps, link: LinkWithApproval): Promise<boolean> {
  if (link.approval.tier >= Tier.T4) return true;
  const org = await deps.prisma.organization.findUnique({ where: { id: link.orgId }, select: { emailLinksNeedSignIn: true } });
  return org?.emailLinksNeedSignIn !== false;
}

/**
 * For a link that needs the approver's session: the principal of that session when it is the approver's own;
 * otherwise a page saying whom to sign in as has been sent (and, for a decision attempt, the refusal audited).
 */
async function approverSession(deps: ApiDeps, req: Request, res: Response, link: LinkWithApproval, attempt: boolean): Promise<Principal | null> {
  const signedIn = sessionUserId(req);
  const principal = signedIn === link.userId ? await principalOfUser(deps, link.userId, 'session') : null;
  if (principal) return principal;
  const approver = await emailOf(deps, link.userId);
  const signIn = `<p><a href="${h(signInHref(`/a/${String(req.params.token)}`))}">Sign in as ${h(approver)}</a>; you come back to this page afterwards.</p>`;
  if (attempt || signedIn) {
    await audit(deps.prisma, {
      orgId: link.orgId,
      actorType: 'user',
      actorId: signedIn ?? null,
      action: 'approval.decision_refused',
      target: link.approvalId,
      sessionId: link.approval.sessionId,
      data: { why: signedIn ? 'link opened in another user\'s session' : 'link without the approver\'s session', tier: link.approval.tier, channel: 'email', attempt, address: req.ip ?? null },
    });
  }
  if (signedIn) {
    const current = await emailOf(deps, signedIn);
    page(res, 403, 'This approval is for someone else', `<p>This approval link was sent to ${h(approver)}, but you are signed in as ${h(current)}. Only ${h(approver)} can decide with it. Nothing was changed.</p>${signIn}`);
  } else {
    const why = link.approval.tier >= Tier.T4 ? 'This is a T4 (dangerous) approval' : 'The organization requires it';
    page(res, 401, 'Sign in to decide', `<p>${why}: the link alone is not enough. Sign in to Gatehouse as ${h(approver)}, the approver it was sent to, to see and decide it. Nothing was changed.</p>${signIn}`);
  }
  return null;
}

function approvalPage(res: Response, link: LinkWithApproval, requester: string, csrf: string, passkey: boolean, error?: string): void {
  const a = link.approval;
  const devices = (a.targets as { name: string }[]).map((d) => d.name);
  const t4 = a.tier >= Tier.T4;
  page(
    res,
    error ? 400 : 200,
    `Approve ${a.toolName}?`,
    (error ? `<p role="alert"><strong>${h(error)}</strong></p>` : '') +
      `<dl><dt>What</dt><dd>${h(a.summary)}</dd>` +
      `<dt>Tier</dt><dd>T${a.tier}${t4 ? ' — needs the typed confirmation below' : ''}</dd>` +
      `<dt>Devices</dt><dd>${devices.map(h).join(', ')}</dd>` +
      `<dt>Asked by</dt><dd>${h(requester)}</dd>` +
      `<dt>Expires</dt><dd>${h(a.expiresAt.toISOString())}</dd>` +
      `<dt>The exact call</dt><dd><pre>${h(JSON.stringify({ tool: a.toolName, input: a.input }, null, 2))}</pre></dd>` +
      `<dt>Digest</dt><dd><code>${h(a.digest)}</code></dd></dl>` +
      `<form method="post"><input type="hidden" name="_csrf" value="${h(csrf)}">` +
      `<label for="reason">Reason (optional)</label><textarea id="reason" name="reason" rows="2" maxlength="500"></textarea>` +
      (t4 && !passkey
        ? `<label for="confirmation">Type <code>${h(a.confirmationPhrase)}</code> to approve</label><input id="confirmation" name="confirmation" autocomplete="off" maxlength="200">`
        : '') +
      (passkey
        ? `<p><a class="approve" href="/#/approvals/${h(a.id)}">Approve in Gatehouse with your passkey</a> — approving this call is signed with your passkey over the exact call, in the console.</p><button class="reject" name="decision" value="reject">Reject</button></form>`
        : `<button class="approve" name="decision" value="approve">Approve</button><button class="reject" name="decision" value="reject">Reject</button></form>`) +
      `<p class="note">This link is yours alone and works once.</p>`,
  );
}

export function approvalLinkPages(deps: ApiDeps, opts: { secret: string; secureCookies: boolean }): express.Router {
  const { generateCsrfToken, validateRequest } = doubleCsrf({
    getSecret: () => opts.secret,
    // Bound to the link: a token for one link is no good for another.
    getSessionIdentifier: (req) => String(req.params.token ?? ''),
    cookieName: 'gh_link_csrf',
    cookieOptions: { sameSite: 'strict', path: '/a', secure: opts.secureCookies, httpOnly: true },
    getCsrfTokenFromRequest: (req) => (req.body as { _csrf?: string } | undefined)?._csrf,
  });
  const router = express.Router();
  router.use('/a', cookieParser(), express.urlencoded({ extended: false, limit: '16kb' }));

  const requesterOf = (a: Approval) => emailOf(deps, a.requestedBy);

  router.get('/a/:token', async (req, res, next) => {
    try {
      const link = await usableLink(deps, req, res);
      if (!link || ((await needsSession(deps, link)) && !(await approverSession(deps, req, res, link, false)))) return;
      approvalPage(res, link, await requesterOf(link.approval), generateCsrfToken(req, res, { overwrite: true }), await passkeyRequired(deps.prisma, link.approval));
    } catch (err) {
      next(err);
    }
  });

  router.post('/a/:token', async (req, res, next) => {
    try {
      const link = await usableLink(deps, req, res);
      if (!link) return;
      // Re-checked here, not trusted from the page: the form may be posted from anywhere the token went.
      const sessionRequired = await needsSession(deps, link);
      const principal = sessionRequired ? await approverSession(deps, req, res, link, true) : await principalOfUser(deps, link.userId);
      if (!principal && sessionRequired) return;
      if (!validateRequest(req)) {
        page(res, 403, 'This form has expired', '<p>Open the link from the email again and decide on the fresh page. Nothing was changed.</p>');
        return;
      }
      const form = Decision.safeParse(req.body);
      if (!form.success) {
        approvalPage(res, link, await requesterOf(link.approval), generateCsrfToken(req, res, { overwrite: true }), await passkeyRequired(deps.prisma, link.approval), 'Choose Approve or Reject.');
        return;
      }
      if (!principal) {
        page(res, 404, 'This link is not valid', '<p>The approver it was made for no longer exists. Nothing was changed.</p>');
        return;
      }
      try {
        await decideApproval(callerOf(deps, principal), {
          approvalId: link.approvalId,
          decision: form.data.decision === 'approve' ? 'approved' : 'rejected',
          reason: form.data.reason || undefined,
          digest: link.digest,
          confirmation: form.data.confirmation,
          channel: 'email',
        });
      } catch (err) {
        if (!(err instanceof AppError) || err.status >= 500) throw err;
        if (err.status === 409) {
          await deps.prisma.approvalLink.updateMany({ where: { id: link.id, usedAt: null }, data: { usedAt: new Date() } });
          page(res, 409, 'Someone decided first', `<p>${h(err.message)}. Nothing was changed by this link.</p>`);
          return;
        }
        approvalPage(res, link, await requesterOf(link.approval), generateCsrfToken(req, res, { overwrite: true }), await passkeyRequired(deps.prisma, link.approval), err.message);
        return;
      }
      await deps.prisma.approvalLink.updateMany({ where: { id: link.id, usedAt: null }, data: { usedAt: new Date() } });
      const approved = form.data.decision === 'approve';
      page(res, 200, approved ? 'Approved' : 'Rejected', `<p>${approved ? 'The copilot goes on and runs the call.' : 'The call will not run.'} Your decision was recorded with the channel “email”.</p>`);
    } catch (err) {
      next(err);
    }
  });
  return router;
}
