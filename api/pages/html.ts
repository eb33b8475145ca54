/**
 * The server-rendered pages' frame (e-mailed approval links, Slack link confirmation, sign-in): no script at all, a
 * CSP that allows only inline style and same-origin forms, no referrer (the URLs carry one-time tokens), no caching.
 * Every value is escaped with `h`.
 */
import escapeHtml from 'escape-html';
import type { Response } from 'express';

export const h = (v: unknown) => escapeHtml(String(v ?? ''));

/**
 * `formTargets`: origins a form of the page may end up at besides ours (browsers hold a form's redirects to
 * form-action too: the OAuth consent page's answer redirects to the client's own redirect URI).
 */
export function page(res: Response, status: number, title: string, body: string, formTargets: string[] = []): void {
  res
    .status(status)
    .set({
      'Content-Type': 'text/html; charset=utf-8',
      'Referrer-Policy': 'no-referrer',
      'Cache-Control': 'no-store',
      'Content-Security-Policy': `default-src 'none'; style-src 'unsafe-inline'; form-action 'self'${formTargets.map((o) => ` ${o}`).join('')}; frame-ancestors 'none'`,
      'X-Content-Type-Options': 'nosniff',
    })
    .send(
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
        `<meta name="referrer" content="no-referrer"><title>${h(title)} · Gatehouse</title>` +
        `<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}` +
        `dt{font-weight:600}dd{margin:0 0 .6rem}pre{background:#f3f4f6;padding:.8rem;overflow:auto;white-space:pre-wrap}` +
        `label{display:block;margin:.8rem 0 .2rem;font-weight:600}input,textarea{width:100%;font:inherit;padding:.4rem}` +
        `input[type=checkbox]{width:auto;margin:0 .5rem 0 0}fieldset{border:1px solid #d0d7de;margin:1rem 0;padding:.4rem 1rem .8rem}fieldset label{font-weight:400}` +
        `button{font:inherit;padding:.5rem 1.2rem;margin:1rem .6rem 0 0;cursor:pointer}.approve{background:#146c2e;color:#fff;border:0}` +
        `.reject{background:#a40e26;color:#fff;border:0}.note{color:#57606a}</style></head>` +
        `<body><main><h1>${h(title)}</h1>${body}</main></body></html>`,
    );
}

/**
 * Where the sign-in page may send the browser back to: only the pages that asked for a sign-in, by their exact
 * shape, so `next` can never become an open redirect.
 */
export const RETURNABLE = /^\/(a|slack\/link|oauth\/consent)\/[A-Za-z0-9_-]{43}$/;

/** A link to the sign-in page that comes back to `path` (one of the RETURNABLE pages). */
export const signInHref = (path: string) => `/signin?next=${encodeURIComponent(path)}`;

/** The signed-in web session's user id, if any (the session middleware runs before every page). */
export const sessionUserId = (req: { session?: unknown }): string | undefined => (req.session as { userId?: string } | undefined)?.userId;
