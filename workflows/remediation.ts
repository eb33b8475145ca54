/**
 * `remediation`: one command over many devices, `batchSize` at a time (a sliding window: a new device starts as
 * soon as one finishes). Once more than `maxFailures` devices have failed, no new device starts; those already
 * running finish. Each device's command id is derived from the remediation's id and the device, so a retried or
 * replayed start never runs twice.
 *
 * Devices start in batches on the one command path (./device-commands.ts): one `queueDeviceCommands` local activity
 * queues every device that can start now, and the api tells the workflow that commands ended with the
 * `commandResults` signal, several per signal when they arrive together. A thousand devices cost a few hundred
 * markers and signals, not a thousand of each.
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
import { CommandResults, RemediationControl, WorkflowRequestRef, type CommandOutcome } from '../common/session';
import { deviceCommandId } from '../common/ids';
import { countOutcome } from '../common/remediation-progress';
import { db, local } from './activities';
import { CommandHints } from './command-hints';
import { commandResultsSignal, remediationControlRequestUpdate, remediationControlSignal, remediationProgressQuery, remediationResultsSignal } from './definitions';
import { readHintedOutcomes } from './device-commands';
import { remediationV1 } from './frozen/remediation-v1';
import { Patch } from './patches';
import { finish, initialProgress, invocationIdOf, MAX_STARTS_PER_RUN, obeyControl, type RemediationInput, type RemediationResult } from './remediation-state';

export type { RemediationInput, RemediationResult } from './remediation-state';

/** Devices one run starts before it continues as new. */
export const DEVICES_PER_RUN = 1000;

export async function remediation(input: RemediationInput): Promise<RemediationResult> {
  // Histories recorded before devices started in batches replay with the code that made them.
  if (!patched(Patch.RemediationBatches)) return remediationV1(input);

  const progress = initialProgress(input);
  const { workflowId } = workflowInfo();
  const invocationId = invocationIdOf(input);
  setHandler(remediationProgressQuery, () => progress);
  setHandler(remediationControlSignal, async (raw) => {
    const control = RemediationControl.safeParse(raw);
    if (!control.success) return;
    if (!patched(Patch.RefuseUnverifiedControl)) return obeyControl(progress, raw);
    // Refused either way; a failure to audit it must not fail the remediation (a signal handler's failure would).
    await db.refuseUnverifiedRequest({ orgId: input.orgId, workflowId, target: invocationId, kind: `remediation_${control.data.action}`, claimedUserId: control.data.by }).catch(() => undefined);
  });
  setHandler(
    remediationControlRequestUpdate,
    async (ref) => {
      const verdict = await db.verifyRemediationControl({ orgId: input.orgId, workflowId, invocationId, requestId: ref.requestId });
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
  const hints = new CommandHints((commandId) => running.has(commandId));
  setHandler(commandResultsSignal, hints.add);
  // The same hints under their older name, as histories recorded before every command took one path carry them;
  // the oldest of those settled on the signal's word.
  setHandler(remediationResultsSignal, (raw) => {
    const parsed = CommandResults.safeParse(raw);
    if (!parsed.success) return;
    if (!patched(Patch.ResultsFromRows)) return parsed.data.results.forEach((r) => settle(r.commandId, r.status));
    hints.add(raw);
  });

  // Runs that began before runs grew to a thousand devices replay with the length they had.
  const devicesPerRun = patched(Patch.RemediationRunsOf1000) ? DEVICES_PER_RUN : MAX_STARTS_PER_RUN;
  // Batches are queued by a local activity, in the workflow task that decides them; histories from before, by an
  // activity.
  const queueDeviceCommands = patched(Patch.RemediationLocalQueue) ? local.queueDeviceCommands : db.queueDeviceCommands;

  // Batches being queued: a new batch starts whenever slots free up, without waiting for the last to be queued.
  const queueing = new Set<Promise<void>>();
  let failure: unknown;
  const queueBatch = (commands: { commandId: string; deviceId: string }[]) => {
    // Results may arrive by signal before this returns; those settled already (a retry) come back here.
    const p: Promise<void> = queueDeviceCommands({ orgId: input.orgId, kind: input.kind, params: input.params, reportTo: workflowId, commands })
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
      const commandId = deviceCommandId(invocationId, deviceId);
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
    await condition(() => finished !== finishedBefore || progress.state !== stateBefore || failure !== undefined || hints.size > 0);
    if (hints.size > 0) for (const o of await readHintedOutcomes(input.orgId, invocationId, hints)) settle(o.commandId, o.status);
    // A batch that could not be queued after its retries fails the remediation, as a failed device command would.
    if (failure) throw failure;
  }
  return finish(progress, queue, commandIds);
}
