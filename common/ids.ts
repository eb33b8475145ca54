/** Business keys. Workflow ids are built here and only here. */
import { z } from 'zod';

export const Uuid = z.uuid();

/** A session's turn id: `t1`, `t2`, … in the order its messages and tool calls were queued (workflows/session-state.ts). */
export const turnIdOf = (n: number): string => `t${n}`;
export const TurnId = z.string().regex(/^t[0-9]{1,9}$/, 'turnId must be a turn id such as t1');

export function copilotWorkflowId(orgId: string, sessionId: string): string {
  return `copilot:${orgId}:${sessionId}`;
}

/**
 * The child workflow a session starts for a remediation tool call (its model tool_use id): part of histories and of
 * the api's remediation routes, so it must never change shape.
 */
export function remediationWorkflowId(sessionWorkflowId: string, toolUseId: string): string {
  return `${sessionWorkflowId}:remediation:${toolUseId}`;
}

/** The session workflow a remediation's id names (the inverse of remediationWorkflowId), or null for another id. */
export function sessionOfRemediationWorkflowId(workflowId: string): string | null {
  return /^(copilot:[^:]+:[^:]+):remediation:./.exec(workflowId)?.[1] ?? null;
}

/** The session id a session's or its remediation's workflow id names, or null for another id. */
export function sessionOfWorkflowId(workflowId: string): string | null {
  return /^copilot:[^:]+:([0-9a-f-]{36})(?::remediation:.+)?$/.exec(workflowId)?.[1] ?? null;
}

/** The id of the model message or tool result a step writes; deterministic so a retried activity writes once. */
export function stepMessageId(sessionId: string, turnId: string, step: number, part: 'assistant' | 'tool_results'): string {
  return `${sessionId}:${turnId}:${step}:${part}`;
}

/** The budget reservation of a turn's model call (one per step; a retry finds its own). */
export const stepReservationId = (sessionId: string, turnId: string, step: number): string => `${sessionId}:${turnId}:${step}`;

/** The reservation a message's admission books for its turn's first model call (never a step's own id). */
export const admittedReservationId = (sessionId: string, turnId: string): string => `${sessionId}:${turnId}:admitted`;

export function userMessageId(sessionId: string, turnId: string): string {
  return `${sessionId}:${turnId}:user`;
}

/** `callKey` is made by the server (see authorizeToolCall), never the model's tool_use id, which it may repeat. */
export function toolInvocationId(sessionId: string, callKey: string): string {
  return `${sessionId}:${callKey}`;
}

/** A tool invocation's id as it comes from outside (a remediation's id in the api is its invocation's). */
export const InvocationId = z.string().regex(/^[0-9a-f-]{36}:[A-Za-z0-9_-]{1,128}$/, 'a tool invocation id (<session id>:<call key>)');

/** A device command's id: its tool invocation and the device, the same on every retry and replay. */
export function deviceCommandId(invocationId: string, deviceId: string): string {
  return `${commandIdPrefix(invocationId)}${deviceId}`;
}

/** What the ids of every device command of one tool invocation (a remediation's hundreds) start with. */
export function commandIdPrefix(invocationId: string): string {
  return `${invocationId}:`;
}

/**
 * A canary step of a remediation on one of its canary devices: the read-back of its action (`check`) or the undo of
 * it (`undo`). Their commands are the tool invocation's own (the same approval covers them), under ids of their own.
 */
export type CanaryStep = 'check' | 'undo';

/** What the id of every canary step's command contains (and no other command's). */
export const CANARY_STEP_MARK = ':canary-';

/** The command id of a canary step on a device: `<invocation>:canary-<step>:<device>`. */
export function canaryCommandId(invocationId: string, step: CanaryStep, deviceId: string): string {
  return deviceCommandId(`${invocationId}:canary-${step}`, deviceId);
}

/** The tool invocation and step the invocation part of a command id names (`run` for the action itself). */
export function stepOfCommandInvocation(id: string): { invocationId: string; step: 'run' | CanaryStep } {
  const m = /^(.+):canary-(check|undo)$/.exec(id);
  return m ? { invocationId: m[1]!, step: m[2] as CanaryStep } : { invocationId: id, step: 'run' };
}

/** The invocation a command id names, or null when the id is not `deviceCommandId(…, deviceId)`. */
export function invocationOfCommand(commandId: string, deviceId: string): string | null {
  const suffix = `:${deviceId}`;
  return commandId.endsWith(suffix) && commandId.length > suffix.length ? commandId.slice(0, -suffix.length) : null;
}

/** The workflow that holds one terminal request: its approval, then its window (workflows/terminal-access.ts). */
export function terminalWorkflowId(orgId: string, terminalId: string): string {
  return `terminal:${orgId}:${terminalId}`;
}

/** The approval's invocation id of a terminal request (Approval.invocationId is unique across every kind). */
export function terminalInvocationId(terminalId: string): string {
  return `terminal:${terminalId}`;
}
