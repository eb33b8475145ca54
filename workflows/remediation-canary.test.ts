/**
 * The canary stage of the `remediation` workflow on a real Temporal dev server with scripted activities: the other
 * devices wait while the canaries run and are checked; a failed check waits for a decision, which comes only as a
 * recorded request (checked by an activity); a continue lets the rest run past the failure threshold the canary's
 * failure crossed; a cancel through the usual control ends the wait with nothing more started. The full-system
 * test (`remediation-canary.int.test.ts`) covers agents, the database and the api.
 */
import crypto from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../activities';
import { canaryCommandId, deviceCommandId } from '../common/ids';
import type { CanaryPlan } from '../common/tools';
import { eventually, startWorkflowEnv, unscriptedActivities, workerWith, stopWorkflowEnv } from '../test/workflow-env';
import { commandResultsSignal, remediationCanaryDecisionUpdate, remediationControlRequestUpdate, remediationProgressQuery } from './definitions';
import type { remediation } from './remediation';

const ORG = crypto.randomUUID();
const APPROVER = crypto.randomUUID();
const DEVICES = Array.from({ length: 4 }, () => crypto.randomUUID());
const [c1, d2, d3, d4] = DEVICES as [string, string, string, string];
const CANARY: CanaryPlan = {
  devices: [c1],
  check: { kind: 'manage_service', params: { service: 'Spooler', action: 'status' }, expect: { service: 'Spooler', status: 'Running' } },
  undo: { kind: 'manage_service', params: { service: 'Spooler', action: 'stop' } },
};

let testEnv: TestWorkflowEnvironment;
beforeAll(async () => {
  testEnv = await startWorkflowEnv();
}, 60_000);
afterAll(async () => {
  await stopWorkflowEnv(testEnv);
});

/** The database as the activities read it: commands queued (by id), the canary's verdict, and recorded requests. */
function scripted(invocationId: string, canaryPasses: boolean) {
  const queued: string[] = [];
  const requests = new Map<string, string>();
  const activities: Activities = {
    ...unscriptedActivities,
    queueDeviceCommands: async (input) => {
      queued.push(...input.commands.map((c) => c.commandId));
      return { kind: input.kind, params: input.params, commands: input.commands, settled: [] };
    },
    readCommandOutcomes: async ({ claims }) => ({ outcomes: claims }),
    // The approved devices as authorization recorded them on the invocation.
    readRemediationDevices: async ({ offset, limit }) => ({ devices: DEVICES.slice(offset, offset + limit), total: DEVICES.length }),
    readCanaryChecks: async ({ devices }) => ({ checks: devices.map((deviceId) => (canaryPasses ? { deviceId, passed: true } : { deviceId, passed: false, reason: 'service Spooler is stopped after the action, not running' })) }),
    verifyCanaryDecision: async ({ requestId }) => {
      const kind = requests.get(requestId);
      return kind?.startsWith('canary_') ? { ok: true, userId: APPROVER, decision: kind.replace('canary_', '') as 'continue' } : { ok: false, reason: 'no such request' };
    },
    verifyRemediationControl: async ({ requestId }) => (requests.get(requestId) === 'cancel' ? { ok: true, userId: APPROVER, action: 'cancel' } : { ok: false, reason: 'no such request' }),
  };
  const record = (kind: string) => {
    const id = crypto.randomUUID();
    requests.set(id, kind);
    return id;
  };
  const report = (h: WorkflowHandle, commandId: string, status: 'succeeded' | 'failed') => h.signal(commandResultsSignal, { results: [{ commandId, status }] });
  const runIds = (...devices: string[]) => devices.map((d) => deviceCommandId(invocationId, d));
  return { activities, queued, record, report, runIds };
}

/** Its devices on the record (as authorization leaves them since remediations read them there), or listed in its input. */
async function start(taskQueue: string, invocationId: string, devicesIn: 'record' | 'input' = 'record') {
  const devices = devicesIn === 'record' ? { devices: [], deviceCount: DEVICES.length } : { devices: DEVICES };
  return testEnv.client.workflow.start<typeof remediation>('remediation', {
    taskQueue,
    workflowId: `copilot:${ORG}:${crypto.randomUUID()}:remediation:toolu_1`,
    args: [{ orgId: ORG, ...devices, kind: 'manage_service', params: { service: 'Spooler', action: 'start' }, batchSize: 4, maxFailures: 0, invocationId, canary: CANARY }],
  });
}

it('holds the others back until the canary passes its check, then runs them with no one asked', async () => {
  const invocationId = `${crypto.randomUUID()}:call-1`;
  const world = scripted(invocationId, true);
  const { worker, taskQueue } = await workerWith(testEnv, world.activities);
  await worker.runUntil(async () => {
    const h = await start(taskQueue, invocationId);
    await eventually(() => world.queued, (q) => q.length === 1, 'the canary to start');
    expect(world.queued).toEqual(world.runIds(c1));
    await world.report(h, deviceCommandId(invocationId, c1), 'succeeded');
    await eventually(() => world.queued, (q) => q.length === 2, 'the read-back to start');
    expect(world.queued[1]).toBe(canaryCommandId(invocationId, 'check', c1));
    await world.report(h, canaryCommandId(invocationId, 'check', c1), 'succeeded');
    await eventually(() => world.queued, (q) => q.length === 5, 'the others to start');
    for (const d of [d2, d3, d4]) await world.report(h, deviceCommandId(invocationId, d), 'succeeded');
    expect(await h.result()).toMatchObject({ succeeded: 4, failed: 0, skipped: 0, commandsInRecord: true });
    // The canary ran once: the page of the others read from the record skips it.
    expect(world.queued).toEqual([...world.runIds(c1), canaryCommandId(invocationId, 'check', c1), ...world.runIds(d2, d3, d4)]);
    expect((await h.query(remediationProgressQuery)).canary).toMatchObject({ state: 'passed', failures: [] });
  });
});

it('waits after a failed canary; a forged decision changes nothing; a continue runs the rest past the threshold the canary crossed', async () => {
  const invocationId = `${crypto.randomUUID()}:call-2`;
  const world = scripted(invocationId, false);
  const { worker, taskQueue } = await workerWith(testEnv, world.activities);
  await worker.runUntil(async () => {
    const h = await start(taskQueue, invocationId, 'input');
    await eventually(() => world.queued, (q) => q.length === 1, 'the canary to start');
    // The canary's own command fails: past max_failures 0, but the canary's verdict decides what happens next.
    await world.report(h, deviceCommandId(invocationId, c1), 'failed');
    const failed = await eventually(() => h.query(remediationProgressQuery), (p) => p.state === 'canary-failed', 'the canary to fail');
    expect(failed.canary).toMatchObject({ state: 'failed', failures: [{ deviceId: c1 }], canRollBack: true });
    // No read-back for a device whose action failed; nothing else started.
    expect(world.queued).toEqual(world.runIds(c1));

    await expect(h.executeUpdate(remediationCanaryDecisionUpdate, { args: [{ requestId: 'not-a-uuid' }] })).rejects.toThrow();
    expect(await h.executeUpdate(remediationCanaryDecisionUpdate, { args: [{ requestId: crypto.randomUUID() }] })).toEqual({ applied: false, reason: 'no such request' });
    await new Promise((r) => setTimeout(r, 300));
    expect((await h.query(remediationProgressQuery)).state).toBe('canary-failed');
    expect(world.queued).toEqual(world.runIds(c1));

    expect(await h.executeUpdate(remediationCanaryDecisionUpdate, { args: [{ requestId: world.record('canary_continue') }] })).toEqual({ applied: true });
    await eventually(() => world.queued, (q) => q.length === 4, 'the others to start');
    for (const d of [d2, d3, d4]) await world.report(h, deviceCommandId(invocationId, d), 'succeeded');
    expect(await h.result()).toMatchObject({ succeeded: 3, failed: 1, skipped: 0, stoppedAtThreshold: false });
  });
});

it('ends the wait with nothing more started when cancelled through the usual control', async () => {
  const invocationId = `${crypto.randomUUID()}:call-3`;
  const world = scripted(invocationId, false);
  const { worker, taskQueue } = await workerWith(testEnv, world.activities);
  await worker.runUntil(async () => {
    const h = await start(taskQueue, invocationId);
    await eventually(() => world.queued, (q) => q.length === 1, 'the canary to start');
    await world.report(h, deviceCommandId(invocationId, c1), 'succeeded');
    await eventually(() => world.queued, (q) => q.length === 2, 'the read-back to start');
    await world.report(h, canaryCommandId(invocationId, 'check', c1), 'succeeded');
    await eventually(() => h.query(remediationProgressQuery), (p) => p.state === 'canary-failed', 'the canary to fail');
    expect(await h.executeUpdate(remediationControlRequestUpdate, { args: [{ requestId: world.record('cancel') }] })).toEqual({ applied: true });
    expect(await h.result()).toMatchObject({ succeeded: 1, cancelled: 3 });
    expect(world.queued).toEqual([deviceCommandId(invocationId, c1), canaryCommandId(invocationId, 'check', c1)]);
    // Too late to decide now.
    expect(await h.executeUpdate(remediationCanaryDecisionUpdate, { args: [{ requestId: world.record('canary_rollback') }] }).catch(() => ({ applied: false }))).toMatchObject({ applied: false });
  });
});
