/**
 * `remediation`: one command over many devices, `batchSize` at a time (a sliding window: a new device starts as
 * soon as one finishes). Once more than `maxFailures` devices have failed, no new device starts; those already
 * running finish. Each device's command id is derived from the remediation's id and the device, so a retried or
 * replayed dispatch never runs twice. Progress is readable with the `remediationProgress` query.
 */
import { setHandler } from '@temporalio/workflow';
import type { CommandKind } from '../common/protocol';
import { device } from './activities';
import { remediationProgressQuery, type RemediationProgress } from './definitions';

export interface RemediationInput {
  orgId: string;
  devices: string[];
  kind: CommandKind;
  params: Record<string, unknown>;
  batchSize: number;
  maxFailures: number;
  /** Prefix of every command id: the parent's tool invocation id. */
  commandPrefix: string;
}

export interface RemediationResult {
  commandIds: string[];
  succeeded: number;
  failed: number;
  skipped: number;
  stoppedAtThreshold: boolean;
}

export async function remediation(input: RemediationInput): Promise<RemediationResult> {
  const progress: RemediationProgress = { total: input.devices.length, running: 0, succeeded: 0, failed: 0, skipped: 0, stoppedAtThreshold: false, devices: {} };
  setHandler(remediationProgressQuery, () => progress);
  const queue = [...input.devices];
  const commandIds: string[] = [];
  const inflight = new Set<Promise<void>>();

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
    while (!progress.stoppedAtThreshold && inflight.size < input.batchSize && queue.length > 0) {
      const deviceId = queue.shift()!;
      progress.running += 1;
      const p: Promise<void> = runOne(deviceId).finally(() => inflight.delete(p));
      inflight.add(p);
    }
    if (inflight.size === 0) break;
    await Promise.race(inflight);
  }
  for (const deviceId of queue) progress.devices[deviceId] = 'skipped';
  progress.skipped = queue.length;
  return { commandIds, succeeded: progress.succeeded, failed: progress.failed, skipped: progress.skipped, stoppedAtThreshold: progress.stoppedAtThreshold };
}
