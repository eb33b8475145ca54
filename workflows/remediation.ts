/**
 * `remediation`: one command over many devices, `batchSize` at a time (a sliding window: a new device starts as
 * soon as one finishes). Once more than `maxFailures` devices have failed, no new device starts; those already
 * running finish. Each device's command id is derived from the remediation's id and the device, so a retried or
 * replayed dispatch never runs twice.
 *
 * People steer it with the `remediationControl` signal (checked and audited by the api): pause (running devices
 * finish, none starts until resumed), resume, cancel (the devices not started never are). Progress is readable
 * with the `remediationProgress` query. A long run continues as new every MAX_STARTS_PER_RUN devices, once the
 * devices in flight have finished, carrying its progress, so the history stays small whatever the fleet size.
 */
import { condition, continueAsNew, setHandler } from '@temporalio/workflow';
import type { CommandKind } from '../common/protocol';
import { RemediationControl } from '../common/session';
import { device } from './activities';
import { remediationControlSignal, remediationProgressQuery, type RemediationProgress } from './definitions';

export const MAX_STARTS_PER_RUN = 200;

export interface RemediationInput {
  orgId: string;
  devices: string[];
  kind: CommandKind;
  params: Record<string, unknown>;
  batchSize: number;
  maxFailures: number;
  /** Prefix of every command id: the parent's tool invocation id. */
  commandPrefix: string;
  /** What earlier runs did, when this run continues a long remediation. */
  carried?: { progress: RemediationProgress; commandIds: string[] };
}

export interface RemediationResult {
  commandIds: string[];
  succeeded: number;
  failed: number;
  skipped: number;
  cancelled?: number;
  stoppedAtThreshold: boolean;
}

export async function remediation(input: RemediationInput): Promise<RemediationResult> {
  const progress: RemediationProgress = input.carried?.progress ?? {
    total: input.devices.length,
    running: 0,
    succeeded: 0,
    failed: 0,
    skipped: 0,
    cancelled: 0,
    stoppedAtThreshold: false,
    state: 'running',
    devices: {},
  };
  setHandler(remediationProgressQuery, () => progress);
  setHandler(remediationControlSignal, (raw) => {
    const control = RemediationControl.safeParse(raw);
    if (!control.success || progress.state === 'cancelled' || progress.state === 'finished') return;
    if (control.data.action === 'pause' && progress.state === 'running') progress.state = 'paused';
    else if (control.data.action === 'resume' && progress.state === 'paused') progress.state = 'running';
    else if (control.data.action === 'cancel') progress.state = 'cancelled';
  });
  const queue = [...input.devices];
  const commandIds: string[] = [...(input.carried?.commandIds ?? [])];
  const inflight = new Set<Promise<void>>();
  let startedThisRun = 0;

  const runOne = async (deviceId: string) => {
    const commandId = `${input.commandPrefix}:${deviceId}`;
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
        // This run started its share and everything in flight finished: go on in a fresh history.
        await continueAsNew<typeof remediation>({ ...input, devices: queue, carried: { progress, commandIds } });
      }
      break;
    }
    await Promise.race(inflight);
  }
  const notStarted = progress.state === 'cancelled' ? 'cancelled' : 'skipped';
  for (const deviceId of queue) progress.devices[deviceId] = notStarted;
  if (notStarted === 'cancelled') progress.cancelled += queue.length;
  else progress.skipped += queue.length;
  if (progress.state !== 'cancelled') progress.state = 'finished';
  return { commandIds, succeeded: progress.succeeded, failed: progress.failed, skipped: progress.skipped, cancelled: progress.cancelled, stoppedAtThreshold: progress.stoppedAtThreshold };
}
