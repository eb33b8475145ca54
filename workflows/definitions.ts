/** Every signal, update and query of the workflows, defined once and imported by the api. */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  ApprovalDecisionSignal,
  CopilotPausedSignal,
  RemediationControl,
  CommandResults,
  ResetBreakerSignal,
  SendMessageInput,
  SendMessageResult,
  SessionState,
  TurnView,
  VerifiedRequestResult,
  WorkflowRequestRef,
} from '../common/session';

export const sendMessageUpdate = defineUpdate<SendMessageResult, [SendMessageInput]>('sendMessage');
/** A tool call an MCP client made, recorded by the api; it becomes a turn of one tool step once an activity has checked the record. */
export const callToolRequestUpdate = defineUpdate<SendMessageResult, [WorkflowRequestRef]>('callToolRequest');
export const stateQuery = defineQuery<SessionState>('state');
/** One turn, for a client waiting on it: a small answer whatever the session's length (GET /v1/sessions/:id/turns/:turnId). */
export const turnQuery = defineQuery<TurnView, [string]>('turn');
export const approvalDecisionSignal = defineSignal<[ApprovalDecisionSignal]>('approvalDecision');
/** Replays older histories only: a new one is refused and audited. The api uses `resetBreakerRequest`. */
export const resetBreakerSignal = defineSignal<[ResetBreakerSignal]>('resetBreaker');
/** An org admin's breaker reset, recorded by the api; applied once an activity has checked the record. */
export const resetBreakerRequestUpdate = defineUpdate<VerifiedRequestResult, [WorkflowRequestRef]>('resetBreakerRequest');
export const copilotPausedSignal = defineSignal<[CopilotPausedSignal]>('copilotPaused');
/** A terminal grant was revoked or its org paused: a hint for `terminalAccess` to read its record again. */
export const terminalChangedSignal = defineSignal<[]>('terminalChanged');

export interface RemediationProgress {
  total: number;
  running: number;
  succeeded: number;
  failed: number;
  /** Not started because failures passed the threshold. */
  skipped: number;
  /** Not started because someone cancelled the remediation. */
  cancelled: number;
  stoppedAtThreshold: boolean;
  /**
   * running: devices start as others finish; paused: none starts until resumed; canary-failed: a canary device
   * failed its check and an approver decides (continue, cancel, roll back); cancelled / finished: none will.
   */
  state: 'running' | 'paused' | 'canary-failed' | 'cancelled' | 'finished';
  /** Per device: queued, running, succeeded, failed, expired, skipped or cancelled. */
  devices: Record<string, string>;
  /**
   * Set by runs since the `remediation-devices-from-record` patch: `devices` holds only the devices this run started
   * (a run holds at most a thousand); every device's status is on the record (its command's row, or none yet).
   */
  devicesInRecord?: true;
  /** The canary stage, when the call asked for one. */
  canary?: CanaryProgress;
}

export interface CanaryProgress {
  devices: string[];
  /** running: the canaries run their action; verifying: their read-back; passed / failed: what it found. */
  state: 'running' | 'verifying' | 'passed' | 'failed';
  failures: { deviceId: string; reason: string }[];
  /** Whether a roll back can be chosen (the action declares an undo). */
  canRollBack: boolean;
  /** The approver's decision after a failure. */
  decision?: { decision: 'continue' | 'cancel' | 'rollback'; by: string };
  /** Failures the approver chose to go on past: the failure threshold counts the rest only. */
  forgivenFailures?: number;
  /** After a roll back: each canary device's undo outcome. */
  undone?: Record<string, string>;
}
export const remediationProgressQuery = defineQuery<RemediationProgress>('remediationProgress');
/** Replays older histories only: a new one is refused and audited. The api uses `remediationControlRequest`. */
export const remediationControlSignal = defineSignal<[RemediationControl]>('remediationControl');
/** A pause, resume or cancel recorded by the api; applied once an activity has checked the record. */
export const remediationControlRequestUpdate = defineUpdate<VerifiedRequestResult, [WorkflowRequestRef]>('remediationControlRequest');
/** An approver's decision on a failed canary (continue, cancel, roll back), recorded by the api; applied once an activity has checked the record. */
export const remediationCanaryDecisionUpdate = defineUpdate<VerifiedRequestResult, [WorkflowRequestRef]>('remediationCanaryDecision');
/** Some of the device commands whose rows name this workflow ended: a hint to read their rows. */
export const commandResultsSignal = defineSignal<[CommandResults]>('commandResults');
/** Replays older remediation histories only: the api sends `commandResults`. */
export const remediationResultsSignal = defineSignal<[CommandResults]>('remediationResults');
