/**
 * A remediation queried all the time (the console polls its progress) still replays. A query answered while a local
 * activity finishes ends the workflow task with that activity's result recorded, but the workflow sees the result
 * only in the next task, together with the result signals that arrived meanwhile; a replay sees it a task earlier,
 * before those signals. A hint for a command the activity had settled was then counted live (the command still
 * running when the signal was handled) and dropped on replay, so the live run read it once more and the replay did
 * not: `[TMPRL1100] Nondeterminism error: Missing associated machine for LocalActivity(n)` (or a result of the wrong
 * activity), on every query of the run and on its worker once it lost the run from its cache. Since
 * `Patch.HintsReadWhenIdle` the remediation reads hints only when nothing is in flight, and only those of commands
 * it still waits for (workflows/remediation.ts). The one-second task also times out now and then (a slow query or a
 * long call): a replay delivers that task's signals together with the next task's, where the live run had read the
 * first hints alone, so a replayed read claimed more hints than the live one and, dropping all it claimed, lost the
 * others (about one try in ten); a hint now stays until its command is settled.
 *
 * The worker here spends tens of milliseconds on each query (test/slow-query-interceptors.ts), queries never stop,
 * some calls outlast the one-second workflow task, and hints arrive just as the calls that settle their commands
 * return. Without the patch each of four tries of this test failed (one or two of its six runs: replayed, or on the
 * worker itself after it lost the run, as `Missing associated machine for LocalActivity(n)` or as a local activity
 * resolved with another one's result); with it, none did.
 */
import crypto from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../activities';
import { environment, loadEnv } from '../lib/env';
import { createWorkerMetrics } from '../lib/metrics';
import { startWorkflowEnv, stopWorkflowEnv, unscriptedActivities } from '../test/workflow-env';
import { freshRunBundle } from '../test/workflow-bundle';
import { sinksOf, WORKER_BUNDLING_OPTIONS, WORKFLOW_INTERCEPTOR_MODULES, WORKFLOWS_PATH } from '../worker/create-worker';
import { commandResultsSignal, remediationProgressQuery } from './definitions';
import type { RemediationInput } from './remediation-state';
import type { remediation } from './remediation';

let testEnv: TestWorkflowEnvironment;
beforeAll(async () => {
  testEnv = await startWorkflowEnv();
}, 60_000);
afterAll(async () => {
  await stopWorkflowEnv(testEnv);
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DEVICES = 16;
const RUNS = 6;

/** A small seeded generator (mulberry32), as in local-activity-order.test.ts. */
function random(seed: number) {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}

it('replays a remediation whose local activities finish while queries are answered', async () => {
  const taskQueue = `unit-${crypto.randomBytes(4).toString('hex')}`;
  let signal: (workflowId: string, commandIds: string[]) => Promise<void> = async () => undefined;
  const rnd = random(7);
  // Now and then a call outlasts the workflow task (1 s here): the worker ends the task (a heartbeat) and the next one
  // brings the queries that waited, which the worker answers while the call still runs.
  const delay = () => sleep(rnd(5) === 0 ? 900 + rnd(300) : 20 + rnd(60));
  const activities: Activities = {
    ...unscriptedActivities,
    // Half of the devices answer while their batch is queued: the api's hint leaves just before the queue returns them
    // settled. The others answer a little later.
    queueDeviceCommands: async (input) => {
      const ids = input.commands.map((c) => c.commandId);
      const fast = ids.filter(() => rnd(2) === 0);
      await delay();
      if (fast.length > 0) void signal(input.reportTo, fast);
      for (const id of ids.filter((c) => !fast.includes(c))) setTimeout(() => void signal(input.reportTo, [id]), 50 + rnd(400));
      await sleep(2);
      return { kind: input.kind, params: input.params, commands: input.commands, settled: fast.map((commandId) => ({ commandId, status: 'succeeded' as const })) };
    },
    // A hint sent twice (a retried delivery) may arrive just as the outcomes it names are read.
    readCommandOutcomes: async ({ reportTo, claims }) => {
      await delay();
      if (rnd(2) === 0) void signal(reportTo, claims.map((c) => c.commandId));
      await sleep(2);
      return { outcomes: claims };
    },
    readRemediationDevices: async ({ offset, limit }) => ({ devices: Array.from({ length: DEVICES }, (_, i) => `device-${i}`).slice(offset, offset + limit), total: DEVICES }),
  };
  // The workflows with the slow queries: bundled here (the run's bundle has only the usual interceptors).
  const worker = await Worker.create({
    connection: testEnv.nativeConnection,
    taskQueue,
    workflowsPath: WORKFLOWS_PATH,
    interceptors: { workflowModules: [...WORKFLOW_INTERCEPTOR_MODULES, require.resolve('../test/slow-query-interceptors')] },
    activities,
    sinks: sinksOf(createWorkerMetrics()),
  });
  const failures: string[] = [];
  const workflowIds = Array.from({ length: RUNS }, (_, i) => `copilot:${crypto.randomUUID()}:${crypto.randomUUID()}:remediation:toolu_${i}`);
  await worker.runUntil(async () => {
    signal = async (workflowId, commandIds) => {
      await testEnv.client.workflow
        .getHandle(workflowId)
        .signal(commandResultsSignal, { results: commandIds.map((commandId) => ({ commandId, status: 'succeeded' as const })) })
        .catch(() => undefined);
    };
    await Promise.all(
      workflowIds.map(async (workflowId, i) => {
        const input: RemediationInput = { orgId: crypto.randomUUID(), devices: [], deviceCount: DEVICES, kind: 'manage_service', params: { service: 'Spooler', action: 'start' }, batchSize: 2, maxFailures: DEVICES, invocationId: `${crypto.randomUUID()}:call-${i}` };
        const handle = await testEnv.client.workflow.start<typeof remediation>('remediation', { taskQueue, workflowId, workflowTaskTimeout: '1s', args: [input] });
        let ended = false;
        const result = handle.result().finally(() => (ended = true));
        // The console polls the progress (two pages and the CLI): queries always waiting.
        const poll = async () => {
          while (!ended) await handle.query(remediationProgressQuery).catch(() => undefined);
        };
        const polling = Promise.all([poll(), poll(), poll()]);
        const deadline = Date.now() + 45_000;
        while (!ended && Date.now() < deadline) await sleep(100);
        const finished = ended;
        ended = true;
        await polling;
        // A worker that lost the run from its cache (a task timed out) replays it and fails the same way: stuck.
        if (!finished) failures.push(`${workflowId} did not end in 45 s (its workflow task failing on replay?)`);
        else expect(await result).toMatchObject({ succeeded: DEVICES, failed: 0 });
      }),
    );
  });
  const bundle = await freshRunBundle(loadEnv(environment()).TEST_WORKFLOW_BUNDLE);
  for (const workflowId of workflowIds) {
    const history = await testEnv.client.workflow.getHandle(workflowId).fetchHistory();
    await Worker.runReplayHistory({ ...(bundle ? { workflowBundle: bundle } : WORKER_BUNDLING_OPTIONS), sinks: sinksOf(createWorkerMetrics()) }, history, workflowId).catch((err: unknown) => {
      failures.push(`${workflowId}: ${String(err).slice(0, 300)}`);
    });
  }
  expect(failures).toEqual([]);
}, 240_000);
