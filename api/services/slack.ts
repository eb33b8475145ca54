/**
 * Approvals in Slack. Each approval of an org with a Slack channel is posted there as a Block Kit message (tool,
 * the exact call, devices, tier, requester, expiry) with Approve and Reject buttons; a reminder goes into its
 * thread at half time; once the workflow has recorded the outcome the message is updated (never before, so it
 * never shows a status that is not true). All user and model text is escaped and sent verbatim, so it cannot
 * ping anyone or make a link.
 *
 * Clicks arrive at `POST /slack/interactions` (api/routes/slack.ts): the v0 signature over the raw body is checked
 * in constant time and timestamps more than 300 s away are refused; the answer goes back at once and the decision
 * is made through the one decision service, as the Gatehouse user the Slack user is linked to.
 */
import crypto from 'node:crypto';
import type { Approval } from '@prisma/client';
import { WebClient, type KnownBlock } from '@slack/web-api';
import { Tier } from '../../common/tools';
import { callText, headAndTail } from '../../cage/call-view';
import { audit } from '../../audit/log';
import { sweptApprovals, type ApiDeps, type SlackConfig } from '../deps';
import { emailOf } from './decide-approval';

export function createSlackClient(config: SlackConfig): WebClient {
  return new WebClient(config.botToken, { slackApiUrl: config.apiUrl, retryConfig: { retries: 1 }, timeout: 5000 });
}

/** Slack's escaping for text in messages: `&`, `<` and `>` (which is what mentions and links are made of). */
export const escapeSlack = (text: unknown) => String(text ?? '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const md = (text: string) => ({ type: 'mrkdwn' as const, text, verbatim: true });

/** What the buttons carry: the approval and the digest the approver was shown. */
export const buttonValue = (a: Approval) => JSON.stringify({ a: a.id, d: a.digest });

// How long a call Slack shows whole. Slack folds long messages behind "Show more" and approvers read them on
// phones, so a long script is not really read there; a section also holds at most 3000 characters after escaping.
const CALL_MAX = 600;
const SECTION_MAX = 2900;
const HEAD_TAIL = 250;

/** Whether Slack can show the exact call whole: only then may it offer Approve (an approver never approves a cut view). */
export function callFitsSlack(a: Pick<Approval, 'toolName' | 'input'>): boolean {
  const text = callText(a.toolName, a.input);
  return text.length <= CALL_MAX && escapeSlack(text).length <= SECTION_MAX;
}

/** Where the whole call is shown before its Approve button: the approval in the Gatehouse console. */
export const fullViewUrl = (a: Approval, baseUrl: string) => new URL(`/#/approvals/${a.id}`, baseUrl).toString();

/** The call whole; or, when it is too long for Slack, its head, its tail and its hash, with where to read it all. */
function callBlocks(a: Approval): KnownBlock[] {
  const text = callText(a.toolName, a.input);
  if (callFitsSlack(a)) return [{ type: 'section', text: md(`*The exact call*\n\`\`\`${escapeSlack(text)}\`\`\``) }];
  const view = headAndTail(text, HEAD_TAIL);
  return [
    { type: 'section', text: md(`*The exact call is ${view.length} characters, too long to show whole here: it can be approved only in Gatehouse, where it is shown whole.* Its start:\n\`\`\`${escapeSlack(view.head)}\`\`\``) },
    { type: 'section', text: md(`Its end:\n\`\`\`${escapeSlack(view.tail)}\`\`\``) },
    { type: 'context', elements: [md(`SHA-256 of the whole call: \`${view.sha256}\` · approval digest \`${escapeSlack(a.digest)}\``)] },
  ];
}

export function approvalBlocks(a: Approval, requester: string, outcome?: string, baseUrl?: string): KnownBlock[] {
  const devices = (a.targets as { name: string }[]).map((d) => d.name);
  const blocks: KnownBlock[] = [
    { type: 'section', text: md(`*Approval needed (T${a.tier}):* ${escapeSlack(a.summary)}`) },
    {
      type: 'section',
      fields: [
        md(`*Tool*\n${escapeSlack(a.toolName)}`),
        md(`*Tier*\nT${a.tier}${a.tier >= Tier.T4 ? ' (passkey, in Gatehouse)' : ''}`),
        md(`*Devices*\n${escapeSlack(devices.slice(0, 20).join(', '))}${devices.length > 20 ? ` and ${devices.length - 20} more` : ''}`),
        md(`*Requested by*\n${escapeSlack(requester)}`),
        md(`*Expires*\n${escapeSlack(a.expiresAt.toISOString())}`),
      ],
    },
    ...callBlocks(a),
  ];
  if (outcome) {
    blocks.push({ type: 'context', elements: [md(outcome)] });
  } else {
    // Rejecting on a partial view is safe; approving is not: a call Slack cannot show whole gets a link instead.
    const approve = callFitsSlack(a)
      ? [{ type: 'button' as const, action_id: 'approve', style: 'primary' as const, text: { type: 'plain_text' as const, text: 'Approve' }, value: buttonValue(a) }]
      : baseUrl
        ? [{ type: 'button' as const, action_id: 'open_full_view', text: { type: 'plain_text' as const, text: 'Review it whole in Gatehouse' }, url: fullViewUrl(a, baseUrl), value: buttonValue(a) }]
        : [];
    blocks.push({
      type: 'actions',
      block_id: 'gatehouse_decision',
      elements: [...approve, { type: 'button', action_id: 'reject', style: 'danger', text: { type: 'plain_text', text: 'Reject' }, value: buttonValue(a) }],
    });
  }
  return blocks;
}

/**
 * The modal Approve opens for a call that needs a passkey (T4; T3 where the org asks): Slack cannot ask for one,
 * so it leads to the approval's page in Gatehouse, where the approver signs it. It has no submit: nothing is
 * decided in Slack.
 */
export function passkeyModal(a: Approval, baseUrl: string | undefined) {
  return {
    type: 'modal' as const,
    callback_id: 'gatehouse_passkey',
    private_metadata: buttonValue(a),
    title: { type: 'plain_text' as const, text: `Approve T${a.tier} in Gatehouse` },
    close: { type: 'plain_text' as const, text: 'Close' },
    blocks: [
      { type: 'section' as const, text: md(`${escapeSlack(a.summary)}\n\nApproving this T${a.tier} call is signed with your passkey over the exact call, in Gatehouse${baseUrl ? '' : ' (Approvals, in the console)'}.`) },
      ...(baseUrl
        ? [{ type: 'actions' as const, elements: [{ type: 'button' as const, action_id: 'open_full_view', style: 'primary' as const, text: { type: 'plain_text' as const, text: 'Approve with your passkey in Gatehouse' }, url: fullViewUrl(a, baseUrl), value: buttonValue(a) }] }]
        : []),
    ],
  };
}

/** Slack's v0 signature of a request: `v0=` + HMAC-SHA256(signing secret, `v0:<timestamp>:<raw body>`). */
export function slackSignature(secret: string, timestamp: string, raw: Buffer | string): string {
  return `v0=${crypto.createHmac('sha256', secret).update(`v0:${timestamp}:`).update(raw).digest('hex')}`;
}

/** A request from Slack, believed only when its signature holds: returns the problem (audited), or null. */
export async function verifySlackRequest(deps: ApiDeps, secret: string, raw: Buffer, headers: { timestamp?: string; signature?: string; address?: string }): Promise<string | null> {
  const problem = verifySlackSignature(secret, raw, headers.timestamp, headers.signature);
  if (problem) await audit(deps.prisma, { actorType: 'system', action: 'security.slack_signature_refused', data: { problem, address: headers.address } }).catch(() => undefined);
  return problem;
}

/** Checks a request's v0 signature over the raw body in constant time; stale or future timestamps fail. */
export function verifySlackSignature(secret: string, raw: Buffer, timestamp: string | undefined, signature: string | undefined, nowSeconds = Date.now() / 1000): string | null {
  if (!timestamp || !/^\d{1,12}$/.test(timestamp)) return 'missing or malformed X-Slack-Request-Timestamp';
  if (Math.abs(nowSeconds - Number(timestamp)) > 300) return 'timestamp more than 300 s from now';
  if (!signature || !/^v0=[0-9a-f]{64}$/.test(signature)) return 'missing or malformed X-Slack-Signature';
  const expected = Buffer.from(slackSignature(secret, timestamp, raw).slice(3), 'hex');
  const given = Buffer.from(signature.slice(3), 'hex');
  return crypto.timingSafeEqual(expected, given) ? null : 'signature does not match';
}

const requesterOf = (deps: ApiDeps, a: Approval) => emailOf(deps, a.requestedBy);

function outcomeText(a: Approval, decider: string | null): string {
  switch (a.status) {
    case 'approved':
    case 'rejected':
      return `*${a.status === 'approved' ? 'Approved' : 'Rejected'}* by ${escapeSlack(decider ?? a.decidedBy)} via ${escapeSlack(a.channel)}${a.reason ? `: “${escapeSlack(a.reason)}”` : ''} at ${escapeSlack(a.decidedAt?.toISOString())}`;
    case 'expired':
      return `*Expired* at ${escapeSlack(a.expiresAt.toISOString())} without a decision; the call did not run.`;
    default:
      return `*${escapeSlack(a.status)}*${a.reason ? `: ${escapeSlack(a.reason)}` : ''}`;
  }
}

/** One pass of the api's sweep for Slack: post new approvals, remind, and update decided ones. */
export async function slackSweep(deps: ApiDeps, slack: WebClient, baseUrl?: string): Promise<void> {
  const now = new Date();
  const channels = await deps.prisma.slackChannel.findMany();
  if (!channels.length) return;
  const channelOf = new Map(channels.map((c) => [c.orgId, c]));

  const fresh = await deps.prisma.approval.findMany({ where: { status: 'pending', slackChannel: null, expiresAt: { gt: now }, orgId: { in: [...channelOf.keys()] }, ...sweptApprovals(deps) }, take: 50 });
  for (const a of fresh) {
    const channel = channelOf.get(a.orgId)!.channelId;
    const claimed = await deps.prisma.approval.updateMany({ where: { id: a.id, slackChannel: null }, data: { slackChannel: channel } });
    if (claimed.count !== 1) continue;
    try {
      const res = await slack.chat.postMessage({ channel, text: `Approval needed (T${a.tier}): ${escapeSlack(a.summary)}`, blocks: approvalBlocks(a, await requesterOf(deps, a), undefined, baseUrl), unfurl_links: false, unfurl_media: false });
      await deps.prisma.approval.update({ where: { id: a.id }, data: { slackTs: res.ts ?? null, slackChannel: res.channel ?? channel } });
    } catch (err) {
      await deps.prisma.approval.update({ where: { id: a.id }, data: { slackChannel: null } });
      deps.logger.warn({ approvalId: a.id, err: (err as Error).message }, 'approval not posted to Slack; will retry');
    }
  }

  const decided = await deps.prisma.approval.findMany({ where: { slackTs: { not: null }, recordedAt: { not: null }, slackUpdatedAt: null, ...sweptApprovals(deps) }, take: 50 });
  for (const a of decided) {
    const claimed = await deps.prisma.approval.updateMany({ where: { id: a.id, slackUpdatedAt: null }, data: { slackUpdatedAt: now } });
    if (claimed.count !== 1) continue;
    try {
      const decider = a.decidedBy ? await emailOf(deps, a.decidedBy) : null;
      const text = outcomeText(a, decider);
      await slack.chat.update({ channel: a.slackChannel!, ts: a.slackTs!, text, blocks: approvalBlocks(a, await requesterOf(deps, a), text) });
    } catch (err) {
      await deps.prisma.approval.update({ where: { id: a.id }, data: { slackUpdatedAt: null } });
      deps.logger.warn({ approvalId: a.id, err: (err as Error).message }, 'Slack message not updated; will retry');
    }
  }
}

/** The reminder in the approval message's thread (called once, when the reminder sweep claims the approval). */
export async function remindInSlack(slack: WebClient, a: Approval): Promise<void> {
  if (!a.slackTs || !a.slackChannel) return;
  await slack.chat.postMessage({
    channel: a.slackChannel,
    thread_ts: a.slackTs,
    text: `Reminder: this approval is still waiting and half of its time has passed (expires ${a.expiresAt.toISOString()}).`,
  });
}
