/** Every signal, update and query of the workflows, defined once and imported by the api. */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { SendMessageInput, SendMessageResult, SessionState } from '../common/session';

export const sendMessageUpdate = defineUpdate<SendMessageResult, [SendMessageInput]>('sendMessage');
export const stateQuery = defineQuery<SessionState>('state');
