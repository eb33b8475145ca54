/**
 * bench/approval: from the approver's decision POST to the command starting on the agent (the agent's own start
 * time), over N approvals of a T3 call on a simulated endpoint; next to the bare Temporal signal round trip
 * (signal → workflow → activity start) measured in the same run on the same server, one bare round before each decision.
 *   npm run bench -- approval [--n 200]
 */
import { deviceCommandId } from '../common/ids';
import { startTestSystem, waitUntil } from '../test/harness';
import { startBareSignal } from './bare-signal';
import { raiseLimitsAsAdmin } from './bench-limits';
import { emit, summarize } from './stats';

export async function runApprovalBench(n: number): Promise<void> {
  const sys = await startTestSystem({ simulated: 1 });
  try {
    // One technician asks n times in a row: the org's admin raises its limits through the admin API (bench-limits.ts).
    await raiseLimitsAsAdmin(sys, n);
    const tech = sys.keyOf('technician');
    const approver = sys.keyOf('approver');
    const deviceId = [...sys.simulated.values()][0]!;

    // Baseline: bare Temporal signal → activity start, same server, same machine, one round beside each decision.
    const bareRun = await startBareSignal(sys, n);
    const bare: number[] = [];
    const sessionId = await sys.startSession(tech);
    const latencies: number[] = [];
    const hops: Record<string, number>[] = [];
    try {
      for (let i = 0; i < n; i++) {
        bare.push(await bareRun.once(i));
        const turnId = await sys.send(sessionId, tech, `/tool manage_service ${JSON.stringify({ device_id: deviceId, service: 'Spooler', action: 'restart' })}`);
        const approval = await sys.waitForApproval(sessionId);
        const t0 = Date.now();
        const res = await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: approver, body: { decision: 'approve' } });
        const answered = Date.now();
        if (res.status !== 200) throw new Error(`decision refused: ${JSON.stringify(res.body)}`);
        const { invocationId } = await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } });
        let startedAt: Date | null | undefined;
        await waitUntil(async () => {
          startedAt = (await sys.prisma.deviceCommand.findUnique({ where: { id: deviceCommandId(invocationId, deviceId) } }))?.startedAt;
          return startedAt != null;
        }, 'the command to start on the agent', 30_000);
        latencies.push(startedAt!.getTime() - t0);
        hops.push(await hopsOf(sys, approval.id, deviceCommandId(invocationId, deviceId), t0, answered));
        await sys.waitForTurn(sessionId, tech, turnId);
      }
    } finally {
      await bareRun.stop();
    }
    emit({ bench: 'approval', phase: 'baseline', ...summarize(bare) });
    emit({ bench: 'approval', phase: 'decision-to-command-start', ...summarize(latencies) });
    emit({ bench: 'approval', phase: 'hops-p50-ms', ...Object.fromEntries(Object.keys(hops[0] ?? {}).map((h) => [h, summarize(hops.map((x) => x[h]!)).p50])) });
    const g = summarize(latencies);
    const b = summarize(bare);
    emit({
      bench: 'approval',
      summary: true,
      n,
      decisionToCommandStartMs: { p50: g.p50, p99: g.p99 },
      bareSignalToActivityMs: { p50: b.p50, p99: b.p99 },
      ratio: { p50: Math.round((g.p50 / Math.max(b.p50, 0.01)) * 100) / 100, p99: Math.round((g.p99 / Math.max(b.p99, 0.01)) * 100) / 100 },
    });
  } finally {
    await sys.stop();
  }
}

/**
 * One decision's hops from the rows it left (database timestamps, one clock): the api's checks until the decision is
 * claimed, the audit event and the signal to the workflow, the workflow verifying the decision, queueing the command,
 * the gateway sending it, the agent starting it; and when the POST was answered.
 */
async function hopsOf(sys: Awaited<ReturnType<typeof startTestSystem>>, approvalId: string, commandId: string, t0: number, answered: number): Promise<Record<string, number>> {
  const a = await sys.prisma.approval.findUniqueOrThrow({ where: { id: approvalId } });
  const c = await sys.prisma.deviceCommand.findUniqueOrThrow({ where: { id: commandId } });
  const at = (d: Date | null) => d?.getTime() ?? NaN;
  return {
    claim: at(a.decidedAt) - t0,
    signal: at(a.signaledAt) - at(a.decidedAt),
    answered: answered - t0,
    verify: at(a.recordedAt) - at(a.signaledAt),
    queue: at(c.createdAt) - at(a.recordedAt),
    deliver: at(c.deliveredAt) - at(c.createdAt),
    agentStart: at(c.startedAt) - at(c.deliveredAt),
  };
}
