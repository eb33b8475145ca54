/**
 * `POST /slack/interactions`: Approve/Reject clicks and the T4 confirmation modal. The v0 signature is checked
 * over the raw body before anything is parsed; Slack gets its answer at once (it gives up after 3 s) and the
 * decision is made afterwards through the one decision service, as the Gatehouse user linked to the Slack user.
 * Refusals (unlinked Slack user, not an approver of the org, already decided…) come back as an ephemeral message
 * only the clicker sees. The approval message itself is updated by the sweep once the workflow recorded the outcome.
 */
import type { WebClient } from '@slack/web-api';
import express, { type Request, type Response } from 'express';
import { z } from 'zod';
import { AppError } from '../../lib/app-error';
import { audit } from '../../lib/audit';
import { Tier } from '../../common/tools';
import type { ApiDeps } from '../deps';
import { principalOfUser, type Principal } from '../http/auth';
import { decideApproval } from '../services/decide-approval';
import { confirmationModal, verifySlackSignature, type SlackConfig } from '../services/slack';

const ButtonValue = z.object({ a: z.uuid(), d: z.string().regex(/^[0-9a-f]{64}$/) }).strict();
const SlackId = z.string().regex(/^[A-Z0-9]{2,30}$/);

const BlockActions = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: SlackId }).loose(),
  team: z.object({ id: SlackId }).loose(),
  trigger_id: z.string().max(200).optional(),
  channel: z.object({ id: SlackId }).loose().optional(),
  actions: z.array(z.object({ action_id: z.enum(['approve', 'reject']), value: z.string().max(2000) }).loose()).min(1).max(5),
}).loose();

const ViewSubmission = z.object({
  type: z.literal('view_submission'),
  user: z.object({ id: SlackId, team_id: SlackId.optional() }).loose(),
  team: z.object({ id: SlackId }).loose(),
  view: z.object({
    callback_id: z.literal('gatehouse_t4'),
    private_metadata: z.string().max(2000),
    state: z.object({ values: z.object({ phrase: z.object({ value: z.object({ value: z.string().max(200).nullable().optional() }).loose() }) }).loose() }).loose(),
  }).loose(),
}).loose();

const Payload = z.discriminatedUnion('type', [BlockActions, ViewSubmission]);

function parseValue(raw: string) {
  try {
    return ButtonValue.parse(JSON.parse(raw));
  } catch {
    return null;
  }
}

export function slackInteractions(deps: ApiDeps, slack: WebClient, config: SlackConfig): express.Router {
  const router = express.Router();

  async function linkedPrincipal(teamId: string, slackUserId: string): Promise<Principal | null> {
    const link = await deps.prisma.slackUserLink.findUnique({ where: { teamId_slackUserId: { teamId, slackUserId } } });
    return link ? principalOfUser(deps, link.userId) : null;
  }

  async function tell(channel: string | undefined, user: string, text: string): Promise<void> {
    if (!channel) return;
    await slack.chat.postEphemeral({ channel, user, text }).catch((err: unknown) => deps.logger.warn({ err: (err as Error).message }, 'Slack ephemeral message not sent'));
  }

  /** Why a decision was refused, in words for the Slack user (a 404 says the same as "not your org"). */
  const refusal = (err: unknown) =>
    err instanceof AppError && err.status < 500
      ? err.status === 404
        ? 'You are not an approver of the organization this approval belongs to.'
        : `Not recorded: ${err.message}.`
      : 'Not recorded: Gatehouse could not take the decision right now; try again in a minute.';

  async function onAction(p: z.infer<typeof BlockActions>): Promise<void> {
    const action = p.actions[0]!;
    const value = parseValue(action.value);
    if (!value) return tell(p.channel?.id, p.user.id, 'Not recorded: this button does not belong to a Gatehouse approval.');
    const principal = await linkedPrincipal(p.team.id, p.user.id);
    if (!principal) {
      await audit(deps.prisma, { actorType: 'user', actorId: `slack:${p.team.id}:${p.user.id}`, action: 'approval.slack_unlinked_user', target: value.a });
      return tell(p.channel?.id, p.user.id, 'Your Slack account is not linked to a Gatehouse approver, so nothing was recorded. Ask an admin of your organization to link it.');
    }
    if (action.action_id === 'approve') {
      const approval = await deps.prisma.approval.findUnique({ where: { id: value.a } });
      if (approval && approval.tier >= Tier.T4 && p.trigger_id) {
        await slack.views.open({ trigger_id: p.trigger_id, view: confirmationModal(approval) });
        return;
      }
    }
    try {
      await decideApproval(deps, principal, {
        approvalId: value.a,
        decision: action.action_id === 'approve' ? 'approved' : 'rejected',
        digest: value.d,
        ...(action.action_id === 'reject' ? { reason: 'rejected in Slack' } : {}),
        channel: 'slack',
      });
    } catch (err) {
      if (!(err instanceof AppError)) deps.logger.error({ err }, 'Slack decision failed');
      await tell(p.channel?.id, p.user.id, refusal(err));
    }
  }

  async function onSubmit(p: z.infer<typeof ViewSubmission>, res: Response): Promise<void> {
    const value = parseValue(p.view.private_metadata);
    const principal = value ? await linkedPrincipal(p.team.id, p.user.id) : null;
    if (!value || !principal) {
      res.json({ response_action: 'errors', errors: { phrase: 'Your Slack account is not linked to a Gatehouse approver.' } });
      return;
    }
    try {
      await decideApproval(deps, principal, {
        approvalId: value.a,
        decision: 'approved',
        digest: value.d,
        confirmation: p.view.state.values.phrase.value.value ?? '',
        channel: 'slack',
        deliverInBackground: true,
      });
      res.json({ response_action: 'clear' });
    } catch (err) {
      if (!(err instanceof AppError)) deps.logger.error({ err }, 'Slack decision failed');
      res.json({ response_action: 'errors', errors: { phrase: refusal(err) } });
    }
  }

  router.post('/slack/interactions', express.raw({ type: 'application/x-www-form-urlencoded', limit: '64kb' }), async (req: Request, res: Response) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const problem = verifySlackSignature(config.signingSecret, raw, req.header('x-slack-request-timestamp'), req.header('x-slack-signature'));
    if (problem) {
      await audit(deps.prisma, { actorType: 'system', action: 'security.slack_signature_refused', data: { problem, address: req.ip } }).catch(() => undefined);
      res.status(401).json({ error: { code: 'UNAUTHORIZED', message: `Slack signature refused: ${problem}` } });
      return;
    }
    let payload: z.infer<typeof Payload>;
    try {
      payload = Payload.parse(JSON.parse(new URLSearchParams(raw.toString('utf8')).get('payload') ?? ''));
    } catch {
      res.status(400).json({ error: { code: 'BAD_REQUEST', message: 'payload is not a Gatehouse block action or view submission' } });
      return;
    }
    if (payload.type === 'view_submission') {
      await onSubmit(payload, res);
      return;
    }
    // Slack wants its answer within 3 s: acknowledge now, decide afterwards.
    res.status(200).end();
    onAction(payload).catch((err: unknown) => deps.logger.error({ err }, 'Slack action failed'));
  });
  return router;
}
