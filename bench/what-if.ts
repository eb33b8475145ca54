/**
 * bench/what-if: the what-if of a proposed policy (docs/policy.md) over n recorded sessions of the org. Seeds n
 * sessions of 5 recorded tool calls each (a T1 read, a T2 note, T3 restarts and stops, a taint-raised call, each
 * with the policy inputs authorization records, spread over 19 days as the live rate limits let one user make
 * them), then times `POST /v1/orgs/:id/policy/what-if` raising manage_service:restart to T4, with tighter per-tool
 * limits (every call counted again through the live limiter's script) and another approval expiry, through the real api, next to the bare SQL read of the same rows in the same run.
 * Reports the seconds of each and their ratio. Goal: 1,000 sessions in under 10 s.
 *   npm run bench -- what-if [--n 1000]
 */
import crypto from 'node:crypto';
import type { Prisma } from '@prisma/client';
import { approvalDigest } from '../cage/approval-digest';
import { startTestSystem } from '../test/harness';
import { emit } from './stats';

const round = (n: number) => Math.round(n * 1000) / 1000;

export async function runWhatIfBench(n: number): Promise<void> {
  const sys = await startTestSystem({ simulated: 3 });
  try {
    const orgId = sys.seed.orgs.acme.id;
    const user = await sys.prisma.user.findFirstOrThrow({ where: { roleBindings: { some: { orgId, role: 'technician' } } }, select: { id: true } });
    const devices = [...sys.simulated.values()];
    const since = new Date(Date.now() - 20 * 86_400_000);
    // One user made them all: sessions far enough apart that the live limits (30 changes per 10 min) let every call through.
    const spacingMs = Math.floor((19 * 86_400_000) / n);
    const calls: Prisma.ToolInvocationCreateManyInput[] = [];
    const sessions: Prisma.CopilotSessionCreateManyInput[] = [];
    for (let s = 0; s < n; s++) {
      const sessionId = crypto.randomUUID();
      sessions.push({ id: sessionId, orgId, userId: user.id, workflowId: `bench-what-if-${sessionId}`, createdAt: since });
      const device = devices[s % devices.length]!;
      const shapes = [
        { tool: 'list_services', input: { device_id: device }, action: null, service: null, tier: 1, tainted: false },
        { tool: 'add_device_note', input: { device_id: device, text: `note ${s}` }, action: null, service: null, tier: 2, tainted: false },
        { tool: 'manage_service', input: { device_id: device, service: 'Spooler', action: 'restart' }, action: 'restart', service: 'Spooler', tier: 3, tainted: false },
        { tool: 'manage_service', input: { device_id: device, service: 'W32Time', action: 'stop' }, action: 'stop', service: 'W32Time', tier: 3, tainted: false },
        { tool: 'add_device_note', input: { device_id: device, text: 'after flagged output' }, action: null, service: null, tier: 3, tainted: true },
      ];
      shapes.forEach((c, i) => {
        const digest = approvalDigest({ tool: c.tool, input: c.input, targets: [device] });
        calls.push({
          id: `bench-${sessionId}-${i}`,
          sessionId,
          orgId,
          turnId: `t${i}`,
          toolUseId: `u${i}`,
          toolName: c.tool,
          input: c.input,
          tier: c.tier,
          decision: c.tier >= 3 ? 'approve' : 'allow',
          status: 'succeeded',
          digest,
          policyVersion: 0,
          policyInputs: { tool: c.tool, action: c.action, service: c.service, targetCount: 1, sessionDeviceCount: 1, tainted: c.tainted, provenance: null, devices: [device], digest },
          createdAt: new Date(since.getTime() + s * spacingMs + i * 1000),
        });
      });
    }
    for (let i = 0; i < sessions.length; i += 1000) await sys.prisma.copilotSession.createMany({ data: sessions.slice(i, i + 1000) });
    for (let i = 0; i < calls.length; i += 2000) await sys.prisma.toolInvocation.createMany({ data: calls.slice(i, i + 2000) });

    // Baseline: the bare read of the same rows (the least a what-if can cost).
    const b0 = performance.now();
    const rows = await sys.prisma.$queryRaw<{ n: number }[]>`SELECT "id", "sessionId", "createdAt", "toolName", "decision", "tier", "input", "policyInputs", "standingRuleId" FROM "ToolInvocation" WHERE "orgId" = ${orgId}::uuid AND "createdAt" >= ${new Date(Date.now() - 30 * 86_400_000)}`;
    const bareSeconds = (performance.now() - b0) / 1000;
    emit({ bench: 'what-if', phase: 'bare-sql-read', rows: rows.length, seconds: round(bareSeconds) });

    const w0 = performance.now();
    const res = await sys.request('POST', `/v1/orgs/${sys.seed.orgs.acme.slug}/policy/what-if`, {
      key: sys.keyOf('admin'),
      body: {
        policy: {
          overrides: [{ tool: 'manage_service', action: 'restart', tier: 4 }],
          rateLimits: { userMessagesPerMinute: null, orgMessagesPerHour: null, toolCallsPerUser: { manage_service: 10, add_device_note: 10 } },
          approvalTtlSeconds: { t3: 600, t4: 300 },
        },
        windowDays: 30,
      },
    });
    const whatIfSeconds = (performance.now() - w0) / 1000;
    if (res.status !== 200) throw new Error(`what-if refused: ${JSON.stringify(res.body)}`);
    if (res.body.changedTotal !== n) throw new Error(`what-if found ${res.body.changedTotal} changed calls, expected ${n} (one restart per session)`);
    emit({ bench: 'what-if', phase: 'what-if', callsConsidered: res.body.callsConsidered, sessionsConsidered: res.body.sessionsConsidered, changed: res.body.changedTotal, seconds: round(whatIfSeconds) });
    emit({ bench: 'what-if', summary: true, n, calls: calls.length, whatIfSeconds: round(whatIfSeconds), bareSqlSeconds: round(bareSeconds), ratio: round(whatIfSeconds / bareSeconds), goal: { sessions: 1000, seconds: 10 } });
  } finally {
    await sys.stop();
  }
}
