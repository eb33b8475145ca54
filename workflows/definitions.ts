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
