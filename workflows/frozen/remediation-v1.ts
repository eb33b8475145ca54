/**
 * The `remediation` workflow as it ran before devices started in batches (one `dispatchDeviceCommand` activity
 * per device, completed by the api with the device's result). Kept unchanged so that histories recorded with it
 * replay deterministically (auditors replay them); `remediation` runs it for any history without the
 * `remediation-batched-devices` patch marker. Remove it, and the patch, once no such history needs replaying.
 */
import { condition, continueAsNew, setHandler } from '@temporalio/workflow';
import { deviceCommandId } from '../../common/ids';
import { device } from '../activities';
import { remediationControlSignal, remediationProgressQuery } from '../definitions';
import { finish, initialProgress, invocationIdOf, MAX_STARTS_PER_RUN, obeyControl, type RemediationInput, type RemediationResult } from '../remediation-state';

export async function remediationV1(input: RemediationInput): Promise<RemediationResult> {
  const progress = initialProgress(input);
  setHandler(remediationProgressQuery, () => progress);
  setHandler(remediationControlSignal, (raw) => obeyControl(progress, raw));
  const queue = [...input.devices];
  const commandIds: string[] = [...(input.carried?.commandIds ?? [])];
  const inflight = new Set<Promise<void>>();
  let startedThisRun = 0;

  const runOne = async (deviceId: string) => {
    const commandId = deviceCommandId(invocationIdOf(input), deviceId);
    commandIds.push(commandId);
    progress.devices[deviceId] = 'running';
    const { status } = await device.dispatchDeviceCommand({ orgId: input.orgId, commandId, deviceId, kind: input.kind, params: input.params });
    progress.running -= 1;
    if (status === 'succeeded') progress.succeeded += 1;
    else progress.failed += 1;
    progress.devices[deviceId] = status;
    if (progress.failed > input.maxFailures) progress.stoppedAtThreshold = true;
  };

  while (queue.length > 0 || inflight.size > 0) {
    if (progress.state === 'paused' && inflight.size === 0) {
      await condition(() => progress.state !== 'paused');
      continue;
    }
    while (progress.state === 'running' && !progress.stoppedAtThreshold && inflight.size < input.batchSize && queue.length > 0 && startedThisRun < MAX_STARTS_PER_RUN) {
      const deviceId = queue.shift()!;
      progress.running += 1;
      startedThisRun += 1;
      const p: Promise<void> = runOne(deviceId).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    if (inflight.size === 0) {
      if (progress.state === 'running' && !progress.stoppedAtThreshold && queue.length > 0) {
        await continueAsNew<typeof remediationV1>({ ...input, devices: queue, carried: { progress, commandIds } });
      }
      break;
    }
    await Promise.race(inflight);
  }
  return finish(progress, queue, commandIds);
}
