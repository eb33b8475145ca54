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
 *
 * A session's device tool call had the same hazard until `Patch.CallHintsOfAwaitedCommands`: a duplicate hint for a
 * command its last read had settled asked for one more read live and none on replay (workflows/device-commands.ts).
 * The second test runs six sessions of six turns, each turn one unapproved call over six devices, under the same
 * conditions, the session's state and turn queried all the time. Without the patch each of six tries failed (two to
 * five of its six sessions: `Missing associated machine for LocalActivity(n)` on replay, and on the worker itself a
 * turn stuck or a message refused while the run's task failed); with it, ten tries had no replay or workflow task
 * fail (one had a message refused while tasks timed out under the load, before the test tried refused messages
 * again). Smaller runs failed less often without the patch: three of four tries at four sessions of three turns.
 *
 * A run is called stuck when its history shows a workflow task its worker failed, not when it is late: a 45-second
 * deadline failed the test in CI (stop 37) on a run that was only slow, its tasks timing out one after another while
 * the other jest worker starved this one (a run that lost the worker's cache is replayed for each query, so the
 * queries waiting only grew). The pollers now pause as long as their last query took, so a slower worker is asked
 * less often. With two busy loops beside it the test passed (90 s); with both patches turned off, the remediation
 * failed four tries of five and the sessions two of two.
 */
import crypto from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../activities';
import type { SendMessageInput } from '../common/session';
import { environment, loadEnv } from '../lib/env';
import { createWorkerMetrics } from '../lib/metrics';
import { seededRandom, startWorkflowEnv, stopWorkflowEnv, unscriptedActivities, untilDoneOrStuck } from '../test/workflow-env';
import { freshRunBundle } from '../test/workflow-bundle';
import { sinksOf, WORKER_BUNDLING_OPTIONS, WORKFLOW_INTERCEPTOR_MODULES, WORKFLOWS_PATH } from '../worker/create-worker';
import type { copilotSession } from './copilot-session';
import { commandResultsSignal, remediationProgressQuery, sendMessageUpdate, stateQuery, turnQuery } from './definitions';
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

/**
 * Device commands as the api reports them on a loaded machine: one device in `fastOneIn` answers while its batch is
 * queued (the api's hint leaves just before the queue returns it settled), the others a little later, one by one; a
 * hint sent twice (a retried delivery) may arrive just as the outcomes it names are read.
 */
function racingCommands(
  rnd: (n: number) => number,
  delay: () => Promise<unknown>,
  signal: (workflowId: string, commandIds: string[]) => Promise<unknown>,
  fastOneIn: number,
): Pick<Activities, 'queueDeviceCommands' | 'readCommandOutcomes'> {
  return {
    queueDeviceCommands: async (input) => {
      const ids = input.commands.map((c) => c.commandId);
      const fast = ids.filter(() => rnd(fastOneIn) === 0);
      await delay();
      if (fast.length > 0) void signal(input.reportTo, fast);
      for (const id of ids.filter((c) => !fast.includes(c))) setTimeout(() => void signal(input.reportTo, [id]), 50 + rnd(400));
      await sleep(2);
      return { kind: input.kind, params: input.params, commands: input.commands, settled: fast.map((commandId) => ({ commandId, status: 'succeeded' as const })) };
    },
    readCommandOutcomes: async ({ reportTo, claims }) => {
      await delay();
      if (rnd(2) === 0) void signal(reportTo, claims.map((c) => c.commandId));
      await sleep(2);
      return { outcomes: claims };
    },
  };
}

/**
 * Asks again as soon as the last answer came back, after a pause as long as that answer took: queries are always
 * waiting, and on a starved machine (the other jest worker busy, each query's busy work slower) they ask less often
 * instead of piling up until no workflow task ends within its second (a run that lost the worker's cache is replayed
 * for each query, so a backlog only grows).
 */
async function pollUntil(stopped: () => boolean, ask: () => Promise<unknown>): Promise<void> {
  while (!stopped()) {
    const started = Date.now();
    await ask().catch(() => undefined);
    await sleep(Date.now() - started);
  }
}

/** A worker running the workflows with slow queries: bundled here (the run's bundle has only the usual interceptors). */
function slowQueryWorker(taskQueue: string, activities: Activities): Promise<Worker> {
  return Worker.create({
    connection: testEnv.nativeConnection,
    taskQueue,
    workflowsPath: WORKFLOWS_PATH,
    interceptors: { workflowModules: [...WORKFLOW_INTERCEPTOR_MODULES, require.resolve('../test/slow-query-interceptors')] },
    activities,
    sinks: sinksOf(createWorkerMetrics()),
  });
}

/** Replays each run's history with the run's bundle (the usual interceptors), as a worker that lost the run would. */
async function replayEach(workflowIds: string[], failures: string[]): Promise<void> {
  const bundle = await freshRunBundle(loadEnv(environment()).TEST_WORKFLOW_BUNDLE);
  for (const workflowId of workflowIds) {
    const history = await testEnv.client.workflow.getHandle(workflowId).fetchHistory();
    await Worker.runReplayHistory({ ...(bundle ? { workflowBundle: bundle } : WORKER_BUNDLING_OPTIONS), sinks: sinksOf(createWorkerMetrics()) }, history, workflowId).catch((err: unknown) => {
      failures.push(`${workflowId}: ${String(err).slice(0, 300)}`);
    });
  }
}

it('replays a remediation whose local activities finish while queries are answered', async () => {
  const taskQueue = `unit-${crypto.randomBytes(4).toString('hex')}`;
  let signal: (workflowId: string, commandIds: string[]) => Promise<void> = async () => undefined;
  const rnd = seededRandom(7);
  // Now and then a call outlasts the workflow task (1 s here): the worker ends the task (a heartbeat) and the next one
  // brings the queries that waited, which the worker answers while the call still runs.
  const delay = () => sleep(rnd(5) === 0 ? 900 + rnd(300) : 20 + rnd(60));
  const activities: Activities = {
    ...unscriptedActivities,
    // Half of the devices answer while their batch is queued; the others a little later.
    ...racingCommands(rnd, delay, (workflowId, ids) => signal(workflowId, ids), 2),
    readRemediationDevices: async ({ offset, limit }) => ({ devices: Array.from({ length: DEVICES }, (_, i) => `device-${i}`).slice(offset, offset + limit), total: DEVICES }),
  };
  const worker = await slowQueryWorker(taskQueue, activities);
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
        const polling = Promise.all([1, 2, 3].map(() => pollUntil(() => ended, () => handle.query(remediationProgressQuery))));
        // A worker that lost the run from its cache (a task timed out) replays it and fails the same way: stuck.
        const waited = await untilDoneOrStuck(testEnv.client, workflowId, async () => (ended ? true : null));
        ended = true;
        await polling;
        if ('stuck' in waited) {
          failures.push(`${workflowId}: ${waited.stuck}`);
          await handle.terminate().catch(() => undefined);
          await result.catch(() => undefined);
        } else expect(await result).toMatchObject({ succeeded: DEVICES, failed: 0 });
      }),
    );
  });
  await replayEach(workflowIds, failures);
  expect(failures).toEqual([]);
}, 240_000);

const CALL_DEVICES = 6;
const SESSIONS = 6;
const TURNS = 6;

it("replays a session whose device call's local activities finish while its state is queried", async () => {
  const taskQueue = `unit-${crypto.randomBytes(4).toString('hex')}`;
  const userId = crypto.randomUUID();
  const rnd = seededRandom(11);
  const signal = (workflowId: string, commandIds: string[]) =>
    testEnv.client.workflow
      .getHandle(workflowId)
      .signal(commandResultsSignal, { results: commandIds.map((commandId) => ({ commandId, status: 'succeeded' as const })) })
      .catch(() => undefined);
  // As in the remediation above: now and then a call outlasts the one-second workflow task.
  const delay = () => sleep(rnd(5) === 0 ? 900 + rnd(300) : 20 + rnd(60));
  const devices = Array.from({ length: CALL_DEVICES }, (_, i) => `device-${i}`);
  const activities: Activities = {
    ...unscriptedActivities,
    admitUserMessage: async () => ({ ok: true as const, userId, text: 'refresh the inventory of every device' }),
    recordUserMessage: async () => undefined,
    reserveBudget: async () => ({ ok: true, reservationId: crypto.randomUUID(), amountMicros: 1000 }),
    // Each turn asks for one call over every device, then answers once it ran.
    callModel: async ({ turnId, step }) =>
      step === 0
        ? { text: 'Refreshing the inventory.', stopReason: 'tool_use', toolUses: [{ id: `toolu_${turnId}`, name: 'refresh_inventory', input: { device_ids: devices } }] }
        : { text: 'Done.', stopReason: 'end_turn', toolUses: [] },
    // A T1 or T2 call: allowed without an approval, one command per device, queued by runDeviceCommands itself.
    authorizeToolCall: async ({ sessionId, turnId, toolUse }) => ({
      decision: 'allow',
      invocationId: `${sessionId}:${turnId}:${toolUse.id}`,
      tier: 1 + rnd(2),
      execution: { type: 'devices', commands: devices.map((deviceId) => ({ deviceId, kind: 'inventory' as const, params: {} })) },
    }),
    // A third of the devices answer while the call is queued, the others one by one a little later, so the call reads
    // its hints several times.
    ...racingCommands(rnd, delay, signal, 3),
    recordToolResult: async ({ invocationId, commandIds }) => ({ invocationId, status: 'succeeded', summary: `${commandIds?.length ?? 0} devices reported` }),
  };
  const worker = await slowQueryWorker(taskQueue, activities);
  const failures: string[] = [];
  const sessions = Array.from({ length: SESSIONS }, () => ({ orgId: crypto.randomUUID(), sessionId: crypto.randomUUID() }));
  const workflowIds = sessions.map(({ orgId, sessionId }) => `copilot:${orgId}:${sessionId}`);
  await worker.runUntil(async () => {
    await Promise.all(
      sessions.map(async ({ orgId, sessionId }, i) => {
        const workflowId = workflowIds[i]!;
        const handle = await testEnv.client.workflow.start<typeof copilotSession>('copilotSession', { taskQueue, workflowId, workflowTaskTimeout: '1s', args: [{ sessionId, orgId, userId }] });
        let stopped = false;
        let current = 't1';
        // The console polls the session and the CLI waits on its turn: queries always waiting.
        const polling = Promise.all([
          pollUntil(() => stopped, () => handle.query(stateQuery)),
          pollUntil(() => stopped, () => handle.query(stateQuery)),
          pollUntil(() => stopped, () => handle.query(turnQuery, current)),
        ]);
        for (let t = 0; t < TURNS; t++) {
          // The server refuses an update while the run's workflow task is failing or timing out (the busy worker's
          // tasks do now and then). Tried again, under one update id, until it is taken or the run is stuck.
          const message = { updateId: crypto.randomUUID(), args: [{ requestId: crypto.randomUUID() }] as [SendMessageInput] };
          const sent = await untilDoneOrStuck(testEnv.client, workflowId, () => handle.executeUpdate(sendMessageUpdate, message).catch(() => null));
          if ('stuck' in sent) {
            failures.push(`${workflowId} turn ${t + 1} refused: ${sent.stuck}`);
            break;
          }
          const { turnId } = sent.done;
          current = turnId;
          // A worker that lost the run from its cache (a task timed out) replays it and fails the same way: stuck.
          const ended = await untilDoneOrStuck(testEnv.client, workflowId, async () => {
            const turn = (await handle.query(turnQuery, turnId).catch(() => null))?.turn ?? null;
            return turn && !['queued', 'running'].includes(turn.status) ? turn : null;
          });
          if ('stuck' in ended) {
            failures.push(`${workflowId} turn ${turnId}: ${ended.stuck}`);
            break;
          }
          const turn = ended.done;
          expect(turn).toMatchObject({ status: 'answered', answer: 'Done.' });
          expect(turn.steps.find((s) => s.kind === 'tool')).toMatchObject({ status: 'succeeded', summary: `${CALL_DEVICES} devices reported` });
        }
        stopped = true;
        await polling;
        await handle.terminate();
      }),
    );
  });
  await replayEach(workflowIds, failures);
  expect(failures).toEqual([]);
}, 300_000);
