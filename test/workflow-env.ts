/**
 * Workflow unit tests without the whole system: a Temporal dev server (the installed CLI, as the harness starts
 * it; `TestWorkflowEnvironment.createTimeSkipping` would download a test server, which cannot work here) and a
 * worker that runs this jest run's workflow bundle with the test's own activities, an object literal typed as the
 * workflows' `Activities`. No database, Redis or api: each test scripts what the activities answer, and timers are
 * short because the times come from those answers (an approval's expiry is `requestApproval`'s result).
 */
import crypto from 'node:crypto';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { Activities } from '../activities';
import { environment, loadEnv, temporalCliPath } from '../lib/env';
import { DEV_SERVER_ARGS, StoppableRetries } from '../lib/temporal';
import { createWorkerMetrics } from '../lib/metrics';
import { sinksOf, WORKER_BUNDLING_OPTIONS } from '../worker/create-worker';
import { freshRunBundle } from './workflow-bundle';

try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // already installed in this jest worker process
}

export async function startWorkflowEnv(): Promise<TestWorkflowEnvironment> {
  const env = loadEnv(environment());
  return TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: temporalCliPath(env) }, ip: '127.0.0.1', log: { format: 'pretty', level: 'error' }, extraArgs: [...DEV_SERVER_ARGS] },
    plugins: [new StoppableRetries()],
  });
}

/** Stops the client's retries, then the server (lib/temporal.ts says why in that order). */
export async function stopWorkflowEnv(testEnv: TestWorkflowEnvironment | undefined): Promise<void> {
  if (!testEnv) return;
  StoppableRetries.of(testEnv.connection)?.stop();
  await testEnv.teardown();
}

/** A worker on a task queue of its own, with the given activities; run the test inside `worker.runUntil`. */
export async function workerWith(testEnv: TestWorkflowEnvironment, activities: Activities): Promise<{ worker: Worker; taskQueue: string }> {
  const taskQueue = `unit-${crypto.randomBytes(4).toString('hex')}`;
  const bundle = await freshRunBundle(loadEnv(environment()).TEST_WORKFLOW_BUNDLE);
  const worker = await Worker.create({
    connection: testEnv.nativeConnection,
    taskQueue,
    ...(bundle ? { workflowBundle: bundle } : WORKER_BUNDLING_OPTIONS),
    activities,
    // The worker's own sinks (the workflows call them), counting into metrics nobody reads here.
    sinks: sinksOf(createWorkerMetrics()),
  });
  return { worker, taskQueue };
}

/** Polls `read` until `done` holds for its value (a query answered by the workflow, an activity's record). */
export async function eventually<T>(read: () => Promise<T> | T, done: (value: T) => boolean, what: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}; last seen: ${JSON.stringify(last)}`);
}

const { WorkflowTaskFailedCause } = temporal.api.enums.v1;
/**
 * What a worker records when it cannot go on with a run: a nondeterminism error, or the workflow's own code throwing (a
 * local activity resolved with another one's result). The server's own refusals of a task (a signal or an update that
 * arrived while the workflow completed it: `UnhandledCommand`, `UnhandledUpdate`) are ordinary: a new task follows.
 */
const STUCK_CAUSES = new Set([WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR, WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE]);

/**
 * Why the run is stuck, when its history shows a workflow task its worker failed (`STUCK_CAUSES`): the worker fails
 * every retry the same way. Undefined otherwise, also for a run whose tasks only time out on a loaded machine: that
 * run is slow, not stuck.
 */
export async function stuckReason(client: Client, workflowId: string): Promise<string | undefined> {
  const { events } = await client.workflow.getHandle(workflowId).fetchHistory();
  const failed = (events ?? []).map((e) => e.workflowTaskFailedEventAttributes).find((a) => a?.cause != null && STUCK_CAUSES.has(a.cause));
  return failed ? `its workflow task failed (${WorkflowTaskFailedCause[failed.cause!]}): ${String(failed.failure?.message).slice(0, 300)}` : undefined;
}

/**
 * Tries `attempt` every 100 ms until it gives a value, or until the run is stuck (`stuckReason`, read every two
 * seconds). No wall-clock limit decides: a run that is only slow (a starved worker, tasks timing out) is waited for,
 * up to the test's own timeout.
 */
export async function untilDoneOrStuck<T>(client: Client, workflowId: string, attempt: () => Promise<T | null>): Promise<{ done: T } | { stuck: string }> {
  for (let i = 0; ; i++) {
    const done = await attempt();
    if (done !== null) return { done };
    if (i % 20 === 19) {
      const stuck = await stuckReason(client, workflowId);
      if (stuck !== undefined) return { stuck };
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** An activity the test did not expect the workflow to call: fails (non-retryable), and the workflow's turn with it. */
function unexpected(name: string): () => Promise<never> {
  return async () => {
    throw ApplicationFailure.nonRetryable(`the workflow called ${name}, which this test did not script`);
  };
}

/**
 * Every activity, each failing if called; a test spreads the ones it scripts over it. `satisfies Activities`: an
 * activity added to the worker and missing here, or one renamed, is a compile error.
 */
export const unscriptedActivities = {
  recordUserMessage: unexpected('recordUserMessage'),
  callModel: unexpected('callModel'),
  authorizeToolCall: unexpected('authorizeToolCall'),
  runDatabaseTool: unexpected('runDatabaseTool'),
  callUpstreamTool: unexpected('callUpstreamTool'),
  dispatchDeviceCommand: unexpected('dispatchDeviceCommand'),
  queueDeviceCommands: unexpected('queueDeviceCommands'),
  recordToolResult: unexpected('recordToolResult'),
  requestApproval: unexpected('requestApproval'),
  verifyApprovalDecision: unexpected('verifyApprovalDecision'),
  verifyDecisionAndQueue: unexpected('verifyDecisionAndQueue'),
  expireApproval: unexpected('expireApproval'),
  cancelApproval: unexpected('cancelApproval'),
  recordBreakerTrip: unexpected('recordBreakerTrip'),
  recordLocalDenial: unexpected('recordLocalDenial'),
  screenUserMessage: unexpected('screenUserMessage'),
  checkRateLimits: unexpected('checkRateLimits'),
  reserveBudget: unexpected('reserveBudget'),
  releaseBudget: unexpected('releaseBudget'),
  verifyMessageRequest: unexpected('verifyMessageRequest'),
  admitUserMessage: unexpected('admitUserMessage'),
  verifyToolCallRequest: unexpected('verifyToolCallRequest'),
  verifyBreakerReset: unexpected('verifyBreakerReset'),
  verifyRemediationControl: unexpected('verifyRemediationControl'),
  verifyCanaryDecision: unexpected('verifyCanaryDecision'),
  readCanaryChecks: unexpected('readCanaryChecks'),
  refuseUnverifiedRequest: unexpected('refuseUnverifiedRequest'),
  readCommandOutcomes: unexpected('readCommandOutcomes'),
  readCopilotPaused: unexpected('readCopilotPaused'),
  readRemediationDevices: unexpected('readRemediationDevices'),
  requestTerminalApproval: unexpected('requestTerminalApproval'),
  verifyTerminalDecision: unexpected('verifyTerminalDecision'),
  expireTerminalApproval: unexpected('expireTerminalApproval'),
  cancelTerminalApproval: unexpected('cancelTerminalApproval'),
  readTerminalGrant: unexpected('readTerminalGrant'),
  endTerminalGrant: unexpected('endTerminalGrant'),
} satisfies Activities;

/** A small seeded generator (mulberry32): a test's random delays and signals are drawn the same way every run. */
export function seededRandom(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n: number) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n);
  };
}
