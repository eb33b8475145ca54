/**
 * What every version of the `remediation` workflow shares: its input and result, the progress it reports, how it
 * obeys pause, resume and cancel, and how it counts the devices it never started.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { FailureType } from '../common/failures';
import type { CommandKind } from '../common/protocol';
import type { CanaryPlan } from '../common/tools';
import { RemediationControl } from '../common/session';
import type { RemediationProgress } from './definitions';

/** Devices one run started before continuing as new, in histories recorded before the 'remediation-runs-of-1000' patch. */
export const MAX_STARTS_PER_RUN = 200;

export interface RemediationInput {
  orgId: string;
  /**
   * The devices, in inputs that list them (histories recorded before `deviceCount`, and tests). Empty when
   * `deviceCount` is set: the approved devices are then read from the invocation's record, a page per run.
   */
  devices: string[];
  /**
   * How many devices the invocation's record approved: set by authorization for every remediation since the
   * `remediation-devices-from-record` patch, so that no payload carries the device list (10,000 ids are 390 KB).
   */
  deviceCount?: number;
  kind: CommandKind;
  params: Record<string, unknown>;
  batchSize: number;
  maxFailures: number;
  /** Devices that run first and must pass their read-back before the rest starts (authorization picked them). */
  canary?: CanaryPlan;
  /** The parent's tool invocation id: every command id is `deviceCommandId(it, deviceId)`. */
  invocationId?: string;
  /** The same id, under the name the inputs of histories recorded before it was `invocationId` carry. */
  commandPrefix?: string;
  /**
   * What earlier runs did, when this run continues a long remediation: since the `remediation-devices-from-record`
   * patch the counts and the position of the next device in the approved list (O(1) in the number of devices);
   * before it, every device's state and command id.
   */
  carried?: { progress: RemediationProgress; commandIds?: string[]; cursor?: number };
}

export interface RemediationResult {
  /** The devices' command ids, in results recorded before `commandsInRecord`. */
  commandIds?: string[];
  /** The commands are the invocation's rows (each id derived from the invocation and the device): read them there. */
  commandsInRecord?: true;
  succeeded: number;
  failed: number;
  skipped: number;
  cancelled?: number;
  stoppedAtThreshold: boolean;
}

/** The tool invocation a remediation runs for, whichever name its input gives it. */
export function invocationIdOf(input: RemediationInput): string {
  const id = input.invocationId ?? input.commandPrefix;
  if (!id) throw ApplicationFailure.nonRetryable('the remediation names no tool invocation', FailureType.InvalidInput);
  return id;
}

export function initialProgress(input: RemediationInput): RemediationProgress {
  return input.carried?.progress ?? { total: input.devices.length, running: 0, succeeded: 0, failed: 0, skipped: 0, cancelled: 0, stoppedAtThreshold: false, state: 'running', devices: {} };
}

/**
 * The progress a run starts from, since the `remediation-devices-from-record` patch: the counts carried (or none
 * yet), and the devices of this run only (each device's status is on the record).
 */
export function progressOfRun(input: RemediationInput): RemediationProgress {
  const carried = input.carried?.progress;
  if (carried) return { ...carried, devices: {}, devicesInRecord: true };
  const total = input.deviceCount ?? input.devices.length;
  return { total, running: 0, succeeded: 0, failed: 0, skipped: 0, cancelled: 0, stoppedAtThreshold: false, state: 'running', devices: {}, devicesInRecord: true };
}

/** Pause, resume and cancel: a malformed signal, or one that does not apply in the current state, changes nothing. */
export function obeyControl(progress: RemediationProgress, raw: unknown): void {
  const control = RemediationControl.safeParse(raw);
  if (!control.success || progress.state === 'cancelled' || progress.state === 'finished') return;
  if (control.data.action === 'pause' && progress.state === 'running') progress.state = 'paused';
  else if (control.data.action === 'resume' && progress.state === 'paused') progress.state = 'running';
  else if (control.data.action === 'cancel') progress.state = 'cancelled';
}

/**
 * The final counts, since the `remediation-devices-from-record` patch: every device not started (nothing is
 * running at the end) counts as cancelled or skipped; which ones they are is on the record (devices without a command).
 */
export function finishCounted(progress: RemediationProgress): RemediationResult {
  const notStarted = Math.max(0, progress.total - progress.succeeded - progress.failed - progress.running - progress.skipped - progress.cancelled);
  if (progress.state === 'cancelled') progress.cancelled += notStarted;
  else progress.skipped += notStarted;
  if (progress.state !== 'cancelled') progress.state = 'finished';
  return { commandsInRecord: true, succeeded: progress.succeeded, failed: progress.failed, skipped: progress.skipped, cancelled: progress.cancelled, stoppedAtThreshold: progress.stoppedAtThreshold };
}

/** The devices never started: cancelled or skipped (past the failure threshold); then the final counts. */
export function finish(progress: RemediationProgress, notStartedDevices: string[], commandIds: string[]): RemediationResult {
  const notStarted = progress.state === 'cancelled' ? 'cancelled' : 'skipped';
  for (const deviceId of notStartedDevices) progress.devices[deviceId] = notStarted;
  if (notStarted === 'cancelled') progress.cancelled += notStartedDevices.length;
  else progress.skipped += notStartedDevices.length;
  if (progress.state !== 'cancelled') progress.state = 'finished';
  return { commandIds, succeeded: progress.succeeded, failed: progress.failed, skipped: progress.skipped, cancelled: progress.cancelled, stoppedAtThreshold: progress.stoppedAtThreshold };
}

