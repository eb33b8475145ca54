/** Every signal, update and query of the workflows, defined once and imported by the api. */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  ApprovalDecisionSignal,
  CopilotPausedSignal,
  RemediationControl,
  RemediationResults,
  ResetBreakerSignal,
  SendMessageInput,
  SendMessageResult,
  SessionState,
} from '../common/session';

export const sendMessageUpdate = defineUpdate<SendMessageResult, [SendMessageInput]>('sendMessage');
export const stateQuery = defineQuery<SessionState>('state');
export const approvalDecisionSignal = defineSignal<[ApprovalDecisionSignal]>('approvalDecision');
export const resetBreakerSignal = defineSignal<[ResetBreakerSignal]>('resetBreaker');
export const copilotPausedSignal = defineSignal<[CopilotPausedSignal]>('copilotPaused');

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
  /** running: devices start as others finish; paused: none starts until resumed; cancelled / finished: none will. */
  state: 'running' | 'paused' | 'cancelled' | 'finished';
  /** Per device: queued, running, succeeded, failed, expired, skipped or cancelled. */
  devices: Record<string, string>;
}
export const remediationProgressQuery = defineQuery<RemediationProgress>('remediationProgress');
export const remediationControlSignal = defineSignal<[RemediationControl]>('remediationControl');
export const remediationResultsSignal = defineSignal<[RemediationResults]>('remediationResults');
