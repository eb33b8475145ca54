/**
 * bench/guards: what the budget and rate-limit checks add to a turn, next to the model call they guard, against
 * the offline model in the same run. Each iteration runs, as activities (MockActivityEnvironment, real PostgreSQL,
 * Redis and the offline model over HTTP): checkRateLimits + reserveBudget (the guards), then callModel (which
 * settles the reservation). Reports p50/p99 of each and their ratio; the goal is guards < 5% of the model call.
 *   npm run bench -- guards [--n 200]
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { startTestSystem } from '../test/harness';
import { emit, summarize } from './stats';

export async function runGuardsBench(n: number): Promise<void> {
  const sys = await startTestSystem({ env: { RATE_USER_MESSAGES_PER_MINUTE: '100000', RATE_ORG_MESSAGES_PER_HOUR: '1000000', DEFAULT_DAILY_BUDGET_USD: '100000', DEFAULT_MONTHLY_BUDGET_USD: '1000000', DEFAULT_HOURLY_SPEND_USD: '100000' } });
  try {
    const tech = sys.keyOf('technician');
    const sessionId = await sys.startSession(tech);
    const session = await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } });
    // As the session's own workflow runs them: activities act only for the session known under the calling workflow.
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: session.workflowId, runId: 'bench' } });
    const guards: number[] = [];
    const model: number[] = [];
    for (let i = 0; i < n; i++) {
      const turnId = `bench-${i}`;
      // Each iteration is its own short conversation, so the prompt does not grow with n.
      await sys.prisma.message.create({ data: { id: `${sessionId}:${turnId}:user`, sessionId, orgId: session.orgId, turnId, role: 'user', kind: 'user_text', content: [{ type: 'text', text: 'list the devices' }] } });
      const input = { sessionId, orgId: session.orgId, turnId, step: 0, toolResults: [] };
      const t0 = performance.now();
      const limits: any = await env.run(sys.activities.checkRateLimits, { orgId: session.orgId, userId: session.userId, sessionId });
      const budget: any = await env.run(sys.activities.reserveBudget, input);
      const t1 = performance.now();
      if (!limits.ok || !budget.ok) throw new Error(`guard refused during the bench: ${JSON.stringify({ limits, budget })}`);
      await env.run(sys.activities.callModel, { ...input, reservationId: budget.reservationId });
      const t2 = performance.now();
      guards.push(t1 - t0);
      model.push(t2 - t1);
      await sys.prisma.message.deleteMany({ where: { sessionId, turnId } });
    }
    const g = summarize(guards);
    const m = summarize(model);
    emit({ bench: 'guards', phase: 'guards', ...g });
    emit({ bench: 'guards', phase: 'model-call', ...m });
    emit({
      bench: 'guards',
      summary: true,
      n,
      guardsMs: { p50: g.p50, p99: g.p99 },
      modelCallMs: { p50: m.p50, p99: m.p99 },
      ratio: { p50: Math.round((g.p50 / m.p50) * 1000) / 1000, p99: Math.round((g.p99 / m.p99) * 1000) / 1000 },
      goal: 'guards under 0.05 of the model call',
    });
  } finally {
    await sys.stop();
  }
}
