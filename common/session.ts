/**
 * Contracts of the `copilotSession` workflow: the payloads of its update and query, and the small state it keeps.
 * Transcripts live in PostgreSQL; the workflow holds ids and short summaries only (history payloads stay small).
 */
import { z } from 'zod';
import { isStorableText, STORABLE_TEXT_MESSAGE } from './text';
import type { ToolExecution } from './tools';

export const MAX_MESSAGE_CHARS = 8000;
/** Turns the workflow keeps in its state (and carries across continue-as-new); older ones live in the database. */
export const MAX_TURNS_IN_STATE = 20;
export const MAX_STEPS_PER_TURN = 8;

/** Started by the api (trusted); what continue-as-new carries is `CarriedState` in workflows/session-state.ts. */
export interface CopilotSessionInput {
  sessionId: string;
  orgId: string;
  userId: string;
}

/** The id of a `WorkflowRequest` row the api wrote (who asked what, for which workflow); all a signal or update carries. */
export const WorkflowRequestRef = z.object({ requestId: z.uuid() }).strict();
export type WorkflowRequestRef = z.infer<typeof WorkflowRequestRef>;

/**
 * How messages arrived before the api recorded them: the text and a user id the workflow believed. Histories
 * replay with it; in a new turn it is refused (and audited), since anyone who reaches Temporal can claim any user.
 */
export const LegacySendMessageInput = z
  .object({
    text: z
      .string()
      .trim()
      .min(1, 'message is empty')
      .max(MAX_MESSAGE_CHARS, `message is longer than ${MAX_MESSAGE_CHARS} characters`)
      .refine(isStorableText, `message ${STORABLE_TEXT_MESSAGE}`),
    userId: z.uuid(),
  })
  .strict();
export type LegacySendMessageInput = z.infer<typeof LegacySendMessageInput>;

/** Update `sendMessage`: the message request the api recorded; the author and text come from that row, never from here. */
export const SendMessageInput = z.union([WorkflowRequestRef, LegacySendMessageInput]);
export type SendMessageInput = z.infer<typeof SendMessageInput>;

export interface SendMessageResult {
  turnId: string;
}

/**
 * Update `callToolRequest`: a `tools/call` an MCP client made, recorded by the api (`WorkflowRequest` of kind
 * `tool_call`: who, which tool, which arguments); the author, tool and arguments come from that row, never from here.
 */
export const CallToolRequestInput = WorkflowRequestRef;

/** How the turn of an MCP tool call is stored in the transcript (its author, the call): never part of a model request. */
export const TOOL_CALL_MESSAGE_KIND = 'mcp_call';
export type CallToolRequestInput = WorkflowRequestRef;

export type ToolStepStatus = 'running' | 'awaiting_approval' | 'succeeded' | 'failed' | 'denied' | 'rejected';

export type Step =
  | { kind: 'model'; step: number; text: string; toolCalls: string[] }
  | {
      kind: 'tool';
      toolUseId: string;
      tool: string;
      /** Absent when the workflow denied the call itself (breaker, pause) without running any activity. */
      invocationId?: string;
      tier?: number;
      approvalId?: string;
      status: ToolStepStatus;
      summary?: string;
    };

export type TurnStatus = 'queued' | 'running' | 'answered' | 'refused' | 'failed';

export interface TurnState {
  turnId: string;
  /** A tool call an MCP client made (`callToolRequest`): one tool step, no model step. Absent for a message's turn. */
  toolCall?: true;
  /** The verified author; empty until an activity has checked the message against the api's record. */
  userId: string;
  status: TurnStatus;
  steps: Step[];
  answer?: string;
  error?: string;
}

export interface BreakerState {
  /** Rejections (and expiries) in a row; an approval resets it. */
  streak: number;
  tripped: boolean;
}

export interface PendingApproval {
  approvalId: string;
  tool: string;
  tier: number;
  expiresAt: string;
}

export interface SessionState {
  sessionId: string;
  orgId: string;
  status: 'idle' | 'working' | 'waiting_approval';
  turns: TurnState[];
  breaker: BreakerState;
  paused: boolean;
  tainted: boolean;
  pendingApproval: PendingApproval | null;
}

/** One turn as the workflow holds it (`turnQuery`), with what a client waiting on it also shows. */
export interface TurnView {
  /** The session's status (as in SessionState). */
  status: SessionState['status'];
  /** Null when the workflow no longer holds the turn (older turns leave its state) or never had it. */
  turn: TurnState | null;
  /** An earlier turn of the session still queued or running: this one waits for it. */
  behind: { turnId: string; status: TurnStatus } | null;
  breaker: BreakerState;
  pendingApproval: PendingApproval | null;
}

/** Three rejections in a row trip the session's circuit breaker. */
export const BREAKER_THRESHOLD = 3;

/**
 * What a tool call denied by the breaker, the kill switch or an unknown session identity is told (the workflow and
 * the activities that check the database say the same).
 */
export const BREAKER_DENIAL = 'denied: the circuit breaker of this session tripped after three rejected tool calls in a row; an org admin must reset it';
/** The database's count tripped it, at the streak of the org's policy (activities/breaker.ts): no number in it. */
export const BREAKER_POLICY_DENIAL = "denied: the circuit breaker of this session tripped after the rejected tool calls in a row its organization's policy allows; an org admin must reset it";
export const PAUSED_DENIAL = 'denied: an admin has paused the copilot for this organization';
export const UNKNOWN_SESSION_DENIAL = 'denied: this workflow is not the session it claims to be; nothing was run';

export const ApprovalChannel = z.enum(['api', 'console', 'slack', 'email']);
export type ApprovalChannel = z.infer<typeof ApprovalChannel>;

/** Signal `approvalDecision`: sent by the decision service once the decision is recorded in the database. */
export const ApprovalDecisionSignal = z
  .object({
    approvalId: z.uuid(),
    decision: z.enum(['approved', 'rejected']),
    approverId: z.uuid(),
    channel: ApprovalChannel,
    reason: z.string().max(500).refine(isStorableText, STORABLE_TEXT_MESSAGE).optional(),
    digest: z.string().regex(/^[0-9a-f]{64}$/),
    confirmation: z.string().max(200).refine(isStorableText, STORABLE_TEXT_MESSAGE).optional(),
  })
  .strict();
export type ApprovalDecisionSignal = z.infer<typeof ApprovalDecisionSignal>;

/**
 * Signal `resetBreaker`, as the api sent it before resets were verified: histories replay with it; a new one is
 * refused and audited (the `resetBreakerRequest` update carries a recorded request instead).
 */
export const ResetBreakerSignal = z.object({ adminId: z.uuid() }).strict();
export type ResetBreakerSignal = z.infer<typeof ResetBreakerSignal>;

/** What the `resetBreakerRequest` and `remediationControlRequest` updates answer. */
export type VerifiedRequestResult = { applied: true } | { applied: false; reason: string };

/**
 * Signal `remediationControl`: pause (no new device starts), resume, or cancel (the rest never starts). Histories
 * replay with it; a new one is refused and audited (the `remediationControlRequest` update carries a recorded
 * request instead).
 */
export const RemediationControl = z.object({ action: z.enum(['pause', 'resume', 'cancel']), by: z.uuid() }).strict();
export type RemediationControl = z.infer<typeof RemediationControl>;

/** How a device command ended, as the workflow waiting for it is told. */
export const CommandOutcome = z.enum(['succeeded', 'failed', 'expired']);
export type CommandOutcome = z.infer<typeof CommandOutcome>;
export const isCommandOutcome = (status: string): status is CommandOutcome => (CommandOutcome.options as readonly string[]).includes(status);
/** A device command not finished yet: queued for its device, or sent to it and waiting for the result. */
export const UNFINISHED_COMMAND = ['pending', 'delivered'];

/** The most results one `commandResults` signal carries (the api splits larger batches). */
export const MAX_RESULTS_PER_SIGNAL = 500;

/**
 * Signal `commandResults`: the api tells the workflow a command's row names (`reportTo`: a session for its own
 * tool call's commands, a remediation for its devices') that some of them ended. Only a hint: the workflow reads
 * how they ended from the `DeviceCommand` rows. Older remediation histories carry the same payload under the name
 * `remediationResults` (and, before `Patch.ResultsFromRows`, settled on its word).
 */
export const CommandResults = z
  .object({ results: z.array(z.object({ commandId: z.string().min(1).max(300), status: CommandOutcome }).strict()).min(1).max(MAX_RESULTS_PER_SIGNAL) })
  .strict();
export type CommandResults = z.infer<typeof CommandResults>;

/** Signal `copilotPaused`: the org's kill switch changed. */
export const CopilotPausedSignal = z.object({ paused: z.boolean(), by: z.uuid() }).strict();
export type CopilotPausedSignal = z.infer<typeof CopilotPausedSignal>;

/** What became of an approval the workflow waited for. */
export interface ApprovalOutcome {
  status: 'approved' | 'rejected' | 'expired' | 'cancelled';
  approverId?: string;
  channel?: string;
  reason?: string;
}

/** What `callModel` returns to the workflow: the plan of the step, not the transcript. */
export interface ModelStep {
  text: string;
  stopReason: string;
  toolUses: { id: string; name: string; input: unknown }[];
}

/**
 * `policyVersion`: the org's policy version the call was decided under (absent in histories from before versions;
 * null when the decision came before the policy was read). `standingApprovalId`: the standing approval that let a
 * T3 call run without a new approval.
 */
export type Authorization =
  | { decision: 'allow'; invocationId: string; tier: number; execution: ToolExecution; policyVersion?: number | null; standingApprovalId?: string }
  | {
      decision: 'approve';
      invocationId: string;
      tier: number;
      digest: string;
      targets: string[];
      /** The targets are left out (a remediation's devices): requestApproval reads them from the invocation's record. */
      targetsInRecord?: true;
      execution: ToolExecution;
      policyVersion?: number | null;
      breakerStreak?: number;
    }
  | { decision: 'deny'; invocationId: string; reason: string; policyVersion?: number | null };

export interface ToolOutcome {
  invocationId: string;
  status: 'succeeded' | 'failed' | 'denied' | 'rejected';
  summary: string;
  /** The output contained text that looks like injected instructions: the session becomes tainted. */
  flagged?: boolean;
}

/** A tool result for the next model call: a recorded invocation, or a denial made by the workflow itself. */
export type ToolResultRef = { toolUseId: string; invocationId: string } | { toolUseId: string; deniedReason: string };
