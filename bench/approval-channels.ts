/**
 * bench/approval-channels: from the approver's click to the command starting on the agent (the agent's own start
 * time), through each channel, over N approvals of a T3 call on a simulated endpoint:
 *   - slack: a signed interactivity POST to /slack/interactions (Slack Web API faked at the wire);
 *   - email: the form POST of the emailed link's page (a real SMTP server catches the mail; the page is loaded
 *     first, as a browser would, and not timed);
 *   - api: the decision POST of the REST API.
 * Beside each round, the bare Temporal signal → workflow → activity start on the same server (bare-signal.ts): every
 * channel is measured against it, the goal being at most 1.5 times it, and against the API's decision.
 * Announcing the approval (mail, Slack post) is not timed: it happens before the approver can click.
 *   npm run bench -- approval-channels [--n 30]
 */
import crypto from 'node:crypto';
import { slackSignature } from '../api/services/slack';
import { deviceCommandId } from '../common/ids';
import { startTestSystem, waitUntil, type TestSystem } from '../test/harness';
import { FakeSlack, SmtpInbox } from '../test/services';
import { linkOwnSlackAccount } from '../test/slack';
import { startBareSignal } from './bare-signal';
import { raiseLimitsAsAdmin } from './bench-limits';
import { emit, summarize } from './stats';

const SECRET = 'bench-signing-secret-0123456789';
// A workspace of this run's own: a Slack account is linked once, to one user, and each run seeds its own users.
const TEAM = `T0${crypto.randomBytes(4).toString('hex').toUpperCase()}`;

async function commandStart(sys: TestSystem, approvalId: string, deviceId: string): Promise<number> {
  const { invocationId } = await sys.prisma.approval.findUniqueOrThrow({ where: { id: approvalId } });
  let startedAt: Date | null | undefined;
  await waitUntil(async () => {
    startedAt = (await sys.prisma.deviceCommand.findUnique({ where: { id: deviceCommandId(invocationId, deviceId) } }))?.startedAt;
    return startedAt != null;
  }, 'the command to start on the agent', 30_000);
  return startedAt!.getTime();
}

export async function runApprovalChannelsBench(n: number): Promise<void> {
  const rounds = n === 200 ? 30 : n;
  const inbox = await SmtpInbox.start();
  const slack = await FakeSlack.start();
  const sys = await startTestSystem({
    simulated: 1,
    env: { SMTP_URL: inbox.url, SLACK_BOT_TOKEN: 'xoxb-bench-0123', SLACK_SIGNING_SECRET: SECRET, SLACK_API_URL: slack.url },
  });
  try {
    // Every round is a new message and a new manage_service call: the org's admin raises its limits through the admin
    // API (bench-limits.ts), so the bench measures the channels, not the limits.
    await raiseLimitsAsAdmin(sys, n * 3);
    const tech = sys.keyOf('technician');
    const admin = sys.keyOf('admin');
    const approverKey = sys.keyOf('approver');
    const approverCredential = sys.seed.credentials.find((c) => c.role === 'approver' && c.org === sys.seed.orgs.acme.slug)!;
    const approver = approverCredential.email;
    const [deviceId] = [...sys.simulated.values()];
    await sys.request('PUT', `/v1/orgs/${sys.seed.orgs.acme.slug}/slack`, { key: admin, body: { teamId: TEAM, channelId: 'C0BENCH' } });
    await linkOwnSlackAccount(sys, slack, SECRET, { teamId: TEAM, slackUserId: 'U0BENCH' }, approverCredential);
    const sessionId = await sys.startSession(tech);

    const decideBy: Record<'api' | 'slack' | 'email', (approvalId: string) => Promise<() => Promise<void>>> = {
      // Each returns the timed action, after the untimed preparation (waiting for the post or the mail, loading the page).
      api: async (approvalId) => async () => {
        const res = await sys.request('POST', `/v1/approvals/${approvalId}/decision`, { key: approverKey, body: { decision: 'approve' } });
        if (res.status !== 200) throw new Error(`decision refused: ${JSON.stringify(res.body)}`);
      },
      slack: async (approvalId) => {
        const posted = await slack.waitFor('chat.postMessage', (c) => c.args.blocks?.some((b: any) => b.type === 'actions' && b.elements[0].value.includes(approvalId)));
        const value = posted.args.blocks.find((b: any) => b.type === 'actions').elements[0].value as string;
        const payload = { type: 'block_actions', user: { id: 'U0BENCH' }, team: { id: TEAM }, trigger_id: crypto.randomUUID(), channel: { id: 'C0BENCH' }, actions: [{ action_id: 'approve', value }] };
        const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
        return async () => {
          const ts = String(Math.floor(Date.now() / 1000));
          const res = await fetch(`${sys.url}/slack/interactions`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': ts, 'x-slack-signature': slackSignature(SECRET, ts, body) },
            body,
          });
          if (res.status !== 200) throw new Error(`Slack interaction refused: ${res.status}`);
        };
      },
      email: async (approvalId) => {
        const mail = await inbox.waitFor(approver, /approval needed/, 30_000, (m) => m.text.includes(approvalId));
        const link = /https?:\/\/\S+\/a\/[A-Za-z0-9_-]{43}/.exec(mail.text)![0];
        const page = await fetch(link);
        const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0]!;
        const csrf = /name="_csrf" value="([^"]+)"/.exec(await page.text())![1]!;
        return async () => {
          const res = await fetch(link, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie }, body: new URLSearchParams({ _csrf: csrf, decision: 'approve' }).toString() });
          if (res.status !== 200) throw new Error(`email decision refused: ${res.status} ${await res.text()}`);
        };
      },
    };

    // Channels take turns round by round, so warm-up and drift fall on all three alike.
    const channels = ['api', 'slack', 'email'] as const;
    const latencies: Record<string, number[]> = { api: [], slack: [], email: [], bare: [] };
    const bareRun = await startBareSignal(sys, rounds * channels.length);
    try {
      for (let i = 0; i < rounds; i++) {
        for (const channel of channels) {
          latencies.bare!.push(await bareRun.once(i * channels.length + channels.indexOf(channel)));
          const turnId = await sys.send(sessionId, tech, `/tool manage_service ${JSON.stringify({ device_id: deviceId, service: 'Spooler', action: 'restart' })}`);
          const approval = await sys.waitForApproval(sessionId).catch(async (err: unknown) => {
            const session = await sys.request('GET', `/v1/sessions/${sessionId}`, { key: tech });
            throw new Error(`${(err as Error).message}; the turn: ${JSON.stringify(session.body.turns?.at(-1) ?? session.body).slice(0, 600)}`);
          });
          const decide = await decideBy[channel](approval.id);
          const t0 = Date.now();
          await decide();
          latencies[channel]!.push((await commandStart(sys, approval.id, deviceId!)) - t0);
          await sys.waitForTurn(sessionId, tech, turnId);
        }
      }
    } finally {
      await bareRun.stop();
    }
    const results: Record<string, ReturnType<typeof summarize>> = {};
    for (const channel of [...channels, 'bare'] as const) {
      results[channel] = summarize(latencies[channel]!);
      emit({ bench: 'approval-channels', channel, phase: channel === 'bare' ? 'signal-to-activity-start' : 'click-to-command-start', ...results[channel] });
    }
    const ratio = (c: string, p: 'p50' | 'p99', to = 'api') => Math.round((results[c]![p] / Math.max(results[to]![p], 0.01)) * 100) / 100;
    const toBare = (c: string) => ({ p50: ratio(c, 'p50', 'bare'), p99: ratio(c, 'p99', 'bare') });
    emit({
      bench: 'approval-channels',
      summary: true,
      n: rounds,
      slackMs: { p50: results.slack!.p50, p99: results.slack!.p99 },
      emailMs: { p50: results.email!.p50, p99: results.email!.p99 },
      apiMs: { p50: results.api!.p50, p99: results.api!.p99 },
      bareSignalToActivityMs: { p50: results.bare!.p50, p99: results.bare!.p99 },
      ratio: { slack: toBare('slack'), email: toBare('email'), api: toBare('api') },
      goal: 'every channel at most 1.5 of bare Temporal',
      ratioToApi: { slack: { p50: ratio('slack', 'p50'), p99: ratio('slack', 'p99') }, email: { p50: ratio('email', 'p50'), p99: ratio('email', 'p99') } },
    });
  } finally {
    await sys.stop();
    await slack.stop();
    await inbox.stop();
  }
}
