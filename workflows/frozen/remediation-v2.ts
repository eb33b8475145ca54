/**
 * The `remediation` workflow as it ran before its devices were read from the invocation's record a page per run:
 * the device list in its input, and every device's state (its progress, its command id) carried across continue-as-
 * new, about 150 bytes a device. Kept unchanged so that histories recorded with it replay deterministically;
 * `remediation` runs it for any history with the `remediation-batched-devices` marker and without the
 * `remediation-devices-from-record` one. Remove it, and the patch, once no such history needs replaying.
 */
import { condition, continueAsNew, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { CommandResults, RemediationControl, WorkflowRequestRef, type CommandOutcome } from '../../common/session';
import { deviceCommandId } from '../../common/ids';
import { countOutcome } from '../../common/remediation-progress';
import { db, local } from '../activities';
import { CommandHints } from '../command-hints';
import { commandResultsSignal, remediationCanaryDecisionUpdate, remediationControlRequestUpdate, remediationControlSignal, remediationProgressQuery, remediationResultsSignal } from '../definitions';
import { readHintedOutcomes } from '../device-commands';
import { Patch } from '../patches';
import { holdBackForCanary, runCanarySteps, verifyCanary } from '../remediation-canary';
import { finish, initialProgress, invocationIdOf, MAX_STARTS_PER_RUN, obeyControl, type RemediationInput, type RemediationResult } from '../remediation-state';

const DEVICES_PER_RUN = 1000;

export async function remediationV2(input: RemediationInput): Promise<RemediationResult> {
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
    // Failures of canaries an approver chose to go on past do not count against the threshold.
    if (progress.failed - (progress.canary?.forgivenFailures ?? 0) > input.maxFailures) progress.stoppedAtThreshold = true;
  };
  /** A canary's read-back or undo commands being waited for (not devices of the run: they change no count). */
  const stepsRunning = new Map<string, string>();
  const hints = new CommandHints((commandId) => running.has(commandId) || stepsRunning.has(commandId));
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

  // A canary (in runs since the patch, and only in the first run: a continued run is past it) holds the others back.
  const canary = input.canary && !input.carried && patched(Patch.RemediationCanary) ? input.canary : undefined;
  let heldBack: string[] = [];
  if (canary) heldBack = holdBackForCanary(progress, queue, canary);
  const inCanaryStage = () => progress.canary !== undefined && progress.canary.state !== 'passed' && heldBack.length > 0;

  let startedThisRun = 0;
  // The canary stage never continues as new: the devices held back are part of this run's state.
  const runIsFull = () => !inCanaryStage() && (startedThisRun >= devicesPerRun || workflowInfo().continueAsNewSuggested);
  const canStart = () => progress.state === 'running' && !progress.stoppedAtThreshold && running.size < input.batchSize && queue.length > 0 && !runIsFull();
  let decided: { decision: 'continue' | 'cancel' | 'rollback'; by: string } | undefined;
  if (canary) {
    setHandler(
      remediationCanaryDecisionUpdate,
      async (ref) => {
        if (progress.state !== 'canary-failed' || decided) return { applied: false, reason: 'the remediation is not waiting for a canary decision' };
        const verdict = await db.verifyCanaryDecision({ orgId: input.orgId, workflowId, invocationId, requestId: ref.requestId });
        if (!verdict.ok) return { applied: false, reason: verdict.reason };
        // Checked again: the state may have moved (a cancel) while the activity ran.
        if (progress.state !== 'canary-failed' || decided) return { applied: false, reason: 'the remediation is not waiting for a canary decision' };
        if (verdict.decision === 'rollback' && !canary.undo) return { applied: false, reason: 'this action declares no undo: it cannot be rolled back' };
        decided = { decision: verdict.decision, by: verdict.userId };
        return { applied: true };
      },
      { validator: (ref) => void WorkflowRequestRef.parse(ref) },
    );
  }
  /** Runs a canary step's commands and waits for their outcomes, reading hinted results as the main loop does. */
  const stepsOf = (step: 'check' | 'undo', command: { kind: RemediationInput['kind']; params: Record<string, unknown> }, devices: string[]) =>
    runCanarySteps({ orgId: input.orgId, invocationId, reportTo: workflowId, hints, stepsRunning }, step, command, devices);

  // Read through a function: the state changes in handlers while the workflow awaits.
  const isCancelled = () => progress.state === 'cancelled';
  for (;;) {
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
          await continueAsNew<typeof remediationV2>({ ...input, devices: queue, carried: { progress, commandIds } });
        }
        break;
      }
      const [finishedBefore, stateBefore] = [finished, progress.state];
      await condition(() => finished !== finishedBefore || progress.state !== stateBefore || failure !== undefined || hints.size > 0);
      if (hints.size > 0) for (const o of await readHintedOutcomes(input.orgId, invocationId, hints)) settle(o.commandId, o.status);
      // A batch that could not be queued after its retries fails the remediation, as a failed device command would.
      if (failure) throw failure;
    }
    if (!canary || !inCanaryStage() || progress.state === 'cancelled') break;

    // The canaries have finished: nothing starts while paused, then their read-back decides.
    await condition(() => progress.state !== 'paused');
    if (isCancelled()) break;
    const failures = await verifyCanary({ orgId: input.orgId, invocationId, reportTo: workflowId, progress, canary }, stepsOf);
    if (failures.length === 0) {
      progress.canary!.state = 'passed';
      queue.push(...heldBack.splice(0));
      continue;
    }
    progress.canary!.state = 'failed';
    progress.canary!.failures = failures;
    if (isCancelled()) break; // cancelled while the read-back ran
    progress.state = 'canary-failed';
    await condition(() => decided !== undefined || progress.state !== 'canary-failed');
    if (!decided) break; // cancelled through the usual control
    progress.canary!.decision = decided;
    if (decided.decision === 'continue') {
      progress.state = 'running';
      progress.canary!.forgivenFailures = progress.failed;
      progress.stoppedAtThreshold = false;
      queue.push(...heldBack.splice(0));
      continue;
    }
    progress.state = 'cancelled';
    if (decided.decision === 'rollback') progress.canary!.undone = await stepsOf('undo', canary.undo!, canary.devices);
    break;
  }
  return finish(progress, [...queue, ...heldBack], commandIds);
}
