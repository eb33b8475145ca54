/**
 * Passkeys: a user's own (registered in the signed-in console only), the options a browser needs to sign a
 * decision on one approval, and the org's rule for T3 (T4 always needs one). services/passkeys.ts does the work.
 */
import { NothingAnswer, PasskeyAnswer, PasskeyRuleAnswer, PasskeysAnswer, WebAuthnOptionsAnswer } from '../../common/api-answers';
import { z } from 'zod';
import { IdParams, OrgParams } from '../http/params';
import { defineRoute, type AnyRoute } from '../http/route';
import { findApproval } from '../services/decide-approval';
import * as orgs from '../services/orgs';
import { approvalAssertionOptions, listPasskeys, registerPasskey, registrationOptions, RegistrationResponse, removePasskey } from '../services/passkeys';

export const getPasskeys = defineRoute({
  method: 'get',
  path: '/v1/passkeys',
  summary: "The caller's passkeys",
  tag: 'passkeys',
  auth: 'user',
  responses: { 200: 'The passkeys', 401: 'Not authenticated' },
  response: PasskeysAnswer,
  async handler(ctx) {
    return { status: 200, body: { passkeys: await listPasskeys(ctx) } };
  },
});

export const postRegistrationOptions = defineRoute({
  method: 'post',
  path: '/v1/passkeys/registration-options',
  summary: 'Start registering a passkey (signed-in console session only): the options for navigator.credentials.create',
  tag: 'passkeys',
  auth: 'user',
  body: z.object({}).strict(),
  responses: { 200: 'The options', 401: 'Not authenticated', 403: 'Not a console session' },
  response: WebAuthnOptionsAnswer,
  async handler(ctx) {
    return { status: 200, body: await registrationOptions(ctx) };
  },
});

export const postPasskey = defineRoute({
  method: 'post',
  path: '/v1/passkeys',
  summary: 'Register a passkey with the answer of navigator.credentials.create (signed-in console session only; audited)',
  tag: 'passkeys',
  auth: 'user',
  body: z.object({ name: z.string().trim().min(1).max(100), response: RegistrationResponse }).strict(),
  responses: { 201: 'Registered', 400: 'Invalid or unverifiable registration', 401: 'Not authenticated', 403: 'Not a console session' },
  response: PasskeyAnswer,
  async handler(ctx) {
    return { status: 201, body: await registerPasskey(ctx, ctx.body) };
  },
});

export const deletePasskey = defineRoute({
  method: 'delete',
  path: '/v1/passkeys/:id',
  summary: 'Remove one of your passkeys (signed-in console session only; audited)',
  tag: 'passkeys',
  auth: 'user',
  params: IdParams,
  responses: { 200: 'Removed', 401: 'Not authenticated', 403: 'Not a console session', 404: 'Unknown passkey' },
  response: NothingAnswer,
  async handler(ctx) {
    await removePasskey(ctx, ctx.params.id);
    return { status: 200, body: {} };
  },
});

export const postApprovalPasskeyOptions = defineRoute({
  method: 'post',
  path: '/v1/approvals/:id/passkey-options',
  summary: "The options for signing a decision on this approval with your passkey: the challenge is derived from the approval's digest, single use",
  tag: 'approvals',
  auth: 'user',
  params: IdParams,
  body: z.object({}).strict(),
  responses: { 200: 'The options', 400: 'No passkey registered', 401: 'Not authenticated', 404: 'Unknown approval', 409: 'Already decided' },
  response: WebAuthnOptionsAnswer,
  async handler(ctx) {
    const approval = await findApproval(ctx.deps, ctx.principal, ctx.params.id);
    return { status: 200, body: await approvalAssertionOptions(ctx, approval) };
  },
});

const ruleView = (org: { slug: string; passkeysForT3: boolean }) => ({ org: org.slug, requireForT3: org.passkeysForT3, requireForT4: true });

export const getPasskeyRule = defineRoute({
  method: 'get',
  path: '/v1/orgs/:id/passkey-rule',
  summary: 'Whether approving T3 calls needs a passkey in the org (T4 always does)',
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  responses: { 200: 'The setting', 401: 'Not authenticated', 404: 'Unknown organization' },
  response: PasskeyRuleAnswer,
  async handler(ctx) {
    return { status: 200, body: ruleView(await orgs.passkeyRule(ctx, ctx.params.id)) };
  },
});

export const putPasskeyRule = defineRoute({
  method: 'put',
  path: '/v1/orgs/:id/passkey-rule',
  summary: 'Require a passkey for approving T3 calls too, or only T4 (admins; audited)',
  tag: 'orgs',
  auth: 'user',
  params: OrgParams,
  body: z.object({ requireForT3: z.boolean() }).strict(),
  responses: { 200: 'Saved', 400: 'Invalid body', 401: 'Not authenticated', 404: 'Unknown organization' },
  response: PasskeyRuleAnswer,
  async handler(ctx) {
    return { status: 200, body: ruleView(await orgs.setPasskeyRule(ctx, ctx.params.id, ctx.body.requireForT3)) };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const passkeyRoutes: AnyRoute[] = [getPasskeys, postRegistrationOptions, postPasskey, deletePasskey, postApprovalPasskeyOptions, getPasskeyRule, putPasskeyRule];
