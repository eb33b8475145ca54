/**
 * What an operator sees, end to end with real Temporal, PostgreSQL, Redis and a simulated agent: the api's and the
 * worker's `/metrics` as Prometheus scrapes them after a real T3 call and its approval, `/readyz` failing (and
 * naming the dependency) while Redis, PostgreSQL or Temporal is down and recovering after, `/healthz` answering
 * throughout, and the fail-closed counter rising while Redis is stopped.
 */
import { Client, Connection } from '@temporalio/client';
import { checkReadiness } from './services/health';
import { startTestSystem, toolCall, toolStepOf, waitUntil, type TestSystem } from '../test/harness';
import { CuttableTcpPath } from '../test/services';

let sys: TestSystem;
let tech: string;
let approver: string;

beforeAll(async () => {
  sys = await startTestSystem({ simulated: 1, dedicatedRedis: true, cuttableDatabase: true, env: { RATE_USER_MESSAGES_PER_MINUTE: '1000' } });
  tech = sys.keyOf('technician');
  approver = sys.keyOf('approver');
}, 240_000);

afterAll(async () => {
  await sys?.stop();
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Scrapes a `/metrics` endpoint as Prometheus would, and parses its text format. */
async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  const samples: Sample[] = [];
  for (const line of (await res.text()).split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]));
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of one series (0 when it is not there yet, as Prometheus treats a counter never incremented). */
const valueOf = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value ?? 0;

const worker = () => scrape(sys.metricsUrls.worker!);
const api = () => scrape(sys.metricsUrls.api);

describe('/metrics', () => {
  it('counts a T3 call by tier, its turn, its approval latency by channel and the command it ran', async () => {
    const device = [...sys.simulated.values()][0]!;
    const sessionId = await sys.startSession(tech);
    const turnId = await sys.send(sessionId, tech, toolCall('manage_service', { device_id: device, service: 'Spooler', action: 'restart' }));
    const approval = await sys.waitForApproval(sessionId);
    expect(approval.tier).toBe(3);

    expect(valueOf(await worker(), 'gatehouse_tool_calls_total', { tier: '3', outcome: 'approval_requested' })).toBe(1);
    expect(valueOf(await api(), 'gatehouse_approvals_pending', { tier: '3' })).toBe(1);

    await new Promise((r) => setTimeout(r, 1100)); // the decision comes a measurable while after the request
    const decided = await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: approver, body: { decision: 'approve', digest: approval.digest } });
    expect(decided.status).toBe(200);
    const session = await sys.waitForTurn(sessionId, tech, turnId);
    expect(toolStepOf(session, turnId)).toMatchObject({ status: 'succeeded' });

    const fromApi = await api();
    expect(valueOf(fromApi, 'gatehouse_approval_decision_seconds_count', { channel: 'api', decision: 'approved' })).toBe(1);
    // Decided after a second: not in the 1 s bucket, in the 5 s one.
    expect(valueOf(fromApi, 'gatehouse_approval_decision_seconds_bucket', { channel: 'api', decision: 'approved', le: '1' })).toBe(0);
    expect(valueOf(fromApi, 'gatehouse_approval_decision_seconds_bucket', { channel: 'api', decision: 'approved', le: '5' })).toBe(1);
    expect(valueOf(fromApi, 'gatehouse_approvals_pending', { tier: '3' })).toBe(0);
    expect(valueOf(fromApi, 'gatehouse_device_command_seconds_count', { kind: 'manage_service', outcome: 'succeeded' })).toBe(1);
    expect(valueOf(fromApi, 'gatehouse_device_commands', { state: 'succeeded' })).toBe(1);
    expect(valueOf(fromApi, 'gatehouse_agents_connected')).toBe(1);
    expect(valueOf(fromApi, 'gatehouse_budget_spent_usd', { org: sys.seed.orgs.acme.slug, period: 'day' })).toBeGreaterThan(0);
    expect(valueOf(fromApi, 'gatehouse_budget_limit_usd', { org: sys.seed.orgs.acme.slug, period: 'day' })).toBe(sys.env.DEFAULT_DAILY_BUDGET_USD);
    // Counted when the workflow's activation completes, just after the state the session shows.
    await waitUntil(async () => valueOf(await worker(), 'gatehouse_turns_total', { outcome: 'answered' }) === 1, 'the turn to be counted');
  });

  it('counts a denial by its rule, never by its text', async () => {
    const sessionId = await sys.startSession(tech);
    const turnId = await sys.send(sessionId, tech, toolCall('wipe_everything', {}));
    await sys.waitForTurn(sessionId, tech, turnId);
    const samples = await worker();
    expect(valueOf(samples, 'gatehouse_tool_denials_total', { rule: 'unknown_tool' })).toBe(1);
    expect(valueOf(samples, 'gatehouse_tool_calls_total', { tier: 'none', outcome: 'denied' })).toBe(1);
    expect(samples.some((s) => Object.values(s.labels).some((v) => v.includes('wipe')))).toBe(false);
  });
});

describe('/readyz and /healthz', () => {
  it('is ready with every dependency up', async () => {
    expect(await sys.request('GET', '/readyz')).toEqual({ status: 200, body: { status: 'ready', services: { temporal: 'up', postgres: 'up', redis: 'up' }, down: [] } });
  });

  it('names Redis while it is stopped, counts the fail-closed refusals, and is ready again when it is back', async () => {
    const failClosed = async () => valueOf(await worker(), 'gatehouse_fail_closed_total', { store: 'redis', check: 'rate_limits' });
    const before = await failClosed();
    const sessionId = await sys.startSession(tech);
    await sys.redisServer!.stop();
    try {
      expect(await sys.request('GET', '/readyz')).toMatchObject({ status: 503, body: { status: 'not ready', services: { redis: 'down', postgres: 'up', temporal: 'up' }, down: ['redis'] } });
      expect(await sys.request('GET', '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
      const turnId = await sys.send(sessionId, tech, 'list the devices');
      const turn = (await sys.waitForTurn(sessionId, tech, turnId)).turns.find((t: { turnId: string }) => t.turnId === turnId);
      expect(turn).toMatchObject({ status: 'refused', answer: 'rate limit service unavailable, nothing was run' });
      expect(await failClosed()).toBe(before + 1);
      await waitUntil(async () => valueOf(await worker(), 'gatehouse_turns_total', { outcome: 'refused' }) === 1, 'the refused turn to be counted');
    } finally {
      await sys.redisServer!.start();
    }
    await waitUntil(async () => (await sys.request('GET', '/readyz')).status === 200, 'Redis to be reachable again');
  });

  it('names PostgreSQL while it is cut off, keeps serving the counters, and is ready again when it is back', async () => {
    await sys.database!.cut();
    try {
      expect(await sys.request('GET', '/readyz')).toMatchObject({ status: 503, body: { down: ['postgres'] } });
      expect(await sys.request('GET', '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
      // The database's gauges are left out, the counters are still there.
      const samples = await api();
      expect(samples.some((s) => s.name === 'gatehouse_approvals_pending')).toBe(false);
      expect(valueOf(samples, 'gatehouse_approval_decision_seconds_count', { channel: 'api', decision: 'approved' })).toBe(1);
    } finally {
      await sys.database!.restore();
    }
    await waitUntil(async () => (await sys.request('GET', '/readyz')).status === 200, 'PostgreSQL to be reachable again');
  });

  it('names Temporal while its frontend cannot be reached, and recovers', async () => {
    const path = await CuttableTcpPath.open({ host: '127.0.0.1', port: Number(sys.temporal.address.split(':')[1]) });
    // Without the client's retry interceptor: its backoff timers outlive a cancelled call, and would fire on the
    // connection after the test closed it. The probe itself is the same one the api runs.
    const connection = await Connection.connect({ address: `127.0.0.1:${path.port}`, interceptors: [] });
    const deps = { temporal: new Client({ connection }), prisma: sys.prisma, redis: sys.redis };
    try {
      expect(await checkReadiness(deps)).toMatchObject({ ready: true, down: [] });
      await path.cut();
      expect(await checkReadiness(deps)).toMatchObject({ ready: false, services: { temporal: 'down' }, down: ['temporal'] });
      await path.restore();
      await waitUntil(async () => (await checkReadiness(deps)).ready, 'Temporal to be reachable again');
    } finally {
      await connection.close();
      await path.cut();
    }
  });
});
