/**
 * Contracts of the `copilotSession` workflow: the payloads of its update and query, and the small state it keeps.
 * Transcripts live in PostgreSQL; the workflow holds ids and short summaries only (history payloads stay small).
 */
import { z } from 'zod';
import type { ToolExecution } from './tools';

export const MAX_MESSAGE_CHARS = 8000;
/** Turns the workflow keeps in its state (and carries across continue-as-new); older ones live in the database. */
export const MAX_TURNS_IN_STATE = 20;
export const MAX_STEPS_PER_TURN = 8;

export const CopilotSessionInput = z.object({
  sessionId: z.uuid(),
  orgId: z.uuid(),
  userId: z.uuid(),
  /** Turns carried over from the previous run on continue-as-new. */
  turns: z.array(z.any()).optional(),
  turnCounter: z.number().int().nonnegative().optional(),
});
export type CopilotSessionInput = z.infer<typeof CopilotSessionInput>;

export const SendMessageInput = z
  .object({
    text: z.string().trim().min(1, 'message is empty').max(MAX_MESSAGE_CHARS, `message is longer than ${MAX_MESSAGE_CHARS} characters`),
    userId: z.uuid(),
  })
  .strict();
export type SendMessageInput = z.infer<typeof SendMessageInput>;

export interface SendMessageResult {
  turnId: string;
}

export type ToolStepStatus = 'running' | 'succeeded' | 'failed' | 'denied';

export type Step =
  | { kind: 'model'; step: number; text: string; toolCalls: string[] }
  | { kind: 'tool'; toolUseId: string; tool: string; invocationId: string; status: ToolStepStatus; summary?: string };

export type TurnStatus = 'queued' | 'running' | 'answered' | 'failed';

export interface TurnState {
  turnId: string;
  userId: string;
  status: TurnStatus;
  steps: Step[];
  answer?: string;
  error?: string;
}

export interface SessionState {
  sessionId: string;
  orgId: string;
  status: 'idle' | 'working';
  turns: TurnState[];
}

/** What `callModel` returns to the workflow: the plan of the step, not the transcript. */
export interface ModelStep {
  text: string;
  stopReason: string;
  toolUses: { id: string; name: string; input: unknown }[];
}

export type Authorization =
  | { decision: 'allow'; invocationId: string; tier: number; execution: ToolExecution }
  | { decision: 'deny'; invocationId: string; reason: string };

export interface ToolOutcome {
  invocationId: string;
  status: 'succeeded' | 'failed' | 'denied';
  summary: string;
}
