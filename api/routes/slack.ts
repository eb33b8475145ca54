/**
 * `POST /slack/interactions`: Approve/Reject clicks and the T4 confirmation modal. The v0 signature is checked
 * over the raw body before anything is parsed; Slack gets its answer at once (it gives up after 3 s) and the
 * decision is made afterwards through the one decision service, as the Gatehouse user linked to the Slack user.
 * A click counts only for an approval of an org that posts to the clicker's own Slack workspace. Refusals
 * (unlinked Slack user, not an approver of the org, already decided…) come back as an ephemeral message only the
 * clicker sees, and the ones about who may decide are audited (services/slack-decisions.ts: the lookups and the
 * audits). The approval message itself is updated by the sweep once the workflow recorded the outcome.
 *
 * `POST /slack/commands`: the `/gatehouse` slash command (same signature check), with which a Slack user links
 * their own account (`link`: a one-time link to confirm in Gatehouse, see services/slack-links.ts), removes it
 * (`unlink`) or sees it (`status`). Its answers are ephemeral: only the person who typed it sees the link.
 */
import type { WebClient } from '@slack/web-api';
import express, { type NextFunction, type Request, type Response } from 'express';
import { z } from 'zod';
import { AppError } from '../../lib/app-error';
import type { ApiDeps, SlackConfig } from '../deps';
import { hasRole, Role } from '../http/access';
import { escapeSlack, passkeyModal, verifySlackRequest } from '../services/slack';
import { passkeyRequired } from '../services/passkeys';
import { decideInSlack, slackDecider, type SlackRefusal } from '../services/slack-decisions';
import { LINK_REQUEST_MINUTES, SlackId, slackAccount, startSlackLink, unlinkFromSlack } from '../services/slack-links';

const ButtonValue = z.object({ a: z.uuid(), d: z.string().regex(/^[0-9a-f]{64}$/) }).strict();

const BlockActions = z.object({
  type: z.literal('block_actions'),
  user: z.object({ id: SlackId }).loose(),
  team: z.object({ id: SlackId }).loose(),
  trigger_id: z.string().max(200).optional(),
  channel: z.object({ id: SlackId }).loose().optional(),
  // open_full_view is the link button of a call too long for Slack: Slack reports its clicks too, and they decide nothing.
  actions: z.array(z.object({ action_id: z.enum(['approve', 'reject', 'open_full_view']), value: z.string().max(2000).optional() }).loose()).min(1).max(5),
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

/** A slash command as Slack sends it (form fields); only what is used is read. */
const SlashCommand = z.object({ team_id: SlackId, user_id: SlackId, command: z.string().max(100), text: z.string().max(2000).default('') }).loose();

function parseValue(raw: string) {
  try {
    return ButtonValue.parse(JSON.parse(raw));
  } catch {
    return null;
  }
}

export function slackInteractions(deps: ApiDeps, slack: WebClient, config: SlackConfig, baseUrl: () => string | undefined): express.Router {
  const router = express.Router();

  async function tell(channel: string | undefined, user: string, text: string): Promise<void> {
    if (!channel) return;
    await slack.chat.postEphemeral({ channel, user, text }).catch((err: unknown) => deps.logger.warn({ err: (err as Error).message }, 'Slack ephemeral message not sent'));
  }

  /** Why a decision was refused, in words for the Slack user (a 404 says the same as "not your org"). */
  const refusal = (err: unknown) =>
    err instanceof AppError && err.status < 500
      ? err.status === 404
        ? NOT_AN_APPROVER
        : `Not recorded: ${err.message}.`
      : 'Not recorded: Gatehouse could not take the decision right now; try again in a minute.';

  async function onAction(p: z.infer<typeof BlockActions>): Promise<void> {
    const action = p.actions[0]!;
    if (action.action_id === 'open_full_view') return;
    const value = parseValue(action.value ?? '');
    if (!value) return tell(p.channel?.id, p.user.id, 'Not recorded: this button does not belong to a Gatehouse approval.');
    const decider = await slackDecider(deps, { teamId: p.team.id, slackUserId: p.user.id }, value.a, action.action_id === 'approve');
    if ('refused' in decider) return tell(p.channel?.id, p.user.id, REFUSALS[decider.refused]);
    const { principal, approval } = decider;
    // The modal only for someone who may approve at all; anyone else goes straight to the decision service's refusal.
    // A call that needs a passkey is approved on its Gatehouse page, which the modal links to.
    if (action.action_id === 'approve' && p.trigger_id && hasRole(principal, approval.orgId, [Role.Approver]) && (await passkeyRequired(deps.prisma, approval))) {
      await slack.views.open({ trigger_id: p.trigger_id, view: passkeyModal(approval, baseUrl()) });
      return;
    }
    try {
      await decideInSlack(deps, decider, {
        decision: action.action_id === 'approve' ? 'approved' : 'rejected',
        digest: value.d,
        ...(action.action_id === 'reject' ? { reason: 'rejected in Slack' } : {}),
      });
    } catch (err) {
      await tell(p.channel?.id, p.user.id, refusal(err));
    }
  }

  async function onSubmit(p: z.infer<typeof ViewSubmission>, res: Response): Promise<void> {
    const value = parseValue(p.view.private_metadata);
    const fieldError = (phrase: string) => res.json({ response_action: 'errors', errors: { phrase } });
    if (!value) {
      fieldError('Not recorded: this form does not belong to a Gatehouse approval.');
      return;
    }
    // Audited as the same person's click would be: a refused decision leaves its rule in the audit log.
    const decider = await slackDecider(deps, { teamId: p.team.id, slackUserId: p.user.id }, value.a, true);
    if ('refused' in decider) {
      fieldError(decider.refused === 'unlinked' ? 'Your Slack account is not linked to a Gatehouse user; type /gatehouse link to link it yourself.' : REFUSALS[decider.refused]);
      return;
    }
    try {
      await decideInSlack(deps, decider, { decision: 'approved', digest: value.d, confirmation: p.view.state.values.phrase.value.value ?? '', deliverInBackground: true });
      res.json({ response_action: 'clear' });
    } catch (err) {
      fieldError(refusal(err));
    }
  }

  async function onCommand(c: z.infer<typeof SlashCommand>): Promise<string> {
    const who = { teamId: c.team_id, slackUserId: c.user_id };
    const verb = c.text.trim().toLowerCase();
    const { link, linkedTo } = await slackAccount(deps, who);
    if (verb === 'link') {
      if (linkedTo) return `This Slack account is already linked to ${escapeSlack(linkedTo)}. To link it to someone else, type ${c.command} unlink first.`;
      const base = baseUrl();
      if (!base) return 'Gatehouse does not know its own address (PUBLIC_URL), so it cannot make a link; ask your Gatehouse administrator.';
      const { token } = await startSlackLink(deps, who);
      return (
        `To link this Slack account to your Gatehouse account, open <${base}/slack/link/${token}|this link> within ${LINK_REQUEST_MINUTES} minutes, ` +
        'signed in to Gatehouse as yourself, and confirm. It works once. Do not share it: whoever confirms it would have your Slack clicks count as theirs.'
      );
    }
    if (verb === 'unlink') {
      if (!link) return 'This Slack account is not linked to a Gatehouse user.';
      await unlinkFromSlack(deps, link);
      return `Unlinked: clicks from this Slack account no longer count as ${escapeSlack(linkedTo)}.`;
    }
    return linkedTo
      ? `This Slack account is linked to ${escapeSlack(linkedTo)}. ${c.command} unlink removes the link.`
      : `This Slack account is not linked to a Gatehouse user. ${c.command} link links it to yours.`;
  }

  /** Slack's v0 signature over the exact raw body, before anything of it is parsed. */
  const signed = [
    express.raw({ type: 'application/x-www-form-urlencoded', limit: '64kb' }),
    async (req: Request, res: Response, next: NextFunction) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const problem = await verifySlackRequest(deps, config.signingSecret, raw, { timestamp: req.header('x-slack-request-timestamp'), signature: req.header('x-slack-signature'), address: req.ip });
      if (!problem) return next();
      res.status(401).json({ error: { code: 'UNAUTHORIZED', message: `Slack signature refused: ${problem}` } });
    },
  ];
  const form = (req: Request) => new URLSearchParams((req.body as Buffer).toString('utf8'));

  router.post('/slack/interactions', ...signed, async (req: Request, res: Response) => {
    let payload: z.infer<typeof Payload>;
    try {
      payload = Payload.parse(JSON.parse(form(req).get('payload') ?? ''));
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

  router.post('/slack/commands', ...signed, async (req: Request, res: Response) => {
    const command = SlashCommand.safeParse(Object.fromEntries(form(req)));
    if (!command.success) {
      res.status(400).json({ error: { code: 'BAD_REQUEST', message: 'not a Slack slash command' } });
      return;
    }
    let text: string;
    try {
      text = await onCommand(command.data);
    } catch (err) {
      if (!(err instanceof AppError) || err.status >= 500) deps.logger.error({ err }, 'Slack command failed');
      text = err instanceof AppError ? `Nothing was done: ${err.message}.` : 'Nothing was done: Gatehouse could not do it right now; try again in a minute.';
    }
    // Ephemeral: only the person who typed the command sees the answer, and so the one-time link.
    res.json({ response_type: 'ephemeral', text });
  });
  return router;
}

const NOT_AN_APPROVER = 'You are not an approver of the organization and sites this approval belongs to.';
/** What a Slack user is told when they may not act on an approval at all (services/slack-decisions.ts says why). */
const REFUSALS: Record<SlackRefusal, string> = {
  unlinked: 'Your Slack account is not linked to a Gatehouse user, so nothing was recorded. To link it yourself, type /gatehouse link.',
  not_an_approver: NOT_AN_APPROVER,
  cut_view: 'Not recorded: this call is too long to show whole in Slack. Open it in Gatehouse, read it whole, and approve it there.',
};
