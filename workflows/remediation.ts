/**
 * `remediation`: one command over many devices, `batchSize` at a time (a sliding window: a new device starts as
 * soon as one finishes). Once more than `maxFailures` devices have failed, no new device starts; those already
 * running finish. Each device's command id is derived from the remediation's id and the device, so a retried or
 * replayed start never runs twice.
 *
 * The devices are the ones authorization recorded on the invocation (and the approval's digest binds): a run reads
 * one page of that list (`readRemediationDevices`, a local activity) and starts its devices; the next run reads the
 * next page. No signal or update can name a device. What continues as new is the counts and a cursor into the list,
 * the same few hundred bytes for ten devices or fifty thousand (the device list of 10,000 would be 390 KB, past
 * Temporal's 256 KB payload warning). Each device's status is its command's row; this run's devices are also in the
 * `remediationProgress` query, for the devices it holds.
 *
 * Devices start in batches on the one command path (./device-commands.ts): one `queueDeviceCommands` local activity
 * queues every device that can start now, and the api tells the workflow that commands ended with the
 * `commandResults` signal, several per signal when they arrive together.
 *
 * Anyone who reaches Temporal can signal it, so no payload is believed. A result signal is only a hint: how the
 * commands ended is read from their `DeviceCommand` rows. People steer it through the `remediationControlRequest`
 * update, which carries the id of the request the api recorded, checked by an activity before it counts: pause
 * (running devices finish, none starts until resumed), resume (never while an admin has paused the org's copilot),
 * cancel (the devices not started never are).
 *
 * Which local activity comes next must not depend on how the worker groups signals and local activities' results into
 * activations: a local activity's result is recorded with the workflow task that ends first, and a query answered
 * while one finishes ends a task before the workflow has seen the result, so the live run sees that result together
 * with the signals of the next task while a replay sees it a task earlier, before them; and a replay delivers the
 * signals of a workflow task that timed out together with the next task's, where the live run had already acted on
 * the first ones. Since `Patch.HintsReadWhenIdle` the batch being queued is awaited and hinted results are read only
 * when nothing else is in flight and no device can start, counting only hints for commands still awaited, and a hint
 * stays until its command is settled (a read may claim more hints in a replay than it did live; only its recorded
 * result counts): the two runs then hold the same hints whenever the next local activity is decided.
 *
 * With a canary (./remediation-canary.ts), its devices run first and no page of the others is read until every
 * canary passed its read-back. A failure leaves the run in `canary-failed`, starting nothing, until an approver's
 * decision arrives through the `remediationCanaryDecision` update (a recorded request, checked by an activity like
 * a pause): continue, cancel, or roll back (the action's undo on the canaries; the others never start).
 */
import { condition, continueAsNew, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { CommandResults, RemediationControl, WorkflowRequestRef, type CommandOutcome } from '../common/session';
import { deviceCommandId } from '../common/ids';
import { countOutcome } from '../common/remediation-progress';
import { db, local } from './activities';
import { CommandHints } from './command-hints';
import { commandResultsSignal, remediationCanaryDecisionUpdate, remediationControlRequestUpdate, remediationControlSignal, remediationProgressQuery, remediationResultsSignal } from './definitions';
import { readHintedOutcomes, readKeptHints } from './device-commands';
import { remediationV1 } from './frozen/remediation-v1';
import { remediationV2 } from './frozen/remediation-v2';
import { Patch } from './patches';
import { runCanarySteps, startCanaryStage, verifyCanary } from './remediation-canary';
import { ApprovedDevices } from './remediation-devices';
import { finishCounted, invocationIdOf, obeyControl, progressOfRun, type RemediationInput, type RemediationResult } from './remediation-state';

export type { RemediationInput, RemediationResult } from './remediation-state';

/** Devices one run reads (one page of the approved list) and starts before it continues as new. */
export const DEVICES_PER_RUN = 1000;

export async function remediation(input: RemediationInput): Promise<RemediationResult> {
  // Histories recorded before devices started in batches, or before they were read from the record, replay with
  // the code that made them.
  if (!patched(Patch.RemediationBatches)) return remediationV1(input);
  if (!patched(Patch.RemediationDevicesFromRecord)) return remediationV2(input);

  // Asked first, at the same point of every replay: runs started before it read hints as they arrive.
  const readHintsWhenIdle = patched(Patch.HintsReadWhenIdle);
  const progress = progressOfRun(input);
  const { workflowId } = workflowInfo();
  const invocationId = invocationIdOf(input);
  setHandler(remediationProgressQuery, () => progress);
  setHandler(remediationControlSignal, async (raw) => {
    const control = RemediationControl.safeParse(raw);
    if (!control.success) return;
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

  // A canary (only in the first run: a continued run is past it) runs before any page of the others is read.
  const canary = input.canary && !input.carried ? input.canary : undefined;
  const canaryQueue = canary ? startCanaryStage(progress, canary) : [];
  const devices = new ApprovedDevices(input, invocationId, DEVICES_PER_RUN, progress.canary?.devices ?? []);
  // Held back only while there are others to hold back (the canaries are among the approved devices).
  let holdingBack = canary !== undefined && devices.total > canaryQueue.length;
  if (!holdingBack) await devices.readPage();
  if (!input.carried) progress.total = devices.total;
  const queued = () => canaryQueue.length + devices.queued;

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
    // Failures of canaries an approver chose to go on past do not count against the threshold.
    if (progress.failed - (progress.canary?.forgivenFailures ?? 0) > input.maxFailures) progress.stoppedAtThreshold = true;
  };
  /** A canary's read-back or undo commands being waited for (not devices of the run: they change no count). */
  const stepsRunning = new Map<string, string>();
  const hints = new CommandHints((commandId) => running.has(commandId) || stepsRunning.has(commandId));
  setHandler(commandResultsSignal, hints.add);
  // The same hints under their older name (a result signal is only ever a hint here).
  setHandler(remediationResultsSignal, (raw) => {
    if (CommandResults.safeParse(raw).success) hints.add(raw);
  });

  // Batches being queued: a new batch starts whenever slots free up, without waiting for the last to be queued.
  const queueing = new Set<Promise<void>>();
  let failure: unknown;
  const queueBatch = (commands: { commandId: string; deviceId: string }[]) => {
    // Results may arrive by signal before this returns; those settled already (a retry) come back here.
    const p: Promise<void> = local
      .queueDeviceCommands({ orgId: input.orgId, kind: input.kind, params: input.params, reportTo: workflowId, commands })
      .then(({ settled }) => settled.forEach((s) => settle(s.commandId, s.status)))
      .catch((err: unknown) => void (failure ??= err))
      .finally(() => queueing.delete(p));
    queueing.add(p);
  };

  // The canary stage never continues as new: the canaries' outcomes are part of this run's state.
  const runIsFull = () => !holdingBack && workflowInfo().continueAsNewSuggested;
  const canStart = () => progress.state === 'running' && !progress.stoppedAtThreshold && running.size < input.batchSize && queued() > 0 && !runIsFull();
  const nextDevice = () => canaryQueue.shift() ?? devices.next();
  const decided = canary ? awaitCanaryDecision(input, workflowId, invocationId, progress, canary) : undefined;
  /** Runs a canary step's commands and waits for their outcomes, reading hinted results as the main loop does. */
  const stepsOf = (step: 'check' | 'undo', command: { kind: RemediationInput['kind']; params: Record<string, unknown> }, list: string[]) =>
    runCanarySteps({ orgId: input.orgId, invocationId, reportTo: workflowId, hints, stepsRunning, readHintsWhenIdle }, step, command, list);

  // Read through a function: the state changes in handlers while the workflow awaits.
  const isCancelled = () => progress.state === 'cancelled';
  for (;;) {
    while (queued() > 0 || running.size > 0 || (!holdingBack && devices.beyondPage)) {
      if (progress.state === 'paused' && running.size === 0) {
        await condition(() => progress.state !== 'paused');
        continue;
      }
      const batch: { commandId: string; deviceId: string }[] = [];
      while (canStart()) {
        const deviceId = nextDevice()!;
        const commandId = deviceCommandId(invocationId, deviceId);
        batch.push({ commandId, deviceId });
        running.set(commandId, deviceId);
        progress.devices[deviceId] = 'running';
        progress.running += 1;
      }
      if (batch.length > 0 && readHintsWhenIdle) {
        // Awaited: what comes next is decided on its result, with nothing else in flight. A batch that could not be
        // queued after its retries fails the remediation.
        const { settled } = await local.queueDeviceCommands({ orgId: input.orgId, kind: input.kind, params: input.params, reportTo: workflowId, commands: batch });
        for (const s of settled) settle(s.commandId, s.status);
        continue; // a command settled already frees its slot for the next device
      }
      if (batch.length > 0) queueBatch(batch);
      if (running.size === 0) {
        await condition(() => queueing.size === 0);
        if (failure) throw failure;
        if (progress.state === 'running' && !progress.stoppedAtThreshold && !holdingBack && (queued() > 0 || devices.beyondPage)) {
          // This run started its page and everything in flight finished: go on in a fresh history, carrying the
          // counts and where the next device is in the approved list (never the devices themselves).
          await continueAsNew<typeof remediation>({ ...input, carried: { progress: { ...progress, devices: {} }, cursor: devices.cursor } });
        }
        break;
      }
      if (readHintsWhenIdle) {
        // Nothing in flight and nothing to start: wait for a hint about a command still running, or a control.
        const stateBefore = progress.state;
        await condition(() => progress.state !== stateBefore || hints.pending() > 0);
        // The hints stay until their commands are settled: what the read claimed can differ in a replay.
        if (hints.pending() > 0) for (const o of await readKeptHints(input.orgId, invocationId, hints, () => progress.state !== stateBefore)) settle(o.commandId, o.status);
        continue;
      }
      const [finishedBefore, stateBefore] = [finished, progress.state];
      await condition(() => finished !== finishedBefore || progress.state !== stateBefore || failure !== undefined || hints.size > 0);
      if (hints.size > 0) for (const o of await readHintedOutcomes(input.orgId, invocationId, hints)) settle(o.commandId, o.status);
      // A batch that could not be queued after its retries fails the remediation, as a failed device command would.
      if (failure) throw failure;
    }
    if (!canary || !holdingBack || isCancelled()) break;

    // The canaries have finished: nothing starts while paused, then their read-back decides.
    await condition(() => progress.state !== 'paused');
    if (isCancelled()) break;
    const failures = await verifyCanary({ orgId: input.orgId, invocationId, reportTo: workflowId, progress, canary }, stepsOf);
    if (failures.length === 0) {
      progress.canary!.state = 'passed';
      holdingBack = false;
      await devices.readPage();
      continue;
    }
    progress.canary!.state = 'failed';
    progress.canary!.failures = failures;
    if (isCancelled()) break; // cancelled while the read-back ran
    progress.state = 'canary-failed';
    const decision = await decided!.wait();
    if (!decision) break; // cancelled through the usual control
    progress.canary!.decision = decision;
    if (decision.decision === 'continue') {
      progress.state = 'running';
      progress.canary!.forgivenFailures = progress.failed;
      progress.stoppedAtThreshold = false;
      holdingBack = false;
      await devices.readPage();
      continue;
    }
    progress.state = 'cancelled';
    if (decision.decision === 'rollback') progress.canary!.undone = await stepsOf('undo', canary.undo!, canary.devices);
    break;
  }
  return finishCounted(progress);
}

/**
 * The `remediationCanaryDecision` update: an approver's decision after a failed canary, applied only once its
 * recorded request is checked by an activity. `wait()` resolves with it, or undefined once the run was cancelled.
 */
function awaitCanaryDecision(input: RemediationInput, workflowId: string, invocationId: string, progress: ReturnType<typeof progressOfRun>, canary: NonNullable<RemediationInput['canary']>) {
  let decided: { decision: 'continue' | 'cancel' | 'rollback'; by: string } | undefined;
  const notWaiting = { applied: false, reason: 'the remediation is not waiting for a canary decision' } as const;
  setHandler(
    remediationCanaryDecisionUpdate,
    async (ref) => {
      if (progress.state !== 'canary-failed' || decided) return notWaiting;
      const verdict = await db.verifyCanaryDecision({ orgId: input.orgId, workflowId, invocationId, requestId: ref.requestId });
      if (!verdict.ok) return { applied: false, reason: verdict.reason };
      // Checked again: the state may have moved (a cancel) while the activity ran.
      if (progress.state !== 'canary-failed' || decided) return notWaiting;
      if (verdict.decision === 'rollback' && !canary.undo) return { applied: false, reason: 'this action declares no undo: it cannot be rolled back' };
      decided = { decision: verdict.decision, by: verdict.userId };
      return { applied: true };
    },
    { validator: (ref) => void WorkflowRequestRef.parse(ref) },
  );
  return {
    async wait() {
      await condition(() => decided !== undefined || progress.state !== 'canary-failed');
      return decided;
    },
  };
}
