/**
 * Deciding in Slack, as the Gatehouse user the Slack account is linked to (routes/slack.ts is its wire). A click
 * counts only for an approval of an org that posts to the clicker's own Slack workspace, and Approve only for a call
 * Slack shows whole. The refusals about who may decide are audited in the approval's org's chain, naming the Slack
 * account and the user; a Slack account linked to nobody is audited by its Slack id.
 */
import type { Approval } from '@prisma/client';
import { audit } from '../../audit/log';
import { AppError } from '../../lib/app-error';
import type { ApiDeps } from '../deps';
import type { Principal } from '../http/access';
import { principalOfUser } from '../http/auth';
import { callerOf } from './caller';
import { decideApproval, type DecisionRequest } from './decide-approval';
import { callFitsSlack } from './slack';
import { findSlackLink, type SlackUserRef } from './slack-links';

/** Who decides in Slack: the Slack account, the Gatehouse user linked to it, and the approval they act on. */
export interface SlackDecider {
  who: SlackUserRef;
  principal: Principal;
  approval: Approval;
}

/** Why a Slack user may not act on an approval: linked to nobody, not an approver of it, or a call Slack cut. */
export type SlackRefusal = 'unlinked' | 'not_an_approver' | 'cut_view';

const auditRefusal = (deps: ApiDeps, { who, principal, approval }: SlackDecider, why: string) =>
  audit(deps.prisma, { orgId: approval.orgId, actorType: 'user', actorId: principal.userId, action: 'approval.decision_refused', target: approval.id, sessionId: approval.sessionId, data: { why, channel: 'slack', ...who } });

/**
 * Who a click or a form in Slack is, and the approval it names, when they may act on it at all; otherwise why not
 * (audited). A link is an identity in one workspace: a click from another workspace (one the org never posted to)
 * must not act on the org's approvals, whatever roles the linked user holds elsewhere. `approving`: Approve is
 * offered only for a call Slack shows whole, so one for a call it cannot (an older message, a crafted payload) is refused.
 */
export async function slackDecider(deps: ApiDeps, who: SlackUserRef, approvalId: string, approving: boolean): Promise<SlackDecider | { refused: SlackRefusal }> {
  const link = await findSlackLink(deps, who);
  const principal = link ? await principalOfUser(deps, link.userId) : null;
  if (!principal) {
    await audit(deps.prisma, { actorType: 'user', actorId: `slack:${who.teamId}:${who.slackUserId}`, action: 'approval.slack_unlinked_user', target: approvalId });
    return { refused: 'unlinked' };
  }
  const approval = await deps.prisma.approval.findUnique({ where: { id: approvalId } });
  if (!approval) return { refused: 'not_an_approver' };
  const decider = { who, principal, approval };
  const channel = await deps.prisma.slackChannel.findUnique({ where: { orgId: approval.orgId } });
  if (channel?.teamId !== who.teamId) {
    await auditRefusal(deps, decider, 'click from another Slack workspace');
    return { refused: 'not_an_approver' };
  }
  if (approving && !callFitsSlack(approval)) {
    await auditRefusal(deps, decider, 'call not shown whole in Slack');
    return { refused: 'cut_view' };
  }
  return decider;
}

/**
 * A decision made in Slack, through the one decision service. Its own refusals are audited there, except "no role
 * at all in the org", which it answers as an unknown approval (404) without writing to that org's chain; that one
 * is audited here. The refusal is thrown on for the route to put in words.
 */
export async function decideInSlack(deps: ApiDeps, decider: SlackDecider, req: Omit<DecisionRequest, 'approvalId' | 'channel'>): Promise<void> {
  try {
    await decideApproval(callerOf(deps, decider.principal), { ...req, approvalId: decider.approval.id, channel: 'slack' });
  } catch (err) {
    if (!(err instanceof AppError)) deps.logger.error({ err }, 'Slack decision failed');
    else if (err.status === 404) await auditRefusal(deps, decider, 'not a member of the organization');
    throw err;
  }
}
