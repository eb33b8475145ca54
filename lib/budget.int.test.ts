/** The budget store against real PostgreSQL: concurrency, idempotency, release. */
import crypto from 'node:crypto';
import { loadEnv } from './env';
import { createDatabase } from './prisma';
import { close, periods, releaseStale, reserve, reserveModelCall, usageOf } from './budget';
import { seedDemo } from '../prisma/seed-demo';
import { buildRequest, MODEL_MESSAGE_KINDS, requestSizing } from '../activities/call-model';
import type { ActivityDeps } from '../activities/deps';
import { promptTokenBound } from '../activities/token-count';
import { worstCaseCost, worstCaseRates } from '../cage/pricing';
import { stepMessageId } from '../common/ids';
import type { ToolResultRef } from '../common/session';

const env = loadEnv();
const db = createDatabase(env.TEST_DATABASE_URL);
const { prisma } = db;
let orgId: string;
const defaults = { dailyMicros: 100_000, monthlyMicros: 1_000_000, hourlyMicros: 1_000_000 };

beforeAll(async () => {
  orgId = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
});
afterAll(() => prisma.$disconnect());

it('never lets 20 concurrent sessions of one org reserve or settle past the budget', async () => {
  const results = await Promise.all(
    Array.from({ length: 20 }, (_, i) => reserve(db, { id: `conc-${orgId}-${i}`, orgId, model: 'claude-sonnet-5-5', amountMicros: 15_000, defaults })),
  );
  const granted = results.filter((r) => r.ok);
  expect(granted).toHaveLength(6); // 6 × 15,000 ≤ 100,000 < 7 × 15,000
  await Promise.all(results.map((r, i) => (r.ok ? close(prisma, `conc-${orgId}-${i}`, 15_000) : null)));
  const usage = await usageOf(prisma, orgId, defaults);
  expect(usage.today.spentMicros).toBe(90_000n);
  expect(usage.today.reservedMicros).toBe(0n);
  expect(usage.today.spentMicros).toBeLessThanOrEqual(usage.today.limitMicros);
  const refused = results.find((r) => !r.ok);
  expect(refused).toMatchObject({ ok: false, exhausted: 'day', limitMicros: 100_000n });
});

it('reserves, settles and releases once per idempotency key', async () => {
  const other = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
  const id = `idem-${other}`;
  expect(await reserve(db, { id, orgId: other, model: 'm', amountMicros: 5000, defaults })).toMatchObject({ ok: true });
  expect(await reserve(db, { id, orgId: other, model: 'm', amountMicros: 5000, defaults })).toMatchObject({ ok: true });
  expect((await usageOf(prisma, other, defaults)).today.reservedMicros).toBe(5000n);
  expect(await close(prisma, id, 1200)).toBe(true);
  expect(await close(prisma, id, 1200)).toBe(false);
  expect(await close(prisma, id, null)).toBe(false);
  const usage = await usageOf(prisma, other, defaults);
  expect([usage.today.spentMicros, usage.today.reservedMicros, usage.month.spentMicros]).toEqual([1200n, 0n, 1200n]);

  const released = `rel-${other}`;
  await reserve(db, { id: released, orgId: other, model: 'm', amountMicros: 7000, defaults });
  await close(prisma, released, null);
  expect((await usageOf(prisma, other, defaults)).today).toMatchObject({ spentMicros: 1200n, reservedMicros: 0n });
});

it('takes concurrent reservations and settlements of one org without deadlocking', async () => {
  const org = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
  const roomy = { dailyMicros: 10_000_000, monthlyMicros: 100_000_000, hourlyMicros: 10_000_000 };
  // Each cycle reserves and then settles; cycles overlap, so reserves and settles of the same counters interleave,
  // and every update moves the counters' tuples (MVCC), which is what once made lock order vary.
  const cycle = async (i: number) => {
    const id = `mix-${org}-${i}`;
    const r = await reserve(db, { id, orgId: org, model: 'm', amountMicros: 1000 + i, defaults: roomy });
    expect(r.ok).toBe(true);
    await close(prisma, id, 500);
  };
  for (let wave = 0; wave < 5; wave++) await Promise.all(Array.from({ length: 40 }, (_, i) => cycle(wave * 40 + i)));
  const usage = await usageOf(prisma, org, roomy);
  expect([usage.today.spentMicros, usage.today.reservedMicros, usage.month.spentMicros]).toEqual([100_000n, 0n, 100_000n]);
});

it('books a call that succeeds after its reservation was released as stale, once', async () => {
  const other = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
  const id = `late-${other}`;
  expect(await reserve(db, { id, orgId: other, model: 'm', amountMicros: 5000, defaults })).toMatchObject({ ok: true });
  // The sweep gives up on it (here: anything older than 0 ms) while the model is still answering.
  await prisma.budgetReservation.update({ where: { id }, data: { createdAt: new Date(Date.now() - 60_000) } });
  expect(await releaseStale(prisma, 30_000)).toBeGreaterThanOrEqual(1);
  expect((await usageOf(prisma, other, defaults)).today).toMatchObject({ reservedMicros: 0n, spentMicros: 0n });
  // The late answer is booked; a retry of the same settlement is not booked twice, and a release changes nothing.
  expect(await close(prisma, id, 3300)).toBe(true);
  expect(await close(prisma, id, 3300)).toBe(false);
  expect(await close(prisma, id, null)).toBe(false);
  expect((await usageOf(prisma, other, defaults)).today).toMatchObject({ reservedMicros: 0n, spentMicros: 3300n });
});

const version = (org: string, number: number, document: unknown) =>
  prisma.policyVersion.create({ data: { orgId: org, number, document: document as object, kind: 'edit', reason: 'test' } });
const document = (budget: unknown) => ({ overrides: [], approvalTtlSeconds: { t3: 1800, t4: 900 }, rateLimits: { userMessagesPerMinute: null, orgMessagesPerHour: null, toolCallsPerUser: {} }, standing: [], budget });

describe('the ceilings come from the policy in force, and a policy that cannot be read refuses', () => {

  it("refuses at the org's own monthly ceiling and leaves the day's counter as it was", async () => {
    const org = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
    await version(org, 1, document({ dailyUsd: 1, monthlyUsd: 1, hourlyUsd: 1 }));
    expect(await reserve(db, { id: `own-a-${org}`, orgId: org, model: 'm', amountMicros: 600_000, defaults })).toMatchObject({ ok: true, hourlyMicros: 1_000_000n });
    // Spent on an earlier day of this month: the day has room, the month does not.
    const { month } = periods(new Date());
    await prisma.spendCounter.update({ where: { orgId_period: { orgId: org, period: month } }, data: { spentMicros: { increment: 300_000 } } });
    const refused = await reserve(db, { id: `own-b-${org}`, orgId: org, model: 'm', amountMicros: 200_000, defaults });
    expect(refused).toMatchObject({ ok: false, exhausted: 'month', spentMicros: 900_000n, limitMicros: 1_000_000n, orgName: expect.any(String) });
    expect((await usageOf(prisma, org, defaults)).today).toMatchObject({ reservedMicros: 600_000n });
    expect(await prisma.budgetReservation.findUnique({ where: { id: `own-b-${org}` } })).toBeNull();
  });

  it('throws (the guard denies) on a budget that is not numbers, reserving nothing', async () => {
    const org = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
    await version(org, 1, document({ dailyUsd: 'lots', monthlyUsd: 1, hourlyUsd: 1 }));
    await expect(reserve(db, { id: `text-${org}`, orgId: org, model: 'm', amountMicros: 1000, defaults })).rejects.toThrow(/cannot be read/);
    expect(await prisma.budgetReservation.findUnique({ where: { id: `text-${org}` } })).toBeNull();
  });

  it('throws on a version whose budget reads but whose document does not, and gives the reservation back', async () => {
    const org = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
    await version(org, 1, { ...document({ dailyUsd: 1, monthlyUsd: 1, hourlyUsd: 1 }), overrides: 'all of them' });
    await expect(reserve(db, { id: `doc-${org}`, orgId: org, model: 'm', amountMicros: 1000, defaults })).rejects.toThrow(/cannot be read/);
    const counters = await prisma.spendCounter.findMany({ where: { orgId: org } });
    expect(counters.map((c) => c.reservedMicros)).toEqual([0n, 0n]);
    expect(await prisma.budgetReservation.findUnique({ where: { id: `doc-${org}` } })).toMatchObject({ status: 'released' });
  });

  it('throws for an organization that does not exist', async () => {
    await expect(reserve(db, { id: `none-${crypto.randomUUID()}`, orgId: crypto.randomUUID(), model: 'm', amountMicros: 1000, defaults })).rejects.toThrow(/organization not found/);
  });
});

describe('the guard before a model call in one statement (reserveModelCall)', () => {
  const model = { name: 'claude-sonnet-5-5', maxTokens: 2048 };
  const deps = { ...db, model } as unknown as ActivityDeps;
  const sizing = { ...requestSizing(), ...worstCaseRates(model.name, model.maxTokens) };
  const roomy = { dailyMicros: 100_000_000, monthlyMicros: 1_000_000_000, hourlyMicros: 100_000_000 };

  async function sessionOf(org: string) {
    const user = await prisma.user.findFirstOrThrow({ where: { roleBindings: { some: { orgId: org } } } });
    const id = crypto.randomUUID();
    await prisma.copilotSession.create({ data: { id, orgId: org, userId: user.id, workflowId: `wf-${id}` } });
    return { id, workflowId: `wf-${id}` };
  }
  const call = (org: string, s: { id: string; workflowId: string }, turnId: string, step: number, toolResults: ToolResultRef[] = []) => ({
    id: `${s.id}:${turnId}:${step}`,
    orgId: org,
    sessionId: s.id,
    workflowId: s.workflowId,
    turnId,
    resultsMessageId: stepMessageId(s.id, turnId, step - 1, 'tool_results'),
    toolResults,
    kinds: MODEL_MESSAGE_KINDS,
    sizing,
    model: model.name,
    defaults: roomy,
  });

  it('reserves at least the worst case of the request the call builds, writing the tool results as the call would', async () => {
    const org = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
    // Text that JSON escapes, and text of several bytes a character, in every part the request is built from.
    await prisma.organization.update({ where: { id: org }, data: { name: 'Acme "Quoted"\\ Ünïcødé\n🛠' } });
    const upstream = await prisma.mcpUpstream.create({ data: { orgId: org, name: 'tickets', transport: 'http', url: 'http://127.0.0.1:1/mcp', createdBy: crypto.randomUUID() } });
    await prisma.mcpUpstreamTool.create({
      data: { orgId: org, upstreamId: upstream.id, name: 'open_ticket', description: 'Opens a "ticket"\n\twith ✓ a\\b', inputSchema: { type: 'object', properties: { title: { type: 'string', description: 'é "t"' } } }, sha256: 'x', status: 'enabled', tier: 3 },
    });
    await prisma.mcpUpstreamTool.create({ data: { orgId: org, upstreamId: upstream.id, name: 'odd_schema', description: 'd', inputSchema: 'not an object', sha256: 'y', status: 'enabled' } });
    const s = await sessionOf(org);
    const turnId = 't1';
    const row = (id: string, role: string, kind: string, content: unknown) => prisma.message.create({ data: { id, sessionId: s.id, orgId: org, turnId, role, kind, content: content as never } });
    await row(`${s.id}:${turnId}:user`, 'user', 'user_text', [{ type: 'text', text: 'restart "spooler" on Ünïcødé-PC 🖨\n\u0001 please, 1.50 and 1e21' }]);
    await row(`${s.id}:${turnId}:refused`, 'user', 'user_refused', [{ type: 'text', text: 'x'.repeat(5000) }]);
    await row(stepMessageId(s.id, turnId, 0, 'assistant'), 'assistant', 'assistant', {
      blocks: [
        { type: 'text', text: 'Looking…' },
        { type: 'tool_use', id: 'toolu_a', name: 'list_devices', input: { n: 1.5, big: 1e21 } },
        { type: 'tool_use', id: 'toolu_b', name: 'get_device_info', input: { deviceId: 'é' } },
        { type: 'tool_use', id: 'toolu_c', name: 'list_services', input: {} },
      ],
      stopReason: 'tool_use',
      usage: { input_tokens: 1, output_tokens: 1 },
    });
    const inv = (id: string, status: string, output: string | null, summary: string | null) =>
      prisma.toolInvocation.create({ data: { id, sessionId: s.id, orgId: org, turnId, toolUseId: id, toolName: 'list_devices', input: {}, decision: 'allow', status, output, summary } });
    await inv(`inv-a-${s.id}`, 'succeeded', 'PC-1 "ok" ✓', null);
    await inv(`inv-b-${s.id}`, 'failed', null, 'device offline');
    // toolu_c is left unanswered: the request answers it with a "not run" result.
    const toolResults: ToolResultRef[] = [
      { toolUseId: 'toolu_a', invocationId: `inv-a-${s.id}` },
      { toolUseId: 'toolu_b', invocationId: `inv-b-${s.id}` },
      { toolUseId: 'toolu_x', deniedReason: 'denied: "no"' },
      { toolUseId: 'toolu_y', invocationId: 'not-an-invocation' },
    ];
    const booked = await reserveModelCall(db, call(org, s, turnId, 1, toolResults));
    expect(booked).toMatchObject({ session: true, ok: true, existing: false });

    const written = await prisma.message.findUniqueOrThrow({ where: { id: stepMessageId(s.id, turnId, 0, 'tool_results') } });
    expect(written).toMatchObject({ role: 'user', kind: 'tool_results', turnId });
    expect(written.content).toEqual([
      { type: 'tool_result', tool_use_id: 'toolu_a', content: 'PC-1 "ok" ✓', is_error: false },
      { type: 'tool_result', tool_use_id: 'toolu_b', content: 'device offline', is_error: true },
      { type: 'tool_result', tool_use_id: 'toolu_x', content: 'denied: "no"', is_error: true },
      { type: 'tool_result', tool_use_id: 'toolu_y', content: 'no result was recorded', is_error: true },
    ]);

    const request = await buildRequest(deps, { sessionId: s.id, orgId: org });
    expect(request.tools!.length).toBeGreaterThan(2);
    const exact = worstCaseCost(model.name, promptTokenBound(request), model.maxTokens);
    const amount = Number((booked as { amountMicros: bigint }).amountMicros);
    expect(amount).toBeGreaterThanOrEqual(exact);
    // A bound, not a guess: within a few percent of the request's own size.
    expect(amount).toBeLessThan(exact * 1.1);

    // A retry writes nothing twice and finds its reservation.
    expect(await reserveModelCall(db, call(org, s, turnId, 1, toolResults))).toMatchObject({ session: true, ok: true, existing: true, amountMicros: BigInt(amount) });
    expect(await prisma.message.count({ where: { sessionId: s.id, kind: 'tool_results' } })).toBe(1);
  });

  it("sizes a message not stored yet (the admission's booking) exactly as its stored row, and at least the request", async () => {
    const s = await sessionOf(orgId);
    const text = 'restart "spooler" on Ünïcødé-PC 🖨\n\u0001 please\\ 1.50 and 1e21';
    // Before the message is stored, its text passed in.
    const pending = await reserveModelCall(db, { ...call(orgId, s, 't1', 0), id: `${s.id}:t1:admitted`, pendingText: text });
    expect(pending).toMatchObject({ session: true, ok: true, existing: false });
    // Stored as recordUserMessage stores it, then reserved from the stored rows alone: the same amount.
    await prisma.message.create({ data: { id: `${s.id}:t1:user`, sessionId: s.id, orgId, turnId: 't1', role: 'user', kind: 'user_text', content: [{ type: 'text', text }] } });
    const stored = await reserveModelCall(db, call(orgId, s, 't1', 0));
    const amount = (r: typeof pending) => Number((r as { amountMicros: bigint }).amountMicros);
    expect(amount(pending)).toBe(amount(stored));
    const request = await buildRequest(deps, { sessionId: s.id, orgId });
    expect(amount(pending)).toBeGreaterThanOrEqual(worstCaseCost(model.name, promptTokenBound(request), model.maxTokens));
    await close(prisma, `${s.id}:t1:admitted`, null);
    await close(prisma, `${s.id}:t1:0`, null);
  });

  it('refuses a session that is not the calling workflow\'s, writing and reserving nothing', async () => {
    const org = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
    const other = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
    const s = await sessionOf(org);
    const results: ToolResultRef[] = [{ toolUseId: 'toolu_x', deniedReason: 'no' }];
    for (const forged of [call(org, { ...s, workflowId: 'wf-someone-else' }, 't', 1, results), call(other, s, 't', 1, results), call(org, { ...s, id: crypto.randomUUID() }, 't', 1, results)]) {
      expect(await reserveModelCall(db, forged)).toEqual({ session: false });
    }
    expect(await prisma.message.count({ where: { sessionId: s.id } })).toBe(0);
    expect(await prisma.budgetReservation.count({ where: { orgId: { in: [org, other] } } })).toBe(0);
  });

  it('never lets concurrent model calls of one org pass the day, and gives the day back when the month refuses', async () => {
    const org = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
    const s = await sessionOf(org);
    const first = await reserveModelCall(db, call(org, s, 'size', 0));
    const amount = (first as { amountMicros: bigint }).amountMicros;
    const [day, month] = [periods(new Date()).day, periods(new Date()).month];
    const counter = async (period: string) => (await prisma.spendCounter.findUniqueOrThrow({ where: { orgId_period: { orgId: org, period } } })).reservedMicros;
    // Room for five more calls in the day: twenty at once, five pass, and the counters hold exactly those.
    const limits = { ...roomy, dailyMicros: Number(amount * 6n) + 1 };
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => reserveModelCall(db, { ...call(org, s, `c${i}`, 0), defaults: limits })));
    expect(results.filter((r) => r.session && r.ok)).toHaveLength(5);
    expect(results.filter((r) => r.session && !r.ok && r.exhausted === 'day')).toHaveLength(15);
    expect([await counter(day), await counter(month)]).toEqual([amount * 6n, amount * 6n]);
    // The month at its limit while the day has room: refused as the month, and the day's counter as it was.
    const monthFull = { ...roomy, monthlyMicros: Number(amount * 6n) + 1 };
    expect(await reserveModelCall(db, { ...call(org, s, 'm', 0), defaults: monthFull })).toMatchObject({ session: true, ok: false, exhausted: 'month', spentMicros: amount * 6n });
    expect([await counter(day), await counter(month)]).toEqual([amount * 6n, amount * 6n]);
    expect(await prisma.budgetReservation.count({ where: { orgId: org } })).toBe(6);
  });

  it('reserves once when attempts under the same key run at once', async () => {
    const org = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
    const s = await sessionOf(org);
    const attempts = await Promise.all(Array.from({ length: 6 }, () => reserveModelCall(db, call(org, s, 'same', 0))));
    expect(attempts.every((a) => a.session && a.ok)).toBe(true);
    expect(attempts.filter((a) => a.session && a.ok && !a.existing)).toHaveLength(1);
    const amount = (attempts[0] as { amountMicros: bigint }).amountMicros;
    expect(attempts.every((a) => (a as { amountMicros: bigint }).amountMicros === amount)).toBe(true);
    expect(await prisma.budgetReservation.count({ where: { orgId: org } })).toBe(1);
    const usage = await usageOf(prisma, org, roomy);
    expect([usage.today.reservedMicros, usage.month.reservedMicros]).toEqual([amount, amount]);
  });

  it('refuses past the budget, and throws on a policy version that does not read (the guard denies)', async () => {
    const org = (await seedDemo(prisma, { suffix: crypto.randomBytes(4).toString('hex') })).orgs.acme.id;
    const s = await sessionOf(org);
    const tiny = { ...call(org, s, 't', 0), defaults: { dailyMicros: 1000, monthlyMicros: 1_000_000, hourlyMicros: 1_000_000 } };
    expect(await reserveModelCall(db, tiny)).toMatchObject({ session: true, ok: false, exhausted: 'day', limitMicros: 1000n, amountMicros: expect.any(BigInt) });
    await version(org, 1, document({ dailyUsd: 'lots', monthlyUsd: 1, hourlyUsd: 1 }));
    await expect(reserveModelCall(db, call(org, s, 't', 0))).rejects.toThrow(/cannot be read/);
    expect(await prisma.budgetReservation.count({ where: { orgId: org } })).toBe(0);
  });
});
