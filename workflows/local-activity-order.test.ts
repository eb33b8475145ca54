/**
 * A remediation whose local activities finish out of order still replays. Its batches are queued by a local activity
 * while the results of earlier ones are read by another; when one outlasts the workflow task (a loaded worker), a
 * replay used to resolve them in another order than they had finished, and the run failed as nondeterministic
 * ("Missing associated machine for LocalActivity(n)"), stuck for good. Since `Patch.SerialLocalActivities` a run's
 * local activities go one at a time (workflows/activities.ts).
 *
 * Each run below is the remediation against scripted activities that take random times (some longer than the
 * workflow task's one-second timeout) while results arrive by signal at random; its whole history is then replayed as
 * a worker that lost it would. Without the patch, one of the four runs got stuck in about half of the tries (its replay failing).
 *
 * Since `Patch.HintsReadWhenIdle` (workflows/remediation.ts) a new remediation never has two local activities in
 * flight, so this test no longer reaches that hazard: at stop 39, with `SerialLocalActivities` turned off, it passed
 * five tries of five (three as it is, two as it was before). Runs started before that patch still take the old path,
 * and the replay fixtures keep it (workflows/replay.test.ts: remediation-serial-local-activities.json). What the test
 * still holds: a remediation whose results arrive at random, again and again, around calls longer than its task,
 * ends with every device counted and replays. A run is stuck when its history shows a workflow task its worker
 * failed, not when it is late (test/workflow-env.ts, `stuckReason`).
 */
import crypto from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../activities';
import { deviceCommandId } from '../common/ids';
import { environment, loadEnv } from '../lib/env';
import { createWorkerMetrics } from '../lib/metrics';
import { seededRandom, startWorkflowEnv, stopWorkflowEnv, stuckReason, unscriptedActivities, workerWith } from '../test/workflow-env';
import { freshRunBundle } from '../test/workflow-bundle';
import { sinksOf, WORKER_BUNDLING_OPTIONS } from '../worker/create-worker';
import { commandResultsSignal } from './definitions';
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


/** One remediation over 16 devices, 3 at a time, its local activities slow at random; returns its workflow id. */
async function runOutOfOrder(seed: number): Promise<string> {
  const rnd = seededRandom(seed);
  const orgId = crypto.randomUUID();
  const devices = Array.from({ length: 16 }, () => crypto.randomUUID());
  const invocationId = `${crypto.randomUUID()}:call-${seed}`;
  const queued: string[] = [];
  const reported = new Set<string>();
  // A quarter of the calls outlast the workflow task (1 s), so the worker heartbeats it and signals come in between.
  const delay = () => sleep(rnd(4) === 0 ? 1200 + rnd(1300) : rnd(200));
  const activities: Activities = {
    ...unscriptedActivities,
    // The commands reach their devices before the activity returns: a result may come back first, and a retry
    // (here: half of the time) returns the outcomes already in.
    queueDeviceCommands: async (input) => {
      queued.push(...input.commands.map((c) => c.commandId));
      await delay();
      const settled = input.commands.filter((c) => reported.has(c.commandId) && rnd(2) === 0).map((c) => ({ commandId: c.commandId, status: 'succeeded' as const }));
      return { kind: input.kind, params: input.params, commands: input.commands, settled };
    },
    readCommandOutcomes: async ({ claims }) => {
      await delay();
      return { outcomes: claims };
    },
    readRemediationDevices: async ({ offset, limit }) => ({ devices: devices.slice(offset, offset + limit), total: devices.length }),
  };
  const { worker, taskQueue } = await workerWith(testEnv, activities);
  const workflowId = `copilot:${orgId}:${crypto.randomUUID()}:remediation:toolu_${seed}`;
  const input: RemediationInput = { orgId, devices: [], deviceCount: devices.length, kind: 'manage_service', params: { service: 'Spooler', action: 'start' }, batchSize: 3, maxFailures: devices.length, invocationId };
  await worker.runUntil(async () => {
    const handle = await testEnv.client.workflow.start<typeof remediation>('remediation', { taskQueue, workflowId, workflowTaskTimeout: '1s', args: [input] });
    let ended = false;
    void handle.result().finally(() => (ended = true));
    // Results of queued commands arrive at random, many of them again and again, until the remediation ends (after
    // 150 results, only those not yet reported: the history stays small enough to replay quickly). A run whose
    // workflow task the worker failed (nondeterminism) never ends: said so from its history rather than after jest's
    // timeout; one that is only slow (a starved worker) is waited for.
    for (let sent = 0; !ended; sent++) {
      const pool = sent < 150 ? queued : queued.filter((c) => !reported.has(c));
      const commandId = pool[rnd(pool.length)];
      if (commandId) reported.add(commandId);
      if (commandId) await handle.signal(commandResultsSignal, { results: [{ commandId, status: 'succeeded' }] }).catch(() => undefined);
      await sleep(rnd(250));
      const stuck = sent % 16 === 15 ? await stuckReason(testEnv.client, workflowId) : undefined;
      if (stuck !== undefined) throw new Error(`remediation ${workflowId}: ${stuck}`);
    }
    expect(await handle.result()).toMatchObject({ succeeded: devices.length, failed: 0 });
  });
  expect(new Set(queued)).toEqual(new Set(devices.map((d) => deviceCommandId(invocationId, d))));
  return workflowId;
}

it('replays remediations whose local activities finished out of order', async () => {
  const workflowIds = await Promise.all([1, 2, 3, 4].map(runOutOfOrder));
  const bundle = await freshRunBundle(loadEnv(environment()).TEST_WORKFLOW_BUNDLE);
  for (const workflowId of workflowIds) {
    const history = await testEnv.client.workflow.getHandle(workflowId).fetchHistory();
    await Worker.runReplayHistory({ ...(bundle ? { workflowBundle: bundle } : WORKER_BUNDLING_OPTIONS), sinks: sinksOf(createWorkerMetrics()) }, history, workflowId);
  }
}, 240_000);
