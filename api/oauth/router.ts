/**
 * The OAuth endpoints for MCP clients, mounted at the root: the SDK's `mcpAuthRouter` (RFC 8414 authorization server
 * metadata, RFC 9728 protected resource metadata for /mcp, RFC 7591 registration, /authorize with PKCE S256,
 * /token, /revoke) over our Prisma-backed provider, plus the root form of the resource metadata and the consent page.
 *
 * The issuer and the resource are this server's URL: PUBLIC_URL, or, without it, the loopback address the request
 * came to (localhost and 127.0.0.1 are different origins to a browser and to the tokens' audience). One SDK router
 * per such origin, made when first asked.
 */
import express, { type Request, type RequestHandler, type Response } from 'express';
import { mcpAuthRouter } from '@modelcontextprotocol/sdk/server/auth/router.js';
import { metadataHandler } from '@modelcontextprotocol/sdk/server/auth/handlers/metadata.js';
import type { ApiDeps } from '../deps';
import type { WebAuth } from '../http/web-session';
import { consentPages, consentPath } from './consent';
import { createOAuthProvider } from './provider';
import { SUPPORTED_SCOPES } from '../../common/oauth-scopes';

const LOOPBACK = /^(localhost|127\.0\.0\.1)(:\d{1,5})?$/i;

/** This server's origin as the request reached it, or undefined when it is not one we serve OAuth at. */
export function originOf(req: Pick<Request, 'headers'>, publicUrl: string | undefined): string | undefined {
  if (publicUrl) return new URL(publicUrl).origin;
  const host = req.headers.host;
  return host && LOOPBACK.test(host) ? `http://${host.toLowerCase()}` : undefined;
}

/** The /mcp resource at an origin, and where its metadata is (the WWW-Authenticate of a 401 points there). */
export const mcpResource = (origin: string) => new URL('/mcp', origin);
export const resourceMetadataUrl = (origin: string) => `${origin}/.well-known/oauth-protected-resource/mcp`;

/** Per client address: registration is rare (a client registers once), the rest is a sign-in's few requests. */
const LIMITS: Record<string, { max: number; windowMs: number }> = {
  '/register': { max: 20, windowMs: 60 * 60_000 },
  '/authorize': { max: 100, windowMs: 15 * 60_000 },
  '/token': { max: 50, windowMs: 15 * 60_000 },
  '/revoke': { max: 50, windowMs: 15 * 60_000 },
};

/** Refuses a client past its limit (429) or when the count cannot be kept (503), in OAuth's error shape. */
async function withinLimit(deps: ApiDeps, req: Request, res: Response): Promise<boolean> {
  const limit = LIMITS[req.path];
  if (!limit) return true;
  try {
    const hit = await deps.limiter.hit(`oauth:${req.path.slice(1)}:${req.ip ?? 'unknown'}`, limit);
    if (hit.allowed) return true;
    res.status(429).set('Retry-After', String(Math.ceil(hit.retryAfterMs / 1000))).json({ error: 'too_many_requests', error_description: `too many ${req.path.slice(1)} requests from this address; try again in ${Math.ceil(hit.retryAfterMs / 1000)}s` });
  } catch {
    res.status(503).json({ error: 'temporarily_unavailable', error_description: 'the rate limit cannot be checked right now (its store is unavailable); try again shortly' });
  }
  return false;
}

const OAUTH_PATHS = ['/authorize', '/token', '/register', '/revoke', '/.well-known/oauth-authorization-server', '/.well-known/oauth-protected-resource'];

export function oauthRouter(deps: ApiDeps, web: WebAuth): express.Router {
  const perOrigin = new Map<string, RequestHandler>();
  const forOrigin = (origin: string): RequestHandler => {
    let handler = perOrigin.get(origin);
    if (!handler) {
      const resource = mcpResource(origin);
      // The SDK's own per-process limiters are off (they would also be made here, at a request): ours below count in
      // Redis, shared by every api node and origin, and fail closed.
      const off = { rateLimit: false as const };
      const opts = {
        authorizationOptions: off,
        tokenOptions: off,
        clientRegistrationOptions: off,
        revocationOptions: off,
        provider: createOAuthProvider(deps, resource, consentPath),
        issuerUrl: new URL(origin),
        resourceServerUrl: resource,
        scopesSupported: SUPPORTED_SCOPES,
        resourceName: 'Gatehouse MCP',
      };
      const sdk = mcpAuthRouter(opts);
      // RFC 9728 also names the root form; the resource it describes is still /mcp.
      const root = metadataHandler({ resource: resource.href, authorization_servers: [new URL(origin).href], scopes_supported: SUPPORTED_SCOPES, resource_name: opts.resourceName });
      const both = express.Router();
      both.use('/.well-known/oauth-protected-resource', (req, res, next) => (req.path === '/' ? root(req, res, next) : next()));
      both.use(sdk);
      handler = both;
      perOrigin.set(origin, handler);
    }
    return handler;
  };

  const router = express.Router();
  router.use(async (req, res, next) => {
    if (!OAUTH_PATHS.some((p) => req.path === p || req.path.startsWith(`${p}/`))) return next();
    const origin = originOf(req, deps.config.publicUrl);
    if (!origin) return next();
    if (!(await withinLimit(deps, req, res))) return;
    try {
      forOrigin(origin)(req, res, next);
    } catch (err) {
      // The SDK refuses an issuer that is neither https nor loopback: no OAuth there, said once per request.
      deps.logger.warn({ err: (err as Error).message, origin }, 'oauth is not offered at this origin');
      next();
    }
  });
  router.use(consentPages(deps, web));
  return router;
}
