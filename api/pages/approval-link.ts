/**
 * The approval page behind an emailed link, `/a/<token>`. A GET shows what is asked (tool, tier, devices, who
 * asked, the exact call) and changes nothing, so mail scanners that prefetch links are harmless. The decision is a
 * POST carrying a CSRF token (double-submit cookie, bound to the link); T4 asks for the typed confirmation phrase.
 * It goes through the same decision service as every other channel, as the link's approver, with the digest the
 * link was made for. A used, expired or unknown link gets a clear page and nothing happens.
 */
import cookieParser from 'cookie-parser';
import { doubleCsrf } from 'csrf-csrf';
import escapeHtml from 'escape-html';
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import type { Approval, ApprovalLink } from '@prisma/client';
import { AppError } from '../../lib/app-error';
import { sha256 } from '../../lib/secrets';
import { Tier } from '../../common/tools';
import type { ApiDeps } from '../deps';
import { principalOfUser } from '../http/auth';
import { decideApproval, emailOf } from '../services/decide-approval';

const Token = z.string().regex(/^[A-Za-z0-9_-]{43}$/);
const Decision = z
  .object({
    _csrf: z.string().max(512),
    decision: z.enum(['approve', 'reject']),
    reason: z.string().trim().max(500).optional(),
    confirmation: z.string().trim().max(200).optional(),
  })
  .strict();

const h = (v: unknown) => escapeHtml(String(v ?? ''));

function page(res: Response, status: number, title: string, body: string): void {
  res
    .status(status)
    .set({
      'Content-Type': 'text/html; charset=utf-8',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
      'X-Content-Type-Options': 'nosniff',
    })
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
        `<meta name="referrer" content="no-referrer"><title>${h(title)} · Gatehouse</title>` +
        `<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}` +
        `dt{font-weight:600}dd{margin:0 0 .6rem}pre{background:#f3f4f6;padding:.8rem;overflow:auto;white-space:pre-wrap}` +
        `label{display:block;margin:.8rem 0 .2rem;font-weight:600}input,textarea{width:100%;font:inherit;padding:.4rem}` +
        `button{font:inherit;padding:.5rem 1.2rem;margin:1rem .6rem 0 0;cursor:pointer}.approve{background:#146c2e;color:#fff;border:0}` +
        `.reject{background:#a40e26;color:#fff;border:0}.note{color:#57606a}</style></head>` +
        `<body><main><h1>${h(title)}</h1>${body}</main></body></html>`,
    );
}

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

function approvalPage(res: Response, link: LinkWithApproval, requester: string, csrf: string, error?: string): void {
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
      (t4
        ? `<label for="confirmation">Type <code>${h(a.confirmationPhrase)}</code> to approve</label><input id="confirmation" name="confirmation" autocomplete="off" maxlength="200">`
        : '') +
      `<button class="approve" name="decision" value="approve">Approve</button><button class="reject" name="decision" value="reject">Reject</button></form>` +
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
      if (link) approvalPage(res, link, await requesterOf(link.approval), generateCsrfToken(req, res, { overwrite: true }));
    } catch (err) {
      next(err);
    }
  });

  router.post('/a/:token', async (req, res, next) => {
    try {
      const link = await usableLink(deps, req, res);
      if (!link) return;
      if (!validateRequest(req)) {
        page(res, 403, 'This form has expired', '<p>Open the link from the email again and decide on the fresh page. Nothing was changed.</p>');
        return;
      }
      const form = Decision.safeParse(req.body);
      if (!form.success) {
        approvalPage(res, link, await requesterOf(link.approval), generateCsrfToken(req, res, { overwrite: true }), 'Choose Approve or Reject.');
        return;
      }
      const principal = await principalOfUser(deps, link.userId);
      if (!principal) {
        page(res, 404, 'This link is not valid', '<p>The approver it was made for no longer exists. Nothing was changed.</p>');
        return;
      }
      try {
        await decideApproval(deps, principal, {
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
        approvalPage(res, link, await requesterOf(link.approval), generateCsrfToken(req, res, { overwrite: true }), err.message);
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
