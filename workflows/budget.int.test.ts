/**
 * Budgets against real PostgreSQL, Redis and Temporal: exhausted budgets stop a turn before the model is called,
 * concurrent sessions never spend past the budget, a retried model call is charged once, and with PostgreSQL
 * unreachable the answer is no.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { startTestSystem, waitUntil, type TestSystem } from '../test/harness';

let sys: TestSystem;
let tech: string;
let admin: string;
const orgPath = () => `/v1/orgs/${sys.seed.orgs.acme.slug}`;
const turnOf = (session: any, turnId: string) => session.turns.find((t: { turnId: string }) => t.turnId === turnId);

beforeAll(async () => {
  // Generous rate limits: this file is about money.
  sys = await startTestSystem({ cuttableDatabase: true, env: { RATE_USER_MESSAGES_PER_MINUTE: '1000', RATE_ORG_MESSAGES_PER_HOUR: '10000' } });
  tech = sys.keyOf('technician');
  admin = sys.keyOf('admin');
});
afterAll(async () => {
  await sys?.stop();
});

const setBudget = (body: Record<string, number>) => sys.request('PUT', `${orgPath()}/budget`, { key: admin, body: { ...body, reason: 'budget test' } });

it('shows usage and lets only an admin set the budget', async () => {
  const usage = await sys.request('GET', `${orgPath()}/usage`, { key: tech });
  expect(usage.status).toBe(200);
  expect(usage.body.today).toMatchObject({ limitUsd: 20, spentUsd: 0, remainingUsd: 20 });
  expect(usage.body.month).toMatchObject({ limitUsd: 300 });
  expect((await sys.request('PUT', `${orgPath()}/budget`, { key: tech, body: { dailyUsd: 1, monthlyUsd: 2, reason: 'x' } })).status).toBe(404);
  const bad = await setBudget({ dailyUsd: 5, monthlyUsd: 1 });
  expect(bad.status).toBe(400);
  expect(bad.body.error.message).toMatch(/^body\.dailyUsd/);
});

it('refuses a turn before the model is called when the budget is exhausted', async () => {
  expect((await setBudget({ dailyUsd: 0.01, monthlyUsd: 100 })).status).toBe(200);
  try {
    const before = sys.modelStats.messages;
    const sessionId = await sys.startSession(tech);
    const turnId = await sys.send(sessionId, tech, 'list the devices');
    const session = await sys.waitForTurn(sessionId, tech, turnId);
    expect(turnOf(session, turnId)).toMatchObject({ status: 'refused', answer: expect.stringMatching(/^budget exhausted: Acme Corp has used \$0\.00 of its daily budget of \$0\.01/) });
    expect(sys.modelStats.messages).toBe(before);
    expect(session.transcript.filter((m: { role: string }) => m.role === 'assistant')).toEqual([]);
    expect(session.usage.today).toMatchObject({ limitUsd: 0.01, spentUsd: 0 });
    expect(await sys.prisma.auditEvent.count({ where: { orgId: sys.seed.orgs.acme.id, action: 'budget.denied' } })).toBeGreaterThan(0);
  } finally {
    await setBudget({ dailyUsd: 20, monthlyUsd: 300 });
  }
});

it('never lets 20 concurrent sessions settle more than a small budget together', async () => {
  const start = (await sys.request('GET', `${orgPath()}/usage`, { key: tech })).body.today.spentUsd as number;
  // Room for a handful of calls on top of what is already spent (each reserves about $0.04 worst case).
  await setBudget({ dailyUsd: start + 0.2, monthlyUsd: 300, hourlyUsd: 100 });
  try {
    const sessions = await Promise.all(Array.from({ length: 20 }, () => sys.startSession(tech)));
    const turns = await Promise.all(sessions.map((id) => sys.send(id, tech, 'list the devices')));
    const finished = await Promise.all(sessions.map((id, i) => sys.waitForTurn(id, tech, turns[i]!, 120_000)));
    const statuses = finished.map((s, i) => turnOf(s, turns[i]!).status);
    expect(statuses.filter((s) => s === 'refused').length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 'answered').length).toBeGreaterThan(0);
    const usage = (await sys.request('GET', `${orgPath()}/usage`, { key: tech })).body.today;
    expect(usage.reservedUsd).toBe(0);
    expect(usage.spentUsd).toBeLessThanOrEqual(usage.limitUsd);
    expect(usage.spentUsd).toBeGreaterThan(start);
  } finally {
    await setBudget({ dailyUsd: 20, monthlyUsd: 300 });
  }
});

it('charges a retried model call once', async () => {
  const sessionId = await sys.startSession(tech);
  await sys.waitForTurn(sessionId, tech, await sys.send(sessionId, tech, 'list the devices'));
  const session = await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } });
  const input = { sessionId, orgId: session.orgId, turnId: 'retry-test', step: 0, toolResults: [] };
  await sys.prisma.message.create({ data: { id: `${sessionId}:retry-test:user`, sessionId, orgId: session.orgId, turnId: 'retry-test', role: 'user', kind: 'user_text', content: [{ type: 'text', text: 'list the devices' }] } });

  // As the session's own workflow runs them (activities act only for the session known under the calling workflow).
  const env = new MockActivityEnvironment({ workflowExecution: { workflowId: session.workflowId, runId: 'retry-test' } });
  const reserved: any = await env.run(sys.activities.reserveBudget, input);
  expect(reserved.ok).toBe(true);
  const callsBefore = sys.modelStats.messages;
  const first = await env.run(sys.activities.callModel, { ...input, reservationId: (reserved as { reservationId: string }).reservationId });
  const second = await env.run(sys.activities.callModel, { ...input, reservationId: (reserved as { reservationId: string }).reservationId });
  expect(second).toEqual(first);
  expect(sys.modelStats.messages).toBe(callsBefore + 1);
  const reservation = await sys.prisma.budgetReservation.findUniqueOrThrow({ where: { id: `${sessionId}:retry-test:0` } });
  expect(reservation.status).toBe('settled');
  expect(reservation.actualMicros! > 0n).toBe(true);
  expect(reservation.actualMicros! <= reservation.amountMicros).toBe(true);
  // Reserving again under the same key changes nothing.
  expect(await env.run(sys.activities.reserveBudget, input)).toEqual(reserved);
});

it('denies when PostgreSQL cannot be reached, and works again when it returns', async () => {
  const sessionId = await sys.startSession(tech);
  const session = await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } });
  const before = sys.modelStats.messages;
  await sys.database!.cut();
  try {
    const health = await sys.request('GET', '/readyz');
    expect(health.status).toBe(503);
    expect(health.body.down).toEqual(['postgres']);
    const refused = await sys.request('POST', `/v1/sessions/${sessionId}/messages`, { key: tech, body: { text: 'list the devices' } });
    expect(refused.status).toBe(503);
    expect(refused.body.error.message).toBe('the database is unavailable; nothing was run, try again shortly');

    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: session.workflowId, runId: 'pg-down' } });
    const started = Date.now();
    const verdict = await env.run(sys.activities.reserveBudget, { sessionId, orgId: session.orgId, turnId: 'pg-down', step: 0, toolResults: [] });
    expect(verdict).toEqual({ ok: false, reason: 'budget service unavailable, nothing was run' });
    expect(Date.now() - started).toBeLessThan(30_000); // bounded, never an open-ended wait
    expect(sys.modelStats.messages).toBe(before);
  } finally {
    await sys.database!.restore();
  }
  await waitUntil(async () => (await sys.request('GET', '/readyz')).status === 200, 'PostgreSQL to be reachable again');
  const turnId = await sys.send(sessionId, tech, 'list the devices');
  const after = await sys.waitForTurn(sessionId, tech, turnId);
  expect(turnOf(after, turnId).status).toBe('answered');
});
