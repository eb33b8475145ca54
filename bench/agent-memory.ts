/**
 * bench/agent-memory: the agent gateway's memory per connected agent. The api runs as its own process (as
 * deployed, on the test system's PostgreSQL, Redis and Temporal) with nothing else in it; the agents are the
 * agent's simulated-endpoint mode, 1,000 per process, with real device credentials (written in bulk to the
 * database, as enrollment would). Baseline: the same api process with 0 agents, after a warm-up connection of a
 * few agents (so the code paths a first connection loads are not charged to the agents). At each N, once the
 * gateway has marked all N online, the api's memory is read after a full GC; per agent = (at N − baseline) / N.
 * Then the api node restarts on the same address with all N agents connected: how long until every one is back
 * (goal: within 60 s), and how many PostgreSQL transactions their return cost per agent (the herd a restart sends
 * to the database; the gateway batches its per-connection reads and writes, api/gateway/fleet-batches.ts).
 *   npm run bench -- agent-memory [--agents 1000,5000]
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { generateSigningKeyPem, loadSigningKey } from '../cage/command-signing';
import { startTestSystem, waitUntil, type TestSystem } from '../test/harness';
import { startApiProcess, type ApiProcess } from './api-process';
import type { MemoryReport } from './memory-probe';
import { deleteDevices, enrollInBulk, spawnSimulatedAgents, stopProcess, writeSimulatedCredentials } from './simulated-agents';
import { emit } from './stats';
import type { AgentCredentials } from '../agent/credentials';

const AGENTS_PER_PROCESS = 1000;
const WARMUP_AGENTS = 20;
/** After the last agent is marked online: its connection's queries (online flag, queued commands) finish. */
const SETTLE_MS = 5000;
const SAMPLES = 3;

export function parseAgentCounts(text: string): number[] {
  const counts = text.split(',').map((s) => Number(s.trim()));
  if (!counts.length || counts.some((n) => !Number.isInteger(n) || n < 1 || n > 20_000)) throw new Error(`--agents takes counts between 1 and 20000, like 1000,5000 (got "${text}")`);
  return [...new Set(counts)].sort((a, b) => a - b);
}

const mb = (bytes: number) => Math.round(bytes / 1e5) / 10;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Median of a few probe readings, each after a full GC, a second apart. */
async function settledMemory(api: ApiProcess): Promise<MemoryReport> {
  const samples: MemoryReport[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    if (i) await sleep(1000);
    samples.push(await api.memory());
  }
  const pick = (k: keyof Omit<MemoryReport, 'gc'>) => median(samples.map((s) => s[k]));
  return { rss: pick('rss'), heapUsed: pick('heapUsed'), heapTotal: pick('heapTotal'), external: pick('external'), arrayBuffers: pick('arrayBuffers'), tcpSockets: pick('tcpSockets'), gc: samples.every((s) => s.gc) };
}

interface Fleet {
  sys: TestSystem;
  api: ApiProcess;
  work: string;
  processes: ChildProcess[];
}

/** Starts agent processes for `creds` (at most AGENTS_PER_PROCESS each) and waits until `online` are online. */
async function connect(fleet: Fleet, creds: AgentCredentials[], label: string, online: number): Promise<number> {
  const { sys } = fleet;
  const org = sys.seed.orgs.acme;
  const t0 = performance.now();
  for (let i = 0; i < creds.length; i += AGENTS_PER_PROCESS) {
    const group = creds.slice(i, i + AGENTS_PER_PROCESS);
    const dataDir = path.join(fleet.work, `${label}-${i / AGENTS_PER_PROCESS}`);
    await writeSimulatedCredentials(dataDir, org.slug, group);
    fleet.processes.push(spawnSimulatedAgents({ count: group.length, org: org.slug, server: fleet.api.url, dataDir }));
  }
  await waitUntil(async () => (await sys.prisma.device.count({ where: { orgId: org.id, online: true } })) === online, `${online} agents online`, 600_000);
  return (performance.now() - t0) / 1000;
}

function line(phase: string, agents: number, m: MemoryReport, base?: MemoryReport): Record<string, unknown> {
  return {
    bench: 'agent-memory',
    phase,
    agents,
    heapMb: mb(m.heapUsed),
    // Heap V8 has reserved: part of the RSS, and it does not shrink back at once after a burst of connections.
    heapTotalMb: mb(m.heapTotal),
    rssMb: mb(m.rss),
    externalMb: mb(m.external),
    ...(base && agents
      ? {
          gatewaySockets: m.tcpSockets - base.tcpSockets,
          heapBytesPerAgent: Math.round((m.heapUsed - base.heapUsed) / agents),
          rssBytesPerAgent: Math.round((m.rss - base.rss) / agents),
          externalBytesPerAgent: Math.round((m.external - base.external) / agents),
        }
      : {}),
  };
}

/** Committed transactions of the bench's database so far (PostgreSQL's own statistics). */
async function transactions(sys: TestSystem): Promise<number> {
  const [row] = await sys.prisma.$queryRaw<{ n: bigint }[]>`SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()`;
  return Number(row!.n);
}

/**
 * Stops the api node with every agent connected and starts it again on the same address. The agents' online flags
 * are cleared in between (the old node may not have written them all on its way down), so the count is of
 * connections the new node accepted. The transactions include everything on the database meanwhile (the
 * worker's polling too): an upper bound on what the reconnections cost.
 */
async function restartApi(fleet: Fleet, deviceIds: string[], opts: { signingKeyPem: string; dataDir: string }): Promise<{ reconnectSeconds: number; pgTransactionsPerAgent: number }> {
  const { sys } = fleet;
  const port = Number(new URL(fleet.api.url).port);
  await fleet.api.stop();
  await sys.prisma.device.updateMany({ where: { id: { in: deviceIds } }, data: { online: false } });
  const before = await transactions(sys);
  const t0 = performance.now();
  fleet.api = await startApiProcess(sys, { ...opts, port });
  await waitUntil(async () => (await sys.prisma.device.count({ where: { id: { in: deviceIds }, online: true } })) === deviceIds.length, `${deviceIds.length} agents back after the restart`, 120_000);
  const reconnectSeconds = Math.round((performance.now() - t0) / 100) / 10;
  const pgTransactionsPerAgent = Math.round(((await transactions(sys)) - before) / deviceIds.length * 1000) / 1000;
  return { reconnectSeconds, pgTransactionsPerAgent };
}

export async function runAgentMemoryBench(opts: { agents?: string }): Promise<void> {
  const counts = parseAgentCounts(opts.agents ?? '1000,5000');
  const max = counts[counts.length - 1]!;
  const sys = await startTestSystem();
  const work = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-agent-memory-'));
  const signingKeyPem = generateSigningKeyPem();
  let fleet: Fleet | undefined;
  let deviceIds: string[] = [];
  try {
    const api = await startApiProcess(sys, { signingKeyPem, dataDir: path.join(work, 'api') });
    fleet = { sys, api, work, processes: [] };
    const org = sys.seed.orgs.acme;
    const t0 = performance.now();
    const creds = await enrollInBulk(sys.prisma, { orgId: org.id, siteId: org.siteIds[0]!, count: WARMUP_AGENTS + max, namePrefix: `${org.slug.toUpperCase()}-MEM`, server: api.url, commandKey: loadSigningKey(signingKeyPem).publicKeyPem });
    deviceIds = creds.map((c) => c.deviceId);
    emit({ bench: 'agent-memory', phase: 'enrolled', devices: creds.length, seconds: Math.round((performance.now() - t0) / 10) / 100 });

    // Warm-up: a few agents connect and leave, so one-time costs (modules, compiled queries) are in the baseline.
    await connect(fleet, creds.slice(0, WARMUP_AGENTS), 'warmup', WARMUP_AGENTS);
    for (const p of fleet.processes.splice(0)) await stopProcess(p);
    await waitUntil(async () => (await sys.prisma.device.count({ where: { orgId: org.id, online: true } })) === 0, 'the warm-up agents to be offline', 60_000);
    await sleep(SETTLE_MS);
    const base = await settledMemory(api);
    if (!base.gc) throw new Error('the api process has no gc(): it must run with --expose-gc');
    emit(line('baseline', 0, base));

    const at = new Map<number, MemoryReport>();
    let connected = 0;
    for (const n of counts) {
      const seconds = await connect(fleet, creds.slice(WARMUP_AGENTS + connected, WARMUP_AGENTS + n), `agents-${n}`, n);
      connected = n;
      await sleep(SETTLE_MS);
      const m = await settledMemory(api);
      at.set(n, m);
      emit({ ...line('connected', n, m, base), connectSeconds: Math.round(seconds * 10) / 10 });
    }

    const restart = await restartApi(fleet, deviceIds.slice(WARMUP_AGENTS, WARMUP_AGENTS + max), { signingKeyPem, dataDir: path.join(work, 'api') });
    emit({ bench: 'agent-memory', phase: 'restart', agents: max, ...restart });

    const perAgent = (k: 'heapUsed' | 'rss') => Object.fromEntries(counts.map((n) => [n, Math.round((at.get(n)![k] - base[k]) / n)]));
    const ratio = (k: 'heapUsed' | 'rss') => Object.fromEntries(counts.map((n) => [n, Math.round((at.get(n)![k] / base[k]) * 100) / 100]));
    const first = counts[0]!;
    emit({
      bench: 'agent-memory',
      summary: true,
      agents: counts,
      heapBytesPerAgent: perAgent('heapUsed'),
      rssBytesPerAgent: perAgent('rss'),
      // The api's memory at N against the same process with 0 agents.
      ratioToBaseline: { heap: ratio('heapUsed'), rss: ratio('rss') },
      baseline: { heapMb: mb(base.heapUsed), rssMb: mb(base.rss) },
      restart: { agents: max, ...restart, goal: 'every agent back within 60 s' },
      // Between the smallest and the largest N: what one more agent costs, without any fixed cost of the first ones.
      ...(max > first
        ? {
            marginal: {
              from: first,
              to: max,
              heapBytesPerAgent: Math.round((at.get(max)!.heapUsed - at.get(first)!.heapUsed) / (max - first)),
              rssBytesPerAgent: Math.round((at.get(max)!.rss - at.get(first)!.rss) / (max - first)),
            },
          }
        : {}),
    });
  } finally {
    for (const p of fleet?.processes ?? []) await stopProcess(p);
    await fleet?.api.stop();
    if (deviceIds.length) await deleteDevices(sys.prisma, deviceIds).catch((err: unknown) => console.error(`agent-memory: devices not deleted: ${String(err)}`));
    await sys.stop();
    await rm(work, { recursive: true, force: true });
  }
}
