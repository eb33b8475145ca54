/**
 * The `remediation` workflow on a real Temporal dev server with scripted activities: pause, resume and cancel as
 * people steer it (each a request the api recorded, checked by an activity), with device results arriving by
 * signal as the api sends them. The full-system tests (`remediation*.int.test.ts`) cover the seams: agents, the
 * database, worker restarts.
 */
import crypto from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../activities';
import { deviceCommandId } from '../common/ids';
import type { CommandOutcome } from '../common/session';
import { eventually, startWorkflowEnv, unscriptedActivities, workerWith, stopWorkflowEnv } from '../test/workflow-env';
import { remediationControlRequestUpdate, remediationProgressQuery, commandResultsSignal, type RemediationProgress } from './definitions';
import type { remediation } from './remediation';

const ORG = crypto.randomUUID();
const ADMIN = crypto.randomUUID();
const DEVICES = Array.from({ length: 5 }, () => crypto.randomUUID());
const PREFIX = `${crypto.randomUUID()}:call-1`;

let testEnv: TestWorkflowEnvironment;
beforeAll(async () => {
  testEnv = await startWorkflowEnv();
}, 60_000);
afterAll(async () => {
  await stopWorkflowEnv(testEnv);
});

/** The database, as the activities would read it: the batches queued, and the control requests the api recorded. */
function scriptedRemediation() {
  const queued: string[] = [];
  const controls = new Map<string, 'pause' | 'resume' | 'cancel'>();
  const activities: Activities = {
    ...unscriptedActivities,
    queueDeviceCommands: async (input) => {
      queued.push(...input.commands.map((c) => c.deviceId));
      return { kind: input.kind, params: input.params, commands: input.commands, settled: [] };
    },
    // The rows agree with what the result signal claims (the test is the agents).
    readCommandOutcomes: async ({ claims }) => ({ outcomes: claims }),
    verifyRemediationControl: async ({ requestId }) => {
      const action = controls.get(requestId);
      return action ? { ok: true, action, userId: ADMIN } : { ok: false, reason: 'no such request' };
    },
  };
  /** An admin's pause, resume or cancel, recorded by the api and sent as the update carrying its id. */
  const control = async (h: WorkflowHandle, action: 'pause' | 'resume' | 'cancel') => {
    const requestId = crypto.randomUUID();
    controls.set(requestId, action);
    return h.executeUpdate(remediationControlRequestUpdate, { args: [{ requestId }] });
  };
  return { activities, queued, control };
}

const progress = (h: WorkflowHandle) => h.query(remediationProgressQuery);
const report = (h: WorkflowHandle, deviceId: string, status: CommandOutcome) =>
  h.signal(commandResultsSignal, { results: [{ commandId: deviceCommandId(PREFIX, deviceId), status }] });
const [d1, d2, d3, d4, d5] = DEVICES as [string, string, string, string, string];

it('starts no device while paused, goes on when resumed, and never starts the rest once cancelled', async () => {
  const world = scriptedRemediation();
  const { worker, taskQueue } = await workerWith(testEnv, world.activities);
  await worker.runUntil(async () => {
    const h = await testEnv.client.workflow.start<typeof remediation>('remediation', {
      taskQueue,
      workflowId: `copilot:${ORG}:${crypto.randomUUID()}:remediation:toolu_1`,
      args: [{ orgId: ORG, devices: DEVICES, kind: 'manage_service', params: { service: 'Spooler', action: 'restart' }, batchSize: 2, maxFailures: 2, invocationId: PREFIX }],
    });
    await eventually(() => world.queued, (q) => q.length === 2, 'the first two devices to start');

    // Paused: the devices running finish, and none starts in their place, though the window has room.
    expect(await world.control(h, 'pause')).toEqual({ applied: true });
    await report(h, d1, 'succeeded');
    expect(await eventually(() => progress(h), (p) => p.devices[d1] === 'succeeded', 'the first result to count')).toMatchObject({ state: 'paused', running: 1 });
    await report(h, d2, 'succeeded');
    expect(await eventually(() => progress(h), (p) => p.devices[d2] === 'succeeded', 'the second result to count')).toMatchObject({ state: 'paused', running: 0, succeeded: 2 });
    await new Promise((r) => setTimeout(r, 300));
    expect(world.queued).toEqual([d1, d2]);

    // A control request the api never recorded is refused and changes nothing.
    expect(await h.executeUpdate(remediationControlRequestUpdate, { args: [{ requestId: crypto.randomUUID() }] })).toEqual({ applied: false, reason: 'no such request' });
    expect((await progress(h)).state).toBe('paused');

    expect(await world.control(h, 'resume')).toEqual({ applied: true });
    await eventually(() => world.queued, (q) => q.length === 4, 'the next two devices to start');
    expect(world.queued).toEqual([d1, d2, d3, d4]);

    // Cancelled with two devices running: they finish; the last never starts, and a resume cannot undo the cancel.
    expect(await world.control(h, 'cancel')).toEqual({ applied: true });
    expect(await world.control(h, 'resume')).toEqual({ applied: true });
    expect(await progress(h)).toMatchObject({ state: 'cancelled', running: 2 });
    await report(h, d3, 'succeeded');
    await report(h, d4, 'failed');
    // The commands are the invocation's rows (ids derived from it and each device); the last device has none.
    expect(await h.result()).toEqual({ commandsInRecord: true, succeeded: 3, failed: 1, skipped: 0, cancelled: 1, stoppedAtThreshold: false });
    expect(world.queued).toEqual([d1, d2, d3, d4]);
    const final: RemediationProgress = await progress(h);
    expect(final).toMatchObject({ state: 'cancelled', running: 0, cancelled: 1, devicesInRecord: true });
    expect(final.devices).toEqual({ [d1]: 'succeeded', [d2]: 'succeeded', [d3]: 'succeeded', [d4]: 'failed' });
    expect(final.devices[d5]).toBeUndefined();
  });
});

it('reads 2,500 approved devices from the record a page per run, and carries only a cursor and counts across continue-as-new', async () => {
  const fleet = Array.from({ length: 2500 }, () => crypto.randomUUID());
  const invocationId = `${crypto.randomUUID()}:call-2`;
  const queued: string[] = [];
  const pages: { offset: number; limit: number }[] = [];
  const activities: Activities = {
    ...unscriptedActivities,
    readRemediationDevices: async ({ invocationId: asked, offset, limit }) => {
      expect(asked).toBe(invocationId);
      pages.push({ offset, limit });
      return { devices: fleet.slice(offset, offset + limit), total: fleet.length };
    },
    // Every device's command ends as soon as it is queued (the rows say so).
    queueDeviceCommands: async (input) => {
      queued.push(...input.commands.map((c) => c.deviceId));
      return { kind: input.kind, params: input.params, commands: input.commands, settled: input.commands.map((c) => ({ commandId: c.commandId, status: 'succeeded' as const })) };
    },
  };
  const { worker, taskQueue } = await workerWith(testEnv, activities);
  const workflowId = `copilot:${ORG}:${crypto.randomUUID()}:remediation:toolu_2`;
  await worker.runUntil(async () => {
    const h = await testEnv.client.workflow.start<typeof remediation>('remediation', {
      taskQueue,
      workflowId,
      args: [{ orgId: ORG, devices: [], deviceCount: fleet.length, kind: 'manage_service', params: { service: 'Spooler', action: 'restart' }, batchSize: 50, maxFailures: 0, invocationId }],
    });
    expect(await h.result()).toEqual({ commandsInRecord: true, succeeded: 2500, failed: 0, skipped: 0, cancelled: 0, stoppedAtThreshold: false });
    expect(queued).toEqual(fleet);
    expect(pages).toEqual([0, 1000, 2000].map((offset) => ({ offset, limit: 1000 })));

    // Three runs; what each starts from and hands on is the same few hundred bytes, whatever the fleet's size.
    const inputs: number[] = [];
    let runId: string | undefined = h.firstExecutionRunId;
    while (runId) {
      const events: temporal.api.history.v1.IHistoryEvent[] = (await testEnv.client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
      const bytes = (p?: { payloads?: { data?: Uint8Array | null }[] | null } | null) => (p?.payloads ?? []).reduce((n, x) => n + (x.data?.length ?? 0), 0);
      inputs.push(bytes(events[0]?.workflowExecutionStartedEventAttributes?.input));
      runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    }
    expect(inputs).toHaveLength(3);
    for (const size of inputs) expect(size).toBeLessThan(1500);
  });
}, 120_000);
