/**
 * bench/guards: what the budget and rate-limit checks add to a turn, next to the model call they guard, against
 * the offline model in the same run. Each iteration runs, in an activity's context (MockActivityEnvironment, real
 * PostgreSQL, Redis and the offline model over HTTP), the guards of a turn's first model call as the admission runs
 * them since `Patch.BookWithAdmission` (activities/admit-user-message.ts): checkRateLimits and bookFirstCall at the
 * same time, both answered before anything is decided; then the message stored and callModel (which builds the model
 * request, the only one of the step, and settles the reservation). Next to them, in the same run:
 * one bare Redis script call plus one bare PostgreSQL transaction (the least two stores can cost). Reports p50/p99
 * of each, the ratio of the guards to the bare pair (goal: at most 1.5) and to the model call, the same pair on an
 * ordinary table for reference (its commit waits for the WAL flush the reservation's waits for), and the guards'
 * parts (the message limits, the reservation: each from the start of the pair to its own answer) with, timed apart,
 * what building the model request costs (which the reservation no longer does). The bench's limits are raised through the admin API (bench-limits.ts).
 *   npm run bench -- guards [--n 200]
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import crypto from 'node:crypto';
import { Pool } from 'pg';
import { buildRequest } from '../activities/call-model';
import { makeBookFirstCall } from '../activities/guards';
import { loadEnv } from '../lib/env';
import { startTestSystem, type TestSystem } from '../test/harness';
import { raiseLimitsAsAdmin } from './bench-limits';
import { emit, summarize } from './stats';

export async function runGuardsBench(n: number): Promise<void> {
  const sys = await startTestSystem();
  try {
    await raiseLimitsAsAdmin(sys, n);
    const { bare, durable } = await bareGuards(sys, n);
    const tech = sys.keyOf('technician');
    const sessionId = await sys.startSession(tech);
    const session = await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } });
    // As the session's own workflow runs them: activities act only for the session known under the calling workflow.
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: session.workflowId, runId: 'bench' } });
    const guards: number[] = [];
    const model: number[] = [];
    // The parts: the message limits and the reservation; and, timed apart after each iteration's guards, building
    // the model request (the model call's own work: the reservation sizes itself in SQL without building it).
    const parts = { rateLimits: [] as number[], reservation: [] as number[], buildRequest: [] as number[] };
    const bookFirstCall = makeBookFirstCall(sys.activityDeps);
    const text = 'list the devices';
    for (let i = 0; i < n; i++) {
      const turnId = `bench-${i}`;
      const input = { sessionId, orgId: session.orgId, turnId, step: 0, toolResults: [] };
      let tLimits = 0;
      let tReserved = 0;
      const t0 = performance.now();
      // As admitUserMessage runs them: the message limits and the first call's booking at once, both answered.
      const [limits, booked]: [any, any] = await env.run(() =>
        Promise.all([
          sys.activities.checkRateLimits({ orgId: session.orgId, userId: session.userId, sessionId }).then((r: unknown) => ((tLimits = performance.now()), r)),
          bookFirstCall({ sessionId, orgId: session.orgId, turnId, text }).then((r) => ((tReserved = performance.now()), r)),
        ]),
      );
      const t1 = performance.now();
      parts.rateLimits.push(tLimits - t0);
      parts.reservation.push(tReserved - t0);
      if (!limits.ok || !booked) throw new Error(`guard refused during the bench: ${JSON.stringify({ limits, booked })}`);
      // Then the message stored (recordUserMessage), the transcript the call is built from: each iteration is its
      // own short conversation, so the prompt does not grow with n.
      await sys.prisma.message.create({ data: { id: `${sessionId}:${turnId}:user`, sessionId, orgId: session.orgId, turnId, role: 'user', kind: 'user_text', content: [{ type: 'text', text }] } });
      const tb = performance.now();
      await buildRequest(sys.activityDeps, input);
      parts.buildRequest.push(performance.now() - tb);
      const tModel = performance.now();
      await env.run(sys.activities.callModel, { ...input, reservationId: booked.reservationId });
      const t2 = performance.now();
      guards.push(t1 - t0);
      model.push(t2 - tModel);
      await sys.prisma.message.deleteMany({ where: { sessionId, turnId } });
    }
    const g = summarize(guards);
    const m = summarize(model);
    const b = summarize(bare);
    const d = summarize(durable);
    emit({ bench: 'guards', phase: 'bare-redis-script-and-pg-transaction', ...b });
    emit({ bench: 'guards', phase: 'bare-pair-on-a-durable-table', ...d });
    emit({ bench: 'guards', phase: 'guards', ...g });
    emit({ bench: 'guards', phase: 'model-call', ...m });
    emit({ bench: 'guards', phase: 'parts-p50-ms', ...Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, summarize(v).p50])) });
    emit({
      bench: 'guards',
      summary: true,
      n,
      guardsMs: { p50: g.p50, p99: g.p99 },
      bareMs: { p50: b.p50, p99: b.p99 },
      modelCallMs: { p50: m.p50, p99: m.p99 },
      ratio: { p50: round(g.p50 / b.p50), p99: round(g.p99 / b.p99) },
      // Not the goal: next to the same pair on a table whose commit waits for its WAL, as the reservation's does.
      durableBareMs: { p50: d.p50, p99: d.p99 },
      ofDurableBare: { p50: round(g.p50 / d.p50), p99: round(g.p99 / d.p99) },
      ofModelCall: { p50: round(g.p50 / m.p50), p99: round(g.p99 / m.p99) },
      goal: 'guards at most 1.5 of one bare Redis script plus one bare PostgreSQL transaction',
    });
  } finally {
    await sys.stop();
  }
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/**
 * The least the guards could be: one Redis script call (a sliding-window count, as the limiter's) and one PostgreSQL
 * transaction (a conditional counter update, as a reservation's), on the same Redis and PostgreSQL, n times. The
 * transaction updates a TEMP table, which PostgreSQL writes no WAL for, so its COMMIT waits for no disk flush. Each
 * iteration also runs the same pair on an ordinary table (`durable`), whose COMMIT waits for its WAL to be flushed,
 * as the reservation's must: reported next to the goal's pair, not instead of it.
 */
async function bareGuards(sys: TestSystem, n: number): Promise<{ bare: number[]; durable: number[] }> {
  const script = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
if redis.call('ZCARD', KEYS[1]) < 1000000 then redis.call('ZADD', KEYS[1], now, ARGV[1]) redis.call('PEXPIRE', KEYS[1], 60000) return 1 end
return 0`;
  const pool = new Pool({ connectionString: loadEnv().TEST_DATABASE_URL, max: 2 });
  const key = `bench:guards:${crypto.randomUUID()}`;
  const durableTable = `bench_guards_durable_${crypto.randomBytes(6).toString('hex')}`;
  try {
    const client = await pool.connect();
    try {
      await client.query('CREATE TEMP TABLE bench_counter (id int PRIMARY KEY, reserved bigint NOT NULL)');
      await client.query('INSERT INTO bench_counter VALUES (1, 0)');
      await client.query(`CREATE TABLE ${durableTable} (id int PRIMARY KEY, reserved bigint NOT NULL)`);
      await client.query(`INSERT INTO ${durableTable} VALUES (1, 0)`);
      const pair = async (table: string, i: number) => {
        const t0 = performance.now();
        await sys.redis.eval(script, 1, key, `${i}`);
        await client.query('BEGIN');
        await client.query(`UPDATE ${table} SET reserved = reserved + 1 WHERE id = 1 AND reserved < 1000000000`);
        await client.query('COMMIT');
        return performance.now() - t0;
      };
      const bare: number[] = [];
      const durable: number[] = [];
      for (let i = 0; i < n; i++) {
        bare.push(await pair('bench_counter', i));
        durable.push(await pair(durableTable, n + i));
      }
      return { bare, durable };
    } finally {
      await client.query(`DROP TABLE IF EXISTS ${durableTable}`).catch(() => undefined);
      client.release();
    }
  } finally {
    await sys.redis.del(key);
    await pool.end();
  }
}
