/** Business keys. Workflow ids are built here and only here. */
import { z } from 'zod';

export const Uuid = z.uuid();

export function copilotWorkflowId(orgId: string, sessionId: string): string {
  return `copilot:${orgId}:${sessionId}`;
}

/** The id of the model message or tool result a step writes; deterministic so a retried activity writes once. */
export function stepMessageId(sessionId: string, turnId: string, step: number, part: 'assistant' | 'tool_results'): string {
  return `${sessionId}:${turnId}:${step}:${part}`;
}

export function userMessageId(sessionId: string, turnId: string): string {
  return `${sessionId}:${turnId}:user`;
}

/** `callKey` is made by the server (see authorizeToolCall), never the model's tool_use id, which it may repeat. */
export function toolInvocationId(sessionId: string, callKey: string): string {
  return `${sessionId}:${callKey}`;
}
