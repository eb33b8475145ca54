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
import { remediationProgress, requestCanaryDecision, requestRemediationControl, type RemediationControl } from '../services/remediations';
import { CanaryDecisionAnswer } from '../../common/api-answers';

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
  responses: { 202: 'Decided', 400: 'Invalid body', 401: 'No valid API key', 403: 'Not allowed to decide it (audited)', 404: 'Unknown remediation', 409: 'Not waiting for a canary decision, or no undo to roll back', 503: 'Temporal unavailable' },
  response: CanaryDecisionAnswer,
  async handler(ctx) {
    return { status: 202, body: await requestCanaryDecision(ctx, ctx.params.id, ctx.body.decision, ctx.body.reason) };
  },
});

/** The routes of this file, registered by api/server.ts. */
export const remediationRoutes: AnyRoute[] = [getRemediation, pauseRemediation, resumeRemediation, cancelRemediation, decideCanary];
