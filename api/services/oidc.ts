/**
 * Signing in with a partner's OpenID Connect provider (Entra ID, Google Workspace, Okta, ...), and the partner admin's
 * management of those providers and of the switch that turns password sign-in off.
 *
 * The flow is the authorization code flow with PKCE, state and nonce (openid-client). A sign-in started here is a row
 * of OidcLogin holding the verifier and the nonce; its state is sent to the provider and kept in a cookie of the
 * browser that started it. The callback uses the row once, has openid-client check the ID token (signature by the
 * provider's JWKS, issuer, audience, expiry, nonce), accepts an ID token once, needs `email_verified`, and then finds
 * the partner's user with that e-mail, or provisions one with no roles (roles are granted in Gatehouse only).
 * Every refusal is an OidcRefusal: a message a person understands, and an audit event.
 *
 * openid-client 6 is ESM only. `npm start` runs us through tsx on Node 20.19+, which can require() ESM; jest's module
 * registry cannot (jestjs/jest#15716), so jest.config.js compiles it (and oauth4webapi and jose) to CommonJS. A plain
 * static import thus works in both, with no dynamic-import tricks.
 */
import * as client from 'openid-client';
import type { PayloadCodec } from '@temporalio/common';
import { Prisma } from '@prisma/client';
import { AppError, AppErrorCode } from '../../lib/app-error';
import { audit } from '../../audit/log';
import type { PrismaClient } from '../../lib/prisma';
import { openSecret, sealSecret } from '../../lib/sealed-secret';
import { sha256 } from '../../lib/secrets';
import type { Caller } from './caller';

/** How long a started sign-in waits for its callback. */
const LOGIN_TTL_MS = 10 * 60_000;
/** How long a provider's discovered metadata is reused before it is fetched again. */
const DISCOVERY_TTL_MS = 10 * 60_000;

/** The path of the one redirect URI every provider is registered with (the state says which provider it was). */
export const CALLBACK_PATH = '/signin/oidc/callback';

export type RefusalReason =
  | 'unknown-state'
  | 'other-browser'
  | 'replayed'
  | 'expired-login'
  | 'provider-error'
  | 'provider-unreachable'
  | 'wrong-audience'
  | 'wrong-issuer'
  | 'expired-token'
  | 'wrong-nonce'
  | 'bad-signature'
  | 'invalid-token'
  | 'unverified-email'
  | 'no-email'
  | 'other-partner'
  | 'disabled'
  | 'unknown-user';

/** A sign-in the callback refused: `message` is shown to the person, `reason` goes to the audit log. */
export class OidcRefusal extends Error {
  constructor(
    readonly reason: RefusalReason,
    message: string,
  ) {
    super(message);
  }
}

// ---- providers (partner admins) ---------------------------------------------------------------------------------

function requirePartnerAdmin(caller: Caller): void {
  if (!caller.principal.partnerAdmin) throw new AppError(AppErrorCode.Forbidden, "only a partner admin can change how the partner's users sign in");
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Whether the issuer may be reached over plain HTTP: only on this machine (the local demo provider, tests). */
const loopbackHttp = (issuer: URL) => issuer.protocol === 'http:' && LOOPBACK.has(issuer.hostname);

/** Why an issuer URL is refused, or undefined: HTTPS, or plain HTTP on loopback only. */
export function issuerProblem(issuer: string): string | undefined {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return 'body.issuer: not a URL';
  }
  if (url.protocol !== 'https:' && !loopbackHttp(url)) return 'body.issuer: must be an https:// URL (plain http only on this machine, for local testing)';
  if (url.search || url.hash) return 'body.issuer: must have no query or fragment';
  return undefined;
}

export async function listProviders(caller: Caller) {
  requirePartnerAdmin(caller);
  return caller.deps.prisma.oidcProvider.findMany({ where: { partnerId: caller.principal.partnerId }, orderBy: { createdAt: 'asc' } });
}

/**
 * A sign-in through a provider is on the word of the partner admin who registered it (a provider they run can say
 * anyone is anyone): noted on the user before their session starts, so that the T4 rule counts them as set up by that
 * admin (lib/approval-authority.ts vouchedByAuthors). A failure fails the sign-in.
 */
async function recordVouching(system: PrismaClient, userId: string, registrant: string | null): Promise<void> {
  if (!registrant) return;
  await system.user.updateMany({ where: { id: userId, NOT: { ssoVouchedBy: { has: registrant } } }, data: { ssoVouchedBy: { push: registrant } } });
}

export async function createProvider(caller: Caller, input: { name: string; issuer: string; clientId: string; clientSecret: string; emailDomains: string[] }) {
  requirePartnerAdmin(caller);
  const problem = issuerProblem(input.issuer);
  if (problem) throw new AppError(AppErrorCode.BadRequest, problem);
  const provider = await caller.deps.prisma.oidcProvider.create({
    data: {
      partnerId: caller.principal.partnerId,
      name: input.name,
      issuer: input.issuer,
      clientId: input.clientId,
      clientSecret: await sealSecret(caller.deps.payloadCodec, input.clientSecret),
      emailDomains: [...new Set(input.emailDomains.map((d) => d.toLowerCase()))],
      createdBy: caller.principal.userId,
    },
  });
  await audit(caller.system, {
    actorType: 'user',
    actorId: caller.principal.userId,
    action: 'oidc_provider.created',
    target: provider.issuer,
    data: { providerId: provider.id, name: provider.name, clientId: provider.clientId, emailDomains: provider.emailDomains },
  });
  return provider;
}

export async function removeProvider(caller: Caller, id: string): Promise<void> {
  requirePartnerAdmin(caller);
  const provider = await caller.deps.prisma.oidcProvider.findFirst({ where: { id, partnerId: caller.principal.partnerId } });
  if (!provider) throw AppError.notFound('identity provider');
  const partner = await caller.deps.prisma.partner.findUniqueOrThrow({ where: { id: caller.principal.partnerId } });
  const others = await caller.deps.prisma.oidcProvider.count({ where: { partnerId: partner.id, id: { not: provider.id } } });
  if (!partner.localPasswords && others === 0) {
    throw new AppError(AppErrorCode.Conflict, 'this is the last identity provider and passwords are turned off: nobody could sign in; turn passwords on first');
  }
  await caller.deps.prisma.oidcProvider.delete({ where: { id: provider.id } });
  await audit(caller.system, { actorType: 'user', actorId: caller.principal.userId, action: 'oidc_provider.removed', target: provider.issuer, data: { providerId: provider.id, name: provider.name } });
}

export async function signInSettings(caller: Caller) {
  const partner = await caller.deps.prisma.partner.findUniqueOrThrow({ where: { id: caller.principal.partnerId } });
  const providers = await caller.deps.prisma.oidcProvider.count({ where: { partnerId: partner.id } });
  return { localPasswords: partner.localPasswords, providers };
}

/** Turns password sign-in on or off for the partner's users; off needs a provider to sign in with instead. */
export async function setLocalPasswords(caller: Caller, on: boolean) {
  requirePartnerAdmin(caller);
  const providers = await caller.deps.prisma.oidcProvider.count({ where: { partnerId: caller.principal.partnerId } });
  if (!on && providers === 0) {
    throw new AppError(AppErrorCode.Conflict, 'body.localPasswords: add an identity provider first (POST /v1/partner/oidc-providers), or nobody could sign in');
  }
  await caller.deps.prisma.partner.update({ where: { id: caller.principal.partnerId }, data: { localPasswords: on } });
  await audit(caller.system, { actorType: 'user', actorId: caller.principal.userId, action: on ? 'partner.passwords_on' : 'partner.passwords_off', target: caller.principal.partnerId });
  return { localPasswords: on, providers };
}

// ---- signing in -------------------------------------------------------------------------------------------------

/** What the sign-in flow needs: the unfenced client (nobody is signed in yet), the payload codec, and the callback URL. */
export interface SsoDeps {
  system: PrismaClient;
  codec: PayloadCodec;
  redirectUri: string;
}

/**
 * The providers a person with this e-mail signs in with: their partner's, when they are a user already; otherwise
 * those that provision people of the e-mail's domain.
 */
export async function providersForEmail(system: PrismaClient, email: string) {
  const user = await system.user.findUnique({ where: { email }, select: { partnerId: true } });
  if (user) return system.oidcProvider.findMany({ where: { partnerId: user.partnerId }, orderBy: { createdAt: 'asc' } });
  const domain = email.split('@')[1] ?? '';
  return system.oidcProvider.findMany({ where: { emailDomains: { has: domain } }, orderBy: { createdAt: 'asc' } });
}

type ProviderRow = { id: string; issuer: string; clientId: string; clientSecret: string };

const configurations = new Map<string, { config: client.Configuration; until: number }>();

/** The provider's discovered metadata and our client at it (cached a while; a changed row is a new provider id). */
async function configurationOf(codec: PayloadCodec, provider: ProviderRow): Promise<client.Configuration> {
  const cached = configurations.get(provider.id);
  if (cached && cached.until > Date.now()) return cached.config;
  const issuer = new URL(provider.issuer);
  let config: client.Configuration;
  try {
    config = await client.discovery(
      issuer,
      provider.clientId,
      undefined,
      client.ClientSecretBasic(await openSecret(codec, provider.clientSecret)),
      // Plain HTTP only to a provider on this machine (issuerProblem refuses any other when it is registered).
      loopbackHttp(issuer) ? { execute: [client.allowInsecureRequests], timeout: 10 } : { timeout: 10 },
    );
  } catch (err) {
    throw new OidcRefusal('provider-unreachable', `Gatehouse could not read the identity provider's configuration at ${provider.issuer} (${(err as Error).message}); try again, or ask your partner admin to check the provider`);
  }
  // The ID token's signature is checked against the provider's JWKS too, not only trusted for coming over TLS.
  client.enableNonRepudiationChecks(config);
  configurations.set(provider.id, { config, until: Date.now() + DISCOVERY_TTL_MS });
  return config;
}

/** Starts a sign-in at the provider: the URL to send the browser to and the state its cookie keeps. */
export async function startLogin(deps: SsoDeps, providerId: string, returnTo: string): Promise<{ url: string; state: string }> {
  const provider = await deps.system.oidcProvider.findUnique({ where: { id: providerId } });
  if (!provider) throw AppError.notFound('identity provider');
  const config = await configurationOf(deps.codec, provider);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const codeVerifier = client.randomPKCECodeVerifier();
  await deps.system.oidcLogin.create({
    data: { providerId: provider.id, stateHash: sha256(state), nonce, codeVerifier, returnTo, expiresAt: new Date(Date.now() + LOGIN_TTL_MS) },
  });
  // Sign-ins a day past their expiry go: their ID tokens (kept against replay) have long expired by then, and an
  // expired token is refused anyway. Best effort: a failed clean-up does not stop a sign-in.
  void deps.system.oidcLogin.deleteMany({ where: { expiresAt: { lt: new Date(Date.now() - 86_400_000) } } }).catch(() => undefined);
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: deps.redirectUri,
    scope: 'openid email profile',
    state,
    nonce,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
  });
  return { url: url.href, state };
}

/** What openid-client's refusal of the provider's answer means, for a person. */
function refusalOf(err: unknown, issuer: string): OidcRefusal {
  // openid-client's own message is general ("unexpected JWT claim value encountered"); its causes name the claim.
  const said: string[] = [];
  for (let e: unknown = err, depth = 0; e && depth < 4; depth++) {
    if (e instanceof Error) said.push(e.message);
    const claim = (e as { claim?: unknown }).claim;
    if (typeof claim === 'string') said.push(`"${claim}"`);
    e = (e as { cause?: unknown }).cause;
  }
  const message = said.join('; ');
  if (err instanceof client.AuthorizationResponseError) {
    return new OidcRefusal('provider-error', `the identity provider did not sign you in: ${err.error}${err.error_description ? ` (${err.error_description})` : ''}`);
  }
  if (err instanceof client.ResponseBodyError) {
    // invalid_grant: the code was used already or has expired.
    return new OidcRefusal(err.error === 'invalid_grant' ? 'replayed' : 'provider-error', `the identity provider refused to complete the sign-in: ${err.error}${err.error_description ? ` (${err.error_description})` : ''}`);
  }
  if (/"aud"|audience|"azp"/.test(message)) return new OidcRefusal('wrong-audience', 'the ID token was issued for another application (its audience is not Gatehouse): it cannot sign you in here');
  if (/"iss"/.test(message)) return new OidcRefusal('wrong-issuer', `the ID token was not issued by ${issuer}, the provider this sign-in started at`);
  if (/"nonce"/.test(message)) return new OidcRefusal('wrong-nonce', 'the ID token was not issued for this sign-in (its nonce does not match): a replayed or substituted token');
  if (/"exp"|"iat"|expir/.test(message)) return new OidcRefusal('expired-token', 'the ID token has expired; sign in again');
  if (/signature|JWS|key/i.test(message)) return new OidcRefusal('bad-signature', "the ID token's signature does not verify with the identity provider's keys");
  return new OidcRefusal('invalid-token', `the identity provider's answer could not be verified (${said[0] ?? message})`);
}

/**
 * Completes a sign-in from the provider's redirect to `callbackUrl`, whose state the browser's cookie (`cookieState`)
 * must match. Answers the user to bind to the web session, or throws OidcRefusal; either way the login is used up.
 */
export async function finishLogin(deps: SsoDeps, callbackUrl: URL, cookieState: string | undefined) {
  const state = callbackUrl.searchParams.get('state') ?? '';
  const login = state ? await deps.system.oidcLogin.findUnique({ where: { stateHash: sha256(state) }, include: { provider: true } }) : null;
  if (!login) {
    await audit(deps.system, { actorType: 'user', actorId: null, action: 'security.oidc_signin_refused', target: 'unknown', data: { reason: 'unknown-state', providerId: null } });
    throw new OidcRefusal('unknown-state', 'this sign-in answer is not one Gatehouse asked for (unknown state); start signing in again');
  }
  const provider = login.provider;
  const refuse = async (refusal: OidcRefusal, userId: string | null = null, email: string | null = null): Promise<never> => {
    await audit(deps.system, { actorType: 'user', actorId: userId, action: 'security.oidc_signin_refused', target: email ?? provider.issuer, data: { reason: refusal.reason, providerId: provider.id } });
    throw refusal;
  };
  // Used once, whatever happens next: an answer replayed (the back button, a copied URL) finds it used.
  const claimed = await deps.system.oidcLogin.updateMany({ where: { id: login.id, usedAt: null }, data: { usedAt: new Date() } });
  if (claimed.count === 0) return refuse(new OidcRefusal('replayed', 'this sign-in answer was used already (a replayed or reloaded callback); start signing in again'));
  if (cookieState !== state) return refuse(new OidcRefusal('other-browser', 'this sign-in was started in another browser, or its cookie has expired; start signing in again here'));
  if (login.expiresAt.getTime() < Date.now()) return refuse(new OidcRefusal('expired-login', 'this sign-in took longer than 10 minutes; start again'));

  let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
  try {
    const config = await configurationOf(deps.codec, provider);
    // Only the parameters the provider sent: our own redirect URI with them (not the Host header the request came with).
    const current = new URL(deps.redirectUri);
    current.search = callbackUrl.search;
    tokens = await client.authorizationCodeGrant(config, current, { pkceCodeVerifier: login.codeVerifier, expectedState: state, expectedNonce: login.nonce, idTokenExpected: true });
  } catch (err) {
    return refuse(err instanceof OidcRefusal ? err : refusalOf(err, provider.issuer));
  }
  const claims = tokens.claims();
  if (!claims || !tokens.id_token) return refuse(new OidcRefusal('invalid-token', 'the identity provider sent no ID token'));
  // An ID token signs in once: the same token back again (even for a new sign-in) is a replay.
  try {
    await deps.system.oidcLogin.update({ where: { id: login.id }, data: { idTokenHash: sha256(tokens.id_token) } });
  } catch (err) {
    if (err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002') return refuse(new OidcRefusal('replayed', 'this ID token was used to sign in already: a replayed token'));
    throw err;
  }
  const email = typeof claims.email === 'string' ? claims.email.toLowerCase() : null;
  if (!email) return refuse(new OidcRefusal('no-email', 'the identity provider did not tell Gatehouse your e-mail address (ask your admin to release the "email" claim to Gatehouse)'));
  if (claims.email_verified !== true) {
    return refuse(new OidcRefusal('unverified-email', `the identity provider has not verified the e-mail address ${email}; Gatehouse matches people by verified e-mail only`), null, email);
  }
  const existing = await deps.system.user.findUnique({ where: { email } });
  if (existing && existing.partnerId !== provider.partnerId) {
    return refuse(new OidcRefusal('other-partner', `${email} belongs to another partner's Gatehouse; this identity provider cannot sign it in`), existing.id, email);
  }
  if (existing?.disabledAt) return refuse(new OidcRefusal('disabled', `the Gatehouse user ${email} is disabled; ask your partner admin`), existing.id, email);
  if (existing) {
    await recordVouching(deps.system, existing.id, provider.createdBy);
    return { user: existing, provider, provisioned: false, returnTo: login.returnTo };
  }
  const domain = email.split('@')[1] ?? '';
  if (!provider.emailDomains.includes(domain)) {
    return refuse(new OidcRefusal('unknown-user', `${email} is not a Gatehouse user of this partner, and this provider does not add people of ${domain}; ask your partner admin to add you`), null, email);
  }
  const name = typeof claims.name === 'string' && claims.name.trim() ? claims.name.trim().slice(0, 100) : email;
  const user = await deps.system.user.create({ data: { partnerId: provider.partnerId, email, name, passwordHash: null, ssoVouchedBy: provider.createdBy ? [provider.createdBy] : [] } });
  // With no roles: what they may do is granted in Gatehouse, by an organization's admin.
  await audit(deps.system, { actorType: 'user', actorId: user.id, action: 'user.provisioned', target: email, data: { userId: user.id, providerId: provider.id, subject: String(claims.sub) } });
  return { user, provider, provisioned: true, returnTo: login.returnTo };
}
