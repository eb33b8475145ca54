/**
 * Approval decisions of a randomized run, through each channel a person has: the API, a signed Slack click (or the
 * T4 modal's submission), and the page behind an emailed link. Each returns why it was refused, or null. Through the
 * API, an approving decision is signed with the person's (software) passkey over the approval's challenge, as the
 * console would; Slack and the emailed page carry none, so a T4 approval there is refused.
 */
import type { Approval } from '@prisma/client';
import { slackSignature } from '../api/services/slack';
import { SIGNING_SECRET, SLACK_LINKED, type Cage, type Person } from './invariant-cage';
import { browser, csrfIn } from './slack';
import type { Action } from './invariant-plan';
import { passkeyOf } from './passkey';
import type { ObservedDenial, RunRecord } from './invariants';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const DECISION_DENIED = /changed since you (reviewed|signed) it|type ".*" exactly|approver|someone other than|passkey/;

/** A decision on the newest pending approval of the run, by one person, through one channel. */
export async function decide(
  cage: Cage,
  record: RunRecord,
  a: Extract<Action, { type: 'decide' }>,
  pending: () => Promise<Approval | null>,
  denied: (d: Omit<ObservedDenial, 'at'>, at: Date) => void,
): Promise<void> {
  const approval = await pending();
  if (!approval) return;
  const by = cage.people[a.by];
  const digest = a.digest === 'right' ? approval.digest : a.digest === 'wrong' ? '0'.repeat(64) : undefined;
  const confirmation = a.phrase === 'right' ? (approval.confirmationPhrase ?? undefined) : a.phrase === 'wrong' ? 'NOT-THE-DEVICE' : undefined;
  const at = new Date();
  let refused: string | null = null;
  if (a.channel === 'api') {
    const options = a.decision === 'approve' ? await cage.sys.request('POST', `/v1/approvals/${approval.id}/passkey-options`, { key: by.key, body: {} }) : null;
    const passkey = options?.status === 200 ? (await passkeyOf(cage.sys, by.userId)).sign(options.body) : undefined;
    const res = await cage.sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: by.key, body: { decision: a.decision, reason: 'randomized run', ...(digest ? { digest } : {}), ...(confirmation ? { confirmation } : {}), ...(passkey ? { passkey } : {}) } });
    if ([401, 403, 404].includes(res.status) || ([400, 409].includes(res.status) && DECISION_DENIED.test(String(res.body?.error?.message)))) refused = `HTTP ${res.status}`;
  } else if (a.channel === 'slack') {
    refused = await decideInSlack(cage, approval, a, by, digest, confirmation);
  } else {
    refused = await decideByEmail(cage, approval, a, by, confirmation);
  }
  const after = await cage.sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } });
  if (after.decidedBy === by.userId && !by.approver) record.wronglyAccepted.push({ what: `a decision through ${a.channel}`, actorId: by.userId, target: approval.id });
  if (refused) {
    const unlinked = a.channel === 'slack' && !SLACK_LINKED.includes(a.by);
    denied({ what: `a ${a.decision} through ${a.channel} (${refused})`, actorId: unlinked ? `slack:${cage.team}:${by.slackId}` : by.userId, target: approval.id, sessionId: approval.sessionId }, at);
  }
  // Let the waiting workflow take the decision in before the next action.
  const deadline = Date.now() + 10_000;
  while (after.status !== 'pending' && Date.now() < deadline && !(await cage.sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).recordedAt) await sleep(200);
}

/** POSTs to /slack/interactions as Slack would (v0-signed); returns why it was refused, or null. */
async function decideInSlack(cage: Cage, approval: Approval, a: Extract<Action, { type: 'decide' }>, by: Person, digest: string | undefined, confirmation: string | undefined): Promise<string | null> {
  const posted = await cage.slack.waitFor('chat.postMessage', (c) => JSON.stringify(c.args.blocks ?? '').includes(approval.id), 5000).catch(() => null);
  if (!posted) return null;
  let value: { a: string; d: string };
  try {
    const button = posted.args.blocks.find((b: { type: string }) => b.type === 'actions').elements.find((e: { action_id: string }) => e.action_id === a.decision);
    value = JSON.parse(button.value as string) as { a: string; d: string };
  } catch {
    return null; // the message no longer offers the button (already decided)
  }
  const signed = JSON.stringify({ a: value.a, d: digest === undefined || digest === approval.digest ? value.d : digest });
  const post = async (payload: unknown) => {
    const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
    const ts = String(Math.floor(Date.now() / 1000));
    const res = await fetch(`${cage.sys.url}/slack/interactions`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': ts, 'x-slack-signature': slackSignature(SIGNING_SECRET, ts, body) },
      body,
    });
    return res.text();
  };
  const since = Date.now();
  if (a.decision === 'approve' && approval.tier >= 4) {
    // T4: the click opens the modal; the decision is its submission with the typed phrase.
    const answer = await post({ type: 'view_submission', user: { id: by.slackId }, team: { id: cage.team }, view: { callback_id: 'gatehouse_t4', private_metadata: signed, state: { values: { phrase: { value: { value: confirmation ?? '' } } } } } });
    return answer.includes('"errors"') ? 'modal refused' : null;
  }
  await post({ type: 'block_actions', user: { id: by.slackId }, team: { id: cage.team }, channel: { id: 'C0APPROVALS' }, actions: [{ action_id: a.decision, value: signed }] });
  // Slack's click is answered at once and handled after: it ends with the decision recorded or the person told why
  // not. Whichever comes first (a recorded decision tells nobody, so waiting for a message after one only slowed runs).
  const deadline = Date.now() + 5000;
  const toldNow = () => cage.slack.calls.find((c) => c.method === 'chat.postEphemeral' && c.args.user === by.slackId && c.at >= since);
  let decided = false;
  let told = toldNow();
  while (!told && Date.now() < deadline) {
    decided = (await cage.sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).decidedBy === by.userId;
    if (decided) break;
    await sleep(100);
    told = toldNow();
  }
  decided ||= (await cage.sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).decidedBy === by.userId;
  return told && !decided && !/already|first/.test(String(told.args.text)) ? 'ephemeral refusal' : null;
}

/** Follows the emailed link the person received, if any, and submits the page's form; returns why it was refused, or null. */
async function decideByEmail(cage: Cage, approval: Approval, a: Extract<Action, { type: 'decide' }>, by: Person, confirmation: string | undefined): Promise<string | null> {
  // The api audits `approval.notified` after the SMTP server took every mail of the approval, so once it is there the
  // person's mail is in the inbox or was never sent (they do not approve this); waiting 5 s for the mail of someone
  // who gets none slowed every such run for nothing.
  const deadline = Date.now() + 5000;
  const notified = () => cage.sys.prisma.auditEvent.count({ where: { action: 'approval.notified', target: approval.id } });
  while (Date.now() < deadline && !(await notified())) await sleep(100);
  const mail = await cage.inbox.waitFor(by.email, /approval needed/, 0, (m) => m.text.includes(approval.id)).catch(() => null);
  const link = mail && /https?:\/\/[^\s]+\/a\/[A-Za-z0-9_-]{43}/.exec(mail.text)?.[0];
  if (!link) return null;
  // Signed in as the person whose link it is (a T4 link, or any link where the org requires it, asks for that).
  const b = browser(cage.sys.url);
  await b('POST', '/v1/auth/signin', { json: { email: by.email, password: by.password } });
  const page = await b('GET', link);
  let csrf: string;
  try {
    csrf = csrfIn(page.text);
  } catch {
    return page.status === 403 ? `link page ${page.status}` : null; // already decided, expired, or not this person's
  }
  const res = await b('POST', link, { form: { _csrf: csrf, decision: a.decision, reason: 'randomized run', ...(confirmation ? { confirmation } : {}) } });
  return [400, 403, 404].includes(res.status) ? `link page ${res.status}` : null;
}

