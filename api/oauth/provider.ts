/**
 * Gatehouse as an OAuth 2.1 authorization server for MCP clients: the `OAuthServerProvider` the SDK's handlers
 * (`mcpAuthRouter`: metadata, registration, /authorize, /token, /revoke) call, backed by PostgreSQL.
 *
 * /authorize records the request and sends the browser to the consent page (consent.ts), which makes the grant and
 * a one-time code. Every secret (consent token, code, access and refresh tokens) is stored as its SHA-256 only.
 * Access tokens are short-lived and bound to one resource (this server's /mcp URL, RFC 8707); refresh tokens rotate,
 * and a rotated one presented again revokes the whole grant (its family): someone holds a copy.
 */
import type { Response } from 'express';
import type { AuthorizationParams, OAuthServerProvider } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import type { OAuthRegisteredClientsStore } from '@modelcontextprotocol/sdk/server/auth/clients.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { InvalidClientMetadataError, InvalidGrantError, InvalidScopeError, InvalidTargetError, InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { OAuthClientInformationFullSchema, type OAuthClientInformationFull, type OAuthTokenRevocationRequest, type OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';
import type { Prisma } from '@prisma/client';
import type { AuditAction } from '../../audit/actions';
import { audit } from '../../audit/log';
import { randomToken, sha256 } from '../../lib/secrets';
import type { ApiDeps } from '../deps';
import { isScope, SUPPORTED_SCOPES } from '../../common/oauth-scopes';

/** How long an access token works; the client refreshes it after. Short: a leaked one is soon worthless. */
export const ACCESS_TOKEN_SECONDS = 15 * 60;
const REFRESH_TOKEN_SECONDS = 30 * 24 * 3600;
/** How long the consent page waits for the user, and the code for its exchange. */
export const REQUEST_SECONDS = 10 * 60;
export const CODE_SECONDS = 60;

const ACCESS_PREFIX = 'gho_';
const REFRESH_PREFIX = 'ghr_';

/** Whether a bearer value is one of our OAuth access tokens (API keys look otherwise: lib/secrets.ts). */
export const isOAuthAccessToken = (token: string) => token.startsWith(ACCESS_PREFIX);

/** Two resource URLs name the same resource (a fragment and one trailing slash aside, as the SDK compares them). */
export const sameResource = (a: string, b: string) => {
  const norm = (u: string) => {
    const url = new URL(u);
    url.hash = '';
    return url.href.replace(/\/$/, '');
  };
  try {
    return norm(a) === norm(b);
  } catch {
    return false;
  }
};

/** What /mcp learns from a valid access token (AuthInfo.extra). */
export interface OAuthTokenInfo {
  grantId: string;
  userId: string;
  orgIds: string[];
  clientId: string;
  clientName: string;
}

const secondsUntil = (d: Date) => Math.floor(d.getTime() / 1000);

/** Audits an event of a grant in each org it covers (each org's chain shows who acts there and through what). */
async function auditGrant(deps: ApiDeps, grant: { id: string; userId: string; orgIds: string[]; clientId: string }, action: AuditAction, data: Record<string, unknown> = {}) {
  for (const orgId of grant.orgIds) {
    await audit(deps.prisma, { orgId, actorType: 'user', actorId: grant.userId, action, target: grant.clientId, data: { grantId: grant.id, ...data } });
  }
}

/** Revokes a grant and every token of it, audited with why. */
export async function revokeGrant(deps: ApiDeps, grantId: string, why: string): Promise<void> {
  const now = new Date();
  const grant = await deps.prisma.$transaction(async (tx) => {
    const g = await tx.oAuthGrant.findUnique({ where: { id: grantId } });
    if (!g || g.revokedAt) return null;
    await tx.oAuthGrant.update({ where: { id: grantId }, data: { revokedAt: now, revokedWhy: why } });
    await tx.oAuthToken.updateMany({ where: { grantId, revokedAt: null }, data: { revokedAt: now } });
    return g;
  });
  if (grant) await auditGrant(deps, grant, 'oauth.grant_revoked', { why });
}

/** Issues a fresh access token and refresh token for a grant. */
async function issueTokens(db: Prisma.TransactionClient, grantId: string, scopes: string[]): Promise<OAuthTokens> {
  const access = `${ACCESS_PREFIX}${randomToken()}`;
  const refresh = `${REFRESH_PREFIX}${randomToken()}`;
  const now = Date.now();
  await db.oAuthToken.createMany({
    data: [
      { grantId, kind: 'access', hash: sha256(access), scopes, expiresAt: new Date(now + ACCESS_TOKEN_SECONDS * 1000) },
      { grantId, kind: 'refresh', hash: sha256(refresh), scopes, expiresAt: new Date(now + REFRESH_TOKEN_SECONDS * 1000) },
    ],
  });
  return { access_token: access, token_type: 'bearer', expires_in: ACCESS_TOKEN_SECONDS, refresh_token: refresh, scope: scopes.join(' ') };
}

function clientsStore(deps: ApiDeps): OAuthRegisteredClientsStore {
  return {
    async getClient(clientId) {
      if (clientId.length > 100) return undefined;
      const row = await deps.prisma.oAuthClient.findUnique({ where: { id: clientId } });
      if (!row) return undefined;
      const parsed = OAuthClientInformationFullSchema.safeParse(row.metadata);
      return parsed.success ? parsed.data : undefined;
    },
    async registerClient(client) {
      // A redirect URI is where codes go: https, http on a loopback address (RFC 8252), or an app's own scheme; never
      // one a browser runs or reads (javascript:, data:, file:).
      const bad = client.redirect_uris.find((u) => {
        const url = new URL(u);
        if (['javascript:', 'data:', 'vbscript:', 'file:', 'blob:', 'about:'].includes(url.protocol)) return true;
        return url.protocol === 'http:' && !['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
      });
      if (bad) throw new InvalidClientMetadataError(`redirect_uris: ${bad.slice(0, 100)} is not allowed (https, http on a loopback address, or an app's own scheme)`);
      // Public clients only: PKCE is their proof, and a client secret would have to be stored where it could be read
      // back (the SDK compares it in clear). A client that asked for a secret is registered as public (RFC 7591
      // lets the server say what it registered), so it authenticates with PKCE like the rest.
      const info = { ...client, token_endpoint_auth_method: 'none', client_secret: undefined, client_secret_expires_at: undefined } as OAuthClientInformationFull;
      const name = (info.client_name ?? '').replace(/[^\x20-\x7e]/g, '').slice(0, 100) || 'unnamed MCP client';
      await deps.prisma.oAuthClient.create({ data: { id: info.client_id, name, redirectUris: info.redirect_uris, metadata: JSON.parse(JSON.stringify(info)) as Prisma.InputJsonValue } });
      return info;
    },
  };
}

/** The provider for the resource `resource` (this server's /mcp URL, as reached at one origin). */
export function createOAuthProvider(deps: ApiDeps, resource: URL, consentPath: (token: string) => string): OAuthServerProvider {
  const store = clientsStore(deps);

  /** The authorization a code names, if it is this client's, unused and unexpired; else the exchange is refused. */
  async function codeRow(client: OAuthClientInformationFull, code: string) {
    const row = code.length <= 100 ? await deps.prisma.oAuthAuthorization.findUnique({ where: { codeHash: sha256(code) } }) : null;
    if (!row || row.clientId !== client.client_id || !row.grantId) throw new InvalidGrantError('the authorization code is unknown');
    if (row.expiresAt.getTime() <= Date.now()) throw new InvalidGrantError('the authorization code expired; authorize again');
    return row;
  }

  return {
    clientsStore: store,

    async authorize(client, params: AuthorizationParams, res: Response) {
      if (params.resource && !sameResource(params.resource.href, resource.href)) {
        throw new InvalidTargetError(`this server issues tokens for ${resource.href} only`);
      }
      const asked = params.scopes ?? [];
      const unknown = asked.filter((s) => !isScope(s));
      if (unknown.length) throw new InvalidScopeError(`unknown scope ${unknown.join(', ').slice(0, 100)}; supported: ${SUPPORTED_SCOPES.join(' ')}`);
      const token = randomToken();
      await deps.prisma.oAuthAuthorization.create({
        data: {
          requestHash: sha256(token),
          clientId: client.client_id,
          redirectUri: params.redirectUri,
          codeChallenge: params.codeChallenge,
          // None asked: both offered; the user unticks what they do not grant.
          scopes: asked.length ? [...new Set(asked)] : SUPPORTED_SCOPES,
          state: params.state ?? null,
          resource: resource.href,
          expiresAt: new Date(Date.now() + REQUEST_SECONDS * 1000),
        },
      });
      // Requests and tokens a day past their expiry are of no use to anyone (an expired code or token is refused
      // whether its row is there or not): pruned as new ones are made, so the tables do not grow without end.
      const dayAgo = new Date(Date.now() - 86_400_000);
      void Promise.all([
        deps.prisma.oAuthAuthorization.deleteMany({ where: { expiresAt: { lt: dayAgo } } }),
        deps.prisma.oAuthToken.deleteMany({ where: { expiresAt: { lt: dayAgo } } }),
      ]).catch((err: unknown) => deps.logger.warn({ err: (err as Error).message }, 'OAuth: pruning expired requests and tokens failed'));
      res.redirect(302, consentPath(token));
    },

    async challengeForAuthorizationCode(client, code) {
      return (await codeRow(client, code)).codeChallenge;
    },

    async exchangeAuthorizationCode(client, code, _verifier, redirectUri, requested) {
      const row = await codeRow(client, code);
      if (redirectUri !== undefined && redirectUri !== row.redirectUri) throw new InvalidGrantError('redirect_uri is not the one the code was issued to');
      if (requested && !sameResource(requested.href, row.resource)) throw new InvalidTargetError(`the code was issued for ${row.resource}`);
      const grantId = row.grantId!;
      const tokens = await deps.prisma.$transaction(async (tx) => {
        // Used once: a second exchange (a code intercepted and replayed) finds it used, and the grant ends.
        const claimed = await tx.oAuthAuthorization.updateMany({ where: { id: row.id, usedAt: null }, data: { usedAt: new Date() } });
        if (claimed.count !== 1) return null;
        const grant = await tx.oAuthGrant.findUniqueOrThrow({ where: { id: grantId } });
        if (grant.revokedAt) return null;
        return issueTokens(tx, grant.id, grant.scopes);
      });
      if (!tokens) {
        await revokeGrant(deps, grantId, 'code_reuse');
        throw new InvalidGrantError('the authorization code was already used; its grant is revoked');
      }
      return tokens;
    },

    async exchangeRefreshToken(client, refreshToken, scopes, requested) {
      const row = refreshToken.startsWith(REFRESH_PREFIX) && refreshToken.length <= 100
        ? await deps.prisma.oAuthToken.findUnique({ where: { hash: sha256(refreshToken) }, include: { grant: true } })
        : null;
      if (!row || row.kind !== 'refresh' || row.grant.clientId !== client.client_id) throw new InvalidGrantError('the refresh token is unknown');
      if (row.grant.revokedAt || row.revokedAt) throw new InvalidGrantError('the grant was revoked; authorize again');
      if (row.usedAt) {
        // Reuse of a rotated token: the client or a thief holds an old copy. Nobody can tell which; both lose it.
        await revokeGrant(deps, row.grantId, 'refresh_token_reuse');
        throw new InvalidGrantError('this refresh token was already used; the grant is revoked, authorize again');
      }
      if (row.expiresAt.getTime() <= Date.now()) throw new InvalidGrantError('the refresh token expired; authorize again');
      if (requested && !sameResource(requested.href, row.grant.resource)) throw new InvalidTargetError(`the grant is for ${row.grant.resource}`);
      // The grant's scopes are what authorization holds calls to; a refresh neither widens nor narrows them.
      if (scopes?.some((s) => !row.grant.scopes.includes(s))) throw new InvalidScopeError('a refresh cannot add scopes the grant does not have');
      const tokens = await deps.prisma.$transaction(async (tx) => {
        const claimed = await tx.oAuthToken.updateMany({ where: { id: row.id, usedAt: null }, data: { usedAt: new Date() } });
        return claimed.count === 1 ? issueTokens(tx, row.grant.id, row.grant.scopes) : null;
      });
      if (!tokens) {
        await revokeGrant(deps, row.grantId, 'refresh_token_reuse');
        throw new InvalidGrantError('this refresh token was already used; the grant is revoked, authorize again');
      }
      return tokens;
    },

    verifyAccessToken: (token) => verifyAccessToken(deps, token),

    async revokeToken(client, request: OAuthTokenRevocationRequest) {
      if (request.token.length > 100) return;
      const row = await deps.prisma.oAuthToken.findUnique({ where: { hash: sha256(request.token) }, include: { grant: true } });
      // RFC 7009: an unknown token (or another client's) is answered as revoked, and nothing happens.
      if (!row || row.grant.clientId !== client.client_id) return;
      if (row.kind === 'refresh') return revokeGrant(deps, row.grantId, 'client');
      await deps.prisma.oAuthToken.updateMany({ where: { id: row.id, revokedAt: null }, data: { revokedAt: new Date() } });
    },
  };
}

/**
 * The grant behind an access token, as /mcp believes it: unknown, revoked or a disabled user's is invalid. An expired
 * token is returned with its past expiry (the SDK's bearer check refuses it as expired, which clients act on).
 */
export async function verifyAccessToken(deps: ApiDeps, token: string): Promise<AuthInfo> {
  const row = isOAuthAccessToken(token) && token.length <= 100
    ? await deps.prisma.oAuthToken.findUnique({ where: { hash: sha256(token) }, include: { grant: { include: { client: true, user: true } } } })
    : null;
  if (!row || row.kind !== 'access') throw new InvalidTokenError('the access token is unknown');
  if (row.revokedAt || row.grant.revokedAt) throw new InvalidTokenError('the access token was revoked');
  if (row.grant.user.disabledAt) throw new InvalidTokenError("the token's user is disabled");
  const { grant } = row;
  if (!grant.lastUsedAt || Date.now() - grant.lastUsedAt.getTime() > 60_000) {
    void deps.prisma.oAuthGrant.update({ where: { id: grant.id }, data: { lastUsedAt: new Date() } }).catch(() => undefined);
  }
  const extra: OAuthTokenInfo = { grantId: grant.id, userId: grant.userId, orgIds: grant.orgIds, clientId: grant.clientId, clientName: grant.client.name };
  return { token: 'redacted', clientId: grant.clientId, scopes: row.scopes, expiresAt: secondsUntil(row.expiresAt), resource: new URL(grant.resource), extra: { oauth: extra } };
}
