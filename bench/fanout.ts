/**
 * bench/fanout: a remediation across N simulated devices (default 1,000) with a window of 50, from the approval to
 * the console's "run_remediation completed" (before the model writes its answer): devices per second, next to bare Temporal in the same run (the same number of no-op
 * activities, the same window, on the same dev server). Goal: at least 0.8 of bare Temporal. Then the agent
 * gateway's memory per connected agent (heap of the api, which runs in this process) at N and at 5×N connected
 * agents, and the marginal heap per agent between the two. CPU per device (and per bare activity) is reported by
 * process, so a slow run says where its time went and whether anything else was busy. Then how close the
 * remediation and its session came to Temporal's limits, read from their histories (every run): the largest
 * payload and each run's event count and size; the bench fails if a payload passed 256 KB or a run's history
 * Temporal's warning. The simulated agents are spread over processes of AGENTS_PER_PROCESS each, all started at
 * once, their devices and credentials written to the database in bulk (test/simulated-fleet.ts; each agent still
 * connects through the gateway's real handshake), and the time from enrollment to the whole fleet online is
 * reported (`fleetSetupSeconds`); past
 * GATEWAY_MEMORY_UP_TO devices the 5×N memory step is left out (50,000 agents do not fit the machine it runs on;
 * `bench agent-memory` measures the gateway's memory at scale).
 *   npm run bench -- fanout [--n 1000]
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { dataConverterOf } from '../lib/payload-codec';
import { createEnrollmentKey } from '../prisma/seed-demo';
import { startTestSystem, waitUntil, type TestSystem } from '../test/harness';
import { passkeyOf, userOfKey } from '../test/passkey';
import { spawnSimulatedAgents } from './simulated-agents';
import { cpuPerUnit, cpuSnapshot } from './cpu';
import { historySizes, LIMITS, overLimits } from './history-sizes';
import { emit } from './stats';

const WINDOW = 50;
/** Simulated agents per agent process. */
const AGENTS_PER_PROCESS = 2000;
/** The largest fleet for which the gateway's memory is also measured at 5×N connected agents. */
const GATEWAY_MEMORY_UP_TO = 2000;

function heapMb(): number {
  global.gc?.();
  return process.memoryUsage().heapUsed / 1e6;
}

async function bareTemporal(sys: TestSystem, n: number): Promise<number> {
  const worker = await Worker.create({
    connection: sys.temporal.nativeConnection,
    // The same codec as the test system's client, which encrypts what it sends this worker.
    dataConverter: dataConverterOf(sys.payloadCodec),
    taskQueue: 'bench-fanout',
    workflowsPath: require.resolve('./baseline-workflows'),
    activities: { noop: async () => undefined },
    maxConcurrentActivityTaskExecutions: WINDOW * 2,
  });
  let seconds = 0;
  await worker.runUntil(async () => {
    const t0 = performance.now();
    await sys.temporal.client.workflow.execute('fanout', { taskQueue: 'bench-fanout', workflowId: `bench-fanout-${Date.now()}`, args: [n, WINDOW] });
    seconds = (performance.now() - t0) / 1000;
  });
  return seconds;
}

async function connectMore(sys: TestSystem, count: number): Promise<() => void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-fanout-'));
  const site = sys.seed.orgs.acme.siteIds[1]!;
  const key = await createEnrollmentKey(sys.prisma, { orgId: sys.seed.orgs.acme.id, siteId: site, maxUses: count });
  const before = await sys.prisma.device.count({ where: { orgId: sys.seed.orgs.acme.id, online: true } });
  const child = spawnSimulatedAgents({ count, org: sys.seed.orgs.acme.slug, server: sys.url, dataDir: dir, key });
  await waitUntil(async () => (await sys.prisma.device.count({ where: { orgId: sys.seed.orgs.acme.id, online: true } })) >= before + count, `${count} more agents to connect`, 600_000);
  return () => child.kill('SIGTERM');
}

/** The session's and its remediation's histories (every run) against Temporal's limits. */
async function temporalLimits(sys: TestSystem, sessionId: string) {
  const { workflowId } = await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } });
  const client = sys.temporal.client;
  const sessionRuns = await historySizes(client, workflowId);
  const child = (await client.workflow.getHandle(workflowId).fetchHistory()).events?.map((e) => e.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId).find(Boolean);
  if (!child) throw new Error('the session started no remediation');
  const remediationRuns = await historySizes(client, child);
  const all = [...sessionRuns, ...remediationRuns];
  const report = {
    remediationRuns: remediationRuns.length,
    largestPayloadBytes: Math.max(...all.map((r) => r.largestPayloadBytes)),
    largestPayloadIn: all.reduce((a, b) => (b.largestPayloadBytes > a.largestPayloadBytes ? b : a)).largestPayloadIn,
    largestRunEvents: Math.max(...all.map((r) => r.events)),
    largestRunHistoryBytes: Math.max(...all.map((r) => r.historyBytes)),
    sessionHistoryBytes: sessionRuns.reduce((n, r) => n + r.historyBytes, 0),
  };
  return { report, problems: [...overLimits('session', sessionRuns), ...overLimits('remediation', remediationRuns)] };
}

export async function runFanoutBench(n: number): Promise<void> {
  const devices = n === 200 ? 1000 : n;
  const heapBefore = heapMb();
  // The worker in its own process, as deployed: the api (in this process) and the worker do not share one thread.
  const sys = await startTestSystem({ simulated: devices, simulatedProcesses: Math.ceil(devices / AGENTS_PER_PROCESS), simulatedEnrollment: 'bulk', workerProcess: true, env: { RATE_WINDOW_SCALE: '0.01' } });
  const stops: (() => void)[] = [];
  try {
    const fleet = sys.fleetSetup;
    if (!fleet) throw new Error('the test system reported no fleet set-up');
    emit({ bench: 'fanout', phase: 'fleet-setup', devices: fleet.devices, agentProcesses: fleet.processes, seconds: fleet.seconds });
    const connected = sys.api.gateway.stats().connected;
    const heapAtN = heapMb();
    emit({ bench: 'fanout', phase: 'gateway-memory', agents: connected, heapMb: Math.round(heapAtN), note: 'heap of this process, which runs the api, the worker and Temporal clients' });

    const beforeBare = cpuSnapshot();
    const bare = await bareTemporal(sys, devices);
    const bareCpu = cpuPerUnit(beforeBare, cpuSnapshot(), devices);
    emit({ bench: 'fanout', phase: 'bare-temporal', activities: devices, window: WINDOW, seconds: Math.round(bare * 100) / 100, perSecond: Math.round(devices / bare), cpuMsPerActivity: bareCpu });

    const tech = sys.keyOf('technician');
    const sessionId = await sys.startSession(tech);
    const turnId = await sys.send(sessionId, tech, `/tool run_remediation ${JSON.stringify({ target: { site: 'HQ' }, action: { type: 'service', service: 'Dnscache', action: 'restart' }, batch_size: WINDOW, max_failures: 10 })}`);
    const approval = await sys.waitForApproval(sessionId);
    // The end is when the console hears that run_remediation completed (pushed, as a technician watching sees it),
    // not when a poll happens to notice, and not after the model has written its answer.
    const watch = await sys.watchSession(sessionId, tech);
    if (!watch.subscription.ok) throw new Error(`could not watch the session: ${watch.subscription.error}`);
    // The approver's passkey signs the call first (as in the console), outside the measured time.
    // Registered first: the options list the approver's passkeys, and there are none before.
    const approverPasskey = await passkeyOf(sys, await userOfKey(sys, sys.keyOf('approver')));
    const options = await sys.request('POST', `/v1/approvals/${approval.id}/passkey-options`, { key: sys.keyOf('approver'), body: {} });
    if (options.status !== 200) throw new Error(`no passkey options for the approval (HTTP ${options.status}): ${JSON.stringify(options.body).slice(0, 500)}`);
    const passkey = approverPasskey.sign(options.body);
    const beforeRemediation = cpuSnapshot();
    const t0 = performance.now();
    const res = await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve', confirmation: approval.confirmationPhrase, passkey } });
    if (res.status !== 200) throw new Error(`approval refused: ${JSON.stringify(res.body)}`);
    await watch.next((e) => e.type === 'tool:completed' && e.tool === 'run_remediation', 'run_remediation to complete', 900_000);
    watch.close();
    const seconds = (performance.now() - t0) / 1000;
    const remediationCpu = cpuPerUnit(beforeRemediation, cpuSnapshot(), devices);
    const session = await sys.waitForTurn(sessionId, tech, turnId, 900_000);
    const step = session.turns.find((t: { turnId: string }) => t.turnId === turnId).steps.find((s: { kind: string }) => s.kind === 'tool');
    emit({ bench: 'fanout', phase: 'remediation', devices, window: WINDOW, seconds: Math.round(seconds * 100) / 100, perSecond: Math.round(devices / seconds), cpuMsPerDevice: remediationCpu, summary: String(step?.summary).slice(0, 80) });

    const limits = await temporalLimits(sys, sessionId);
    emit({ bench: 'fanout', phase: 'temporal-limits', ...limits.report });

    let heapAt5N: number | undefined;
    let agents5 = connected;
    if (devices <= GATEWAY_MEMORY_UP_TO) {
      stops.push(await connectMore(sys, devices * 4));
      heapAt5N = heapMb();
      agents5 = sys.api.gateway.stats().connected;
      emit({ bench: 'fanout', phase: 'gateway-memory', agents: agents5, heapMb: Math.round(heapAt5N) });
    }
    emit({
      bench: 'fanout',
      summary: true,
      devices,
      devicesPerSecond: Math.round(devices / seconds),
      bareTemporalPerSecond: Math.round(devices / bare),
      ratioToBare: Math.round((bare / seconds) * 100) / 100,
      goal: { ratioToBare: 0.8 },
      // Where the time went: CPU per device next to CPU per bare activity ("other" is anything else on the machine).
      cpuMsPerDevice: remediationCpu,
      bareCpuMsPerActivity: bareCpu,
      // Marginal heap per connected agent between the two counts (the rest of the heap is the system itself).
      ...(heapAt5N !== undefined
        ? {
            gatewayKbPerAgent: Math.round(((heapAt5N - heapAtN) * 1000) / Math.max(1, agents5 - connected)),
            heapMb: { beforeSystem: Math.round(heapBefore), [`at${connected}Agents`]: Math.round(heapAtN), [`at${agents5}Agents`]: Math.round(heapAt5N) },
          }
        : { heapMb: { beforeSystem: Math.round(heapBefore), [`at${connected}Agents`]: Math.round(heapAtN) }, gatewayMemory: `not measured at 5×N past ${GATEWAY_MEMORY_UP_TO} devices` }),
      agentProcesses: fleet.processes,
      fleetSetupSeconds: fleet.seconds,
      ...limits.report,
      goalLimits: { largestPayloadBytes: LIMITS.payloadWarnBytes, runEvents: LIMITS.historyWarnEvents, runHistoryBytes: LIMITS.historyWarnBytes },
    });
    // Loudly, after the numbers are out: a payload past the warning is a failed run of this bench.
    if (limits.problems.length > 0) throw new Error(`Temporal's limits: ${limits.problems.join('; ')}`);
  } finally {
    for (const stop of stops) stop();
    await sys.stop();
  }
}
