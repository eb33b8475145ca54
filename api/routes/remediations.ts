/**
 * Remediations (the `run_remediation` tool's child workflows): progress, and pause / resume / cancel. The id is
 * the tool invocation's id, as the session's steps show it. Anyone with a role in the org can read the progress;
 * technicians, approvers and admins can steer it: the request is recorded first, and the workflow acts on it only
 * after its activity has checked the record (and audited the change). Another org's remediation, or one of a session
 * the user may not see (it reached a site outside theirs), answers exactly like an unknown one. The operations are
 * services/remediations.ts's.
 */
import { RemediationAnswer, RemediationRequestedAnswer } from '../../common/api-answers';
import { z } from 'zod';
import { InvocationId } from '../../common/ids';
import { defineRoute, type AnyRoute } from '../http/route';
import { canaryContinueOptions, remediationProgress, requestCanaryDecision, requestRemediationControl, type RemediationControl } from '../services/remediations';
import { AuthenticationResponse } from '../services/passkeys';
import { CanaryDecisionAnswer, WebAuthnOptionsAnswer } from '../../common/api-answers';

const Params = z.object({ id: InvocationId.describe('the remediation id: its tool invocation id') }).strict();

export const getRemediation = defineRoute({
  method: 'get',
  path: '/v1/remediations/:id',
  summary: "A remediation's progress: counts, state (running, paused, cancelled, finished) and every device's status",
  tag: 'remediations',
  auth: 'user',
  params: Params,
  responses: { 200: 'Progress', 401: 'No valid API key', 404: 'Unknown remediation', 503: 'Temporal unavailable' },
  response: RemediationAnswer,
  async handler(ctx) {
    return { status: 200, body: await remediationProgress(ctx, ctx.params.id) };
  },
});

function controlRoute(action: RemediationControl) {
  return defineRoute({
    method: 'post',
    path: `/v1/remediations/:id/${action}`,
    summary:
      action === 'pause'
        ? 'Pause: devices already running finish, no new device starts until resumed'
        : action === 'resume'
          ? 'Resume a paused remediation'
          : 'Cancel: devices already running finish, the others never start',
    tag: 'remediations',
    auth: 'user',
    params: Params,
    responses: { 202: 'Requested', 401: 'No valid API key', 404: 'Unknown remediation', 409: 'Not running yet, already over, or refused (a resume while the copilot is paused)', 503: 'Temporal unavailable' },
    response: RemediationRequestedAnswer,
    async handler(ctx) {
      const { id, stateBefore } = await requestRemediationControl(ctx, ctx.params.id, action);
      return { status: 202, body: { id, requested: action, stateBefore } };
    },
  });
}

export const pauseRemediation = controlRoute('pause');
export const resumeRemediation = controlRoute('resume');
export const cancelRemediation = controlRoute('cancel');

const CanaryDecisionBody = z
  .object({
    decision: z.enum(['continue', 'cancel', 'rollback']).describe('continue: the other devices start; cancel: they never do; rollback: the undo runs on the canary devices and the others never start'),
    reason: z.string().trim().min(1, 'say why (reason)').max(1000),
    confirmation: z.string().max(300).optional().describe('continue of a T4 remediation: the confirmation phrase its approval asked for'),
    passkey: AuthenticationResponse.optional().describe('continue where the approval needed a passkey (T4; T3 where the org asks): navigator.credentials.get answer over POST /v1/remediations/:id/canary-decision/passkey-options'),
  })
  .strict();

export const decideCanary = defineRoute({
  method: 'post',
  path: '/v1/remediations/:id/canary-decision',
  summary: "An approver's decision after the canary failed its check: continue, cancel or roll back (only when the action declares an undo)",
  tag: 'remediations',
  auth: 'user',
  params: Params,
  body: CanaryDecisionBody,
  responses: { 202: 'Decided', 400: 'Invalid body, or a T4 continue without its confirmation phrase (audited)', 401: 'No valid API key', 403: 'Not allowed to decide it, or a continue without the passkey signature it needs (audited)', 404: 'Unknown remediation', 409: 'Not waiting for a canary decision, or no undo to roll back', 503: 'Temporal unavailable' },
  response: CanaryDecisionAnswer,
  async handler(ctx) {
    const { decision, reason, confirmation, passkey } = ctx.body;
    return { status: 202, body: await requestCanaryDecision(ctx, ctx.params.id, decision, reason, { confirmation, passkey }) };
  },
});

export const canaryContinuePasskeyOptions = defineRoute({
  method: 'post',
  path: '/v1/remediations/:id/canary-decision/passkey-options',
  summary: "The options for signing a continue past the failed canary with your passkey: the challenge is derived from the remediation's approval, single use",
  tag: 'remediations',
  auth: 'user',
  params: Params,
  body: z.object({}).strict(),
  responses: { 200: 'The options', 400: 'No passkey registered', 401: 'No valid API key', 404: 'Unknown remediation', 409: 'No approved approval to continue' },
  response: WebAuthnOptionsAnswer,
  async handler(ctx) {
    return { status: 200, body: await canaryContinueOptions(ctx, ctx.params.id) };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const remediationRoutes: AnyRoute[] = [getRemediation, pauseRemediation, resumeRemediation, cancelRemediation, decideCanary, canaryContinuePasskeyOptions];
