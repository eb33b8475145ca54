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
  devices: string[];
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

/** The tool invocation a remediation runs for, whichever name its input gives it. */
export function invocationIdOf(input: RemediationInput): string {
  const id = input.invocationId ?? input.commandPrefix;
  if (!id) throw ApplicationFailure.nonRetryable('the remediation names no tool invocation', FailureType.InvalidInput);
  return id;
}

export function initialProgress(input: RemediationInput): RemediationProgress {
  return input.carried?.progress ?? { total: input.devices.length, running: 0, succeeded: 0, failed: 0, skipped: 0, cancelled: 0, stoppedAtThreshold: false, state: 'running', devices: {} };
}

/** Pause, resume and cancel: a malformed signal, or one that does not apply in the current state, changes nothing. */
export function obeyControl(progress: RemediationProgress, raw: unknown): void {
  const control = RemediationControl.safeParse(raw);
  if (!control.success || progress.state === 'cancelled' || progress.state === 'finished') return;
  if (control.data.action === 'pause' && progress.state === 'running') progress.state = 'paused';
  else if (control.data.action === 'resume' && progress.state === 'paused') progress.state = 'running';
  else if (control.data.action === 'cancel') progress.state = 'cancelled';
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

