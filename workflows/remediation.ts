/**
 * `remediation`: one command over many devices, `batchSize` at a time (a sliding window: a new device starts as
 * soon as one finishes). Once more than `maxFailures` devices have failed, no new device starts; those already
 * running finish. Each device's command id is derived from the remediation's id and the device, so a retried or
 * replayed start never runs twice.
 *
 * Devices start in batches: one `queueDeviceCommands` activity queues every device that can start now, and the api
 * tells the workflow how commands ended with the `remediationResults` signal, several results per signal when
 * they arrive together. A thousand devices cost a few hundred activities and signals, not a thousand of each.
 *
 * Anyone who reaches Temporal can signal it, so no payload is believed. A result signal is only a hint: how the
 * commands ended is read from their `DeviceCommand` rows, and a claim the rows contradict is audited. People steer
 * it through the `remediationControlRequest` update, which carries the id of the request the api recorded, checked
 * by an activity before it counts: pause (running devices finish, none starts until resumed), resume (never while
 * an admin has paused the org's copilot), cancel (the devices not started never are). Progress is readable
 * with the `remediationProgress` query. A long run continues as new every DEVICES_PER_RUN devices (sooner if
 * Temporal suggests it), once the devices in flight have finished, carrying its progress, so the history stays
 * small whatever the fleet size. A run's history grows by less than one event per device: a run of a thousand
 * devices replays in milliseconds, and continuing as new less often spares the window its drains (and Temporal's
 * back-off for a run that continues as new within a second of its start).
 */
import { condition, continueAsNew, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { RemediationControl, RemediationResults, WorkflowRequestRef, type CommandOutcome } from '../common/session';
import { deviceCommandId } from '../common/ids';
import { countOutcome } from '../common/remediation-progress';
import { db, local } from './activities';
import { remediationControlRequestUpdate, remediationControlSignal, remediationProgressQuery, remediationResultsSignal } from './definitions';
import { finish, initialProgress, MAX_STARTS_PER_RUN, obeyControl, type RemediationInput, type RemediationResult } from './remediation-state';
import { remediationV1 } from './remediation-v1';

export type { RemediationInput, RemediationResult } from './remediation-state';

// Result signals as hints (outcomes read from the rows), and control only through recorded requests: every run
// from now on; runs of older histories replay as they ran.
const RESULTS_FROM_ROWS_PATCH = 'remediation-results-from-rows';
const UNVERIFIED_CONTROL_PATCH = 'remediation-refuse-unverified-control';

/** Devices one run starts before it continues as new. */
export const DEVICES_PER_RUN = 1000;

export async function remediation(input: RemediationInput): Promise<RemediationResult> {
  // Histories recorded before devices started in batches replay with the code that made them.
  if (!patched('remediation-batched-devices')) return remediationV1(input);

  const progress = initialProgress(input);
  const { workflowId } = workflowInfo();
  setHandler(remediationProgressQuery, () => progress);
  setHandler(remediationControlSignal, async (raw) => {
    const control = RemediationControl.safeParse(raw);
    if (!control.success) return;
    if (!patched(UNVERIFIED_CONTROL_PATCH)) return obeyControl(progress, raw);
    // Refused either way; a failure to audit it must not fail the remediation (a signal handler's failure would).
    await db.refuseUnverifiedRequest({ orgId: input.orgId, workflowId, target: input.commandPrefix, kind: `remediation_${control.data.action}`, claimedUserId: control.data.by }).catch(() => undefined);
  });
  setHandler(
    remediationControlRequestUpdate,
    async (ref) => {
      const verdict = await db.verifyRemediationControl({ orgId: input.orgId, workflowId, invocationId: input.commandPrefix, requestId: ref.requestId });
      if (!verdict.ok) return { applied: false, reason: verdict.reason };
      obeyControl(progress, { action: verdict.action, by: verdict.userId });
      return { applied: true };
    },
    { validator: (ref) => void WorkflowRequestRef.parse(ref) },
  );

  const queue = [...input.devices];
  const commandIds: string[] = [...(input.carried?.commandIds ?? [])];
  /** Devices started and not finished, by command id. */
  const running = new Map<string, string>();
  let finished = 0;
  const settle = (commandId: string, status: CommandOutcome) => {
    const deviceId = running.get(commandId);
    if (!deviceId) return; // not ours, or told already (a result can come both by signal and from a retried queue)
    running.delete(commandId);
    finished += 1;
    progress.running -= 1;
    countOutcome(progress, status);
    progress.devices[deviceId] = status;
    if (progress.failed > input.maxFailures) progress.stoppedAtThreshold = true;
  };
  /** Commands a result signal says ended, with the claimed outcome, until their rows are read. */
  const hinted = new Map<string, CommandOutcome>();
  setHandler(remediationResultsSignal, (raw) => {
    const parsed = RemediationResults.safeParse(raw);
    if (!parsed.success) return;
    // Histories from before results were read from the database settled on the signal's word.
    if (!patched(RESULTS_FROM_ROWS_PATCH)) return parsed.data.results.forEach((r) => settle(r.commandId, r.status));
    for (const r of parsed.data.results) if (running.has(r.commandId)) hinted.set(r.commandId, r.status);
  });
  const readHinted = async () => {
    const claims = [...hinted].map(([commandId, status]) => ({ commandId, status }));
    hinted.clear();
    const { outcomes } = await local.readCommandOutcomes({ orgId: input.orgId, reportTo: workflowId, invocationId: input.commandPrefix, claims });
    for (const o of outcomes) settle(o.commandId, o.status);
  };

  // Runs that began before runs grew to a thousand devices replay with the length they had.
  const devicesPerRun = patched('remediation-runs-of-1000') ? DEVICES_PER_RUN : MAX_STARTS_PER_RUN;
  // Batches are queued by a local activity, in the workflow task that decides them; histories from before, by an
  // activity.
  const queueDeviceCommands = patched('remediation-local-queue') ? local.queueDeviceCommands : db.queueDeviceCommands;

  // Batches being queued: a new batch starts whenever slots free up, without waiting for the last to be queued.
  const queueing = new Set<Promise<void>>();
  let failure: unknown;
  const queueBatch = (commands: { commandId: string; deviceId: string }[]) => {
    // Results may arrive by signal before this returns; those settled already (a retry) come back here.
    const p: Promise<void> = queueDeviceCommands({ orgId: input.orgId, kind: input.kind, params: input.params, reportTo: workflowInfo().workflowId, commands })
      .then(({ settled }) => settled.forEach((s) => settle(s.commandId, s.status)))
      .catch((err: unknown) => void (failure ??= err))
      .finally(() => queueing.delete(p));
    queueing.add(p);
  };

  let startedThisRun = 0;
  const runIsFull = () => startedThisRun >= devicesPerRun || workflowInfo().continueAsNewSuggested;
  const canStart = () => progress.state === 'running' && !progress.stoppedAtThreshold && running.size < input.batchSize && queue.length > 0 && !runIsFull();
  while (queue.length > 0 || running.size > 0) {
    if (progress.state === 'paused' && running.size === 0) {
      await condition(() => progress.state !== 'paused');
      continue;
    }
    const batch: { commandId: string; deviceId: string }[] = [];
    while (canStart()) {
      const deviceId = queue.shift()!;
      const commandId = deviceCommandId(input.commandPrefix, deviceId);
      batch.push({ commandId, deviceId });
      running.set(commandId, deviceId);
      commandIds.push(commandId);
      progress.devices[deviceId] = 'running';
      progress.running += 1;
      startedThisRun += 1;
    }
    if (batch.length > 0) queueBatch(batch);
    if (running.size === 0) {
      await condition(() => queueing.size === 0);
      if (failure) throw failure;
      if (progress.state === 'running' && !progress.stoppedAtThreshold && queue.length > 0) {
        // This run started its share and everything in flight finished: go on in a fresh history.
        await continueAsNew<typeof remediation>({ ...input, devices: queue, carried: { progress, commandIds } });
      }
      break;
    }
    const [finishedBefore, stateBefore] = [finished, progress.state];
    await condition(() => finished !== finishedBefore || progress.state !== stateBefore || failure !== undefined || hinted.size > 0);
    if (hinted.size > 0) await readHinted();
    // A batch that could not be queued after its retries fails the remediation, as a failed device command would.
    if (failure) throw failure;
  }
  return finish(progress, queue, commandIds);
}
