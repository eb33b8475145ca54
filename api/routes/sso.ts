/**
 * A partner admin's management of single sign-on: the partner's OpenID Connect providers (their client secret is
 * written, sealed, never read back) and the switch that turns password sign-in off. The operations are
 * services/oidc.ts's; signing in itself is pages/sso.ts's.
 */
import { OidcProviderAnswer, OidcProvidersAnswer, RemovedAnswer, SignInSettingsAnswer } from '../../common/api-answers';
import { z } from 'zod';
import { IdParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';
import * as oidc from '../services/oidc';

const Domain = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'must be a domain name such as example.com');

const view = (p: { id: string; name: string; issuer: string; clientId: string; emailDomains: string[]; createdAt: Date }, redirectUri: string) => ({
  id: p.id,
  name: p.name,
  issuer: p.issuer,
  clientId: p.clientId,
  emailDomains: p.emailDomains,
  redirectUri,
  createdAt: p.createdAt.toISOString(),
});

const redirectUriOf = (baseUrl: () => string | undefined) => new URL(oidc.CALLBACK_PATH, baseUrl() ?? 'http://127.0.0.1').href;

export const listOidcProviders = defineRoute({
  method: 'get',
  path: '/v1/partner/oidc-providers',
  summary: "The partner's OpenID Connect identity providers, with the redirect URI to register at each (partner admins; never the client secret)",
  tag: 'users',
  auth: 'user',
  responses: { 200: 'The providers', 401: 'Not authenticated', 403: 'Not a partner admin' },
  response: OidcProvidersAnswer,
  async handler(ctx) {
    return { status: 200, body: { providers: (await oidc.listProviders(ctx)).map((p) => view(p, redirectUriOf(ctx.baseUrl))) } };
  },
});

export const createOidcProvider = defineRoute({
  method: 'post',
  path: '/v1/partner/oidc-providers',
  summary: "Add an OpenID Connect identity provider the partner's staff sign in with (partner admins); the client secret is stored sealed and never shown again",
  tag: 'users',
  auth: 'user',
  body: z
    .object({
      name: z.string().trim().min(1).max(100).describe('Shown on the sign-in button, e.g. "Northwind Entra ID"'),
      issuer: z.url().max(500).describe('The issuer URL, e.g. https://login.microsoftonline.com/<tenant>/v2.0'),
      clientId: z.string().trim().min(1).max(500),
      clientSecret: z.string().min(1).max(2000),
      emailDomains: z.array(Domain).max(20).default([]).describe('People with a verified e-mail of these domains get a Gatehouse user (with no roles) on their first sign-in; empty: only existing users sign in'),
    })
    .strict(),
  responses: { 201: 'Added', 400: 'Invalid body', 401: 'Not authenticated', 403: 'Not a partner admin' },
  response: OidcProviderAnswer,
  async handler(ctx) {
    return { status: 201, body: view(await oidc.createProvider(ctx, ctx.body), redirectUriOf(ctx.baseUrl)) };
  },
});

export const deleteOidcProvider = defineRoute({
  method: 'delete',
  path: '/v1/partner/oidc-providers/:id',
  summary: 'Remove an identity provider (partner admins); not the last one while passwords are off',
  tag: 'users',
  auth: 'user',
  params: IdParams,
  responses: { 200: 'Removed', 401: 'Not authenticated', 403: 'Not a partner admin', 404: 'Unknown provider', 409: 'The last way to sign in' },
  response: RemovedAnswer,
  async handler(ctx) {
    await oidc.removeProvider(ctx, ctx.params.id);
    return { status: 200, body: { removed: true } };
  },
});

export const getSignInSettings = defineRoute({
  method: 'get',
  path: '/v1/partner/sign-in',
  summary: "How the partner's users sign in: whether passwords are allowed, and how many identity providers there are",
  tag: 'users',
  auth: 'user',
  responses: { 200: 'The settings', 401: 'Not authenticated' },
  response: SignInSettingsAnswer,
  async handler(ctx) {
    return { status: 200, body: await oidc.signInSettings(ctx) };
  },
});

export const putSignInSettings = defineRoute({
  method: 'put',
  path: '/v1/partner/sign-in',
  summary: "Turn password sign-in on or off for the partner's users (partner admins); off needs an identity provider first",
  tag: 'users',
  auth: 'user',
  body: z.object({ localPasswords: z.boolean() }).strict(),
  responses: { 200: 'Changed', 400: 'Invalid body', 401: 'Not authenticated', 403: 'Not a partner admin', 409: 'No identity provider yet' },
  response: SignInSettingsAnswer,
  async handler(ctx) {
    return { status: 200, body: await oidc.setLocalPasswords(ctx, ctx.body.localPasswords) };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const ssoRoutes: AnyRoute[] = [listOidcProviders, createOidcProvider, deleteOidcProvider, getSignInSettings, putSignInSettings];
