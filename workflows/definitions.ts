/** Every signal, update and query of the workflows, defined once and imported by the api. */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  ApprovalDecisionSignal,
  CopilotPausedSignal,
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
  skipped: number;
  stoppedAtThreshold: boolean;
  /** Per device: running, succeeded, failed, expired or skipped. */
  devices: Record<string, string>;
}
export const remediationProgressQuery = defineQuery<RemediationProgress>('remediationProgress');
