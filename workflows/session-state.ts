/**
 * The state machine of one copilot session, kept apart from the workflow so the workflow reads like a script.
 * Everything here must be deterministic: no clocks, no randomness, no I/O.
 */
import {
  BREAKER_THRESHOLD,
  MAX_TURNS_IN_STATE,
  type ApprovalDecisionSignal,
  type BreakerState,
  type ModelStep,
  type PendingApproval,
  type SendMessageInput,
  type SessionState,
  type TurnView,
  type Step,
  type TurnState,
  type WorkflowRequestRef,
} from '../common/session';
import { turnIdOf } from '../common/ids';
import { CommandHints } from './command-hints';

export type ToolStep = Extract<Step, { kind: 'tool' }>;

export interface CarriedState {
  turns?: TurnState[];
  turnCounter?: number;
  breaker?: BreakerState;
  paused?: boolean;
  tainted?: boolean;
}

export class CopilotSessionState {
  private turns: TurnState[];
  private turnCounter: number;
  private queue: TurnState[] = [];
  // The message (a request id; in older histories the text) waits here only until its turn starts; the
  // transcript itself lives in PostgreSQL.
  private pendingMessages = new Map<string, SendMessageInput>();
  // The same for a tool call an MCP client made: the id of the api's record, until its turn starts.
  private pendingToolCalls = new Map<string, WorkflowRequestRef>();
  /** Decisions signalled for the approval being waited on; each is verified by an activity before it counts. */
  readonly decisions: ApprovalDecisionSignal[] = [];
  breaker: BreakerState;
  paused: boolean;
  tainted: boolean;
  pendingApproval: PendingApproval | null = null;
  /** The device commands of the tool call running now, until each has an outcome (none between tool calls). */
  readonly awaitedCommands = new Set<string>();
  /** Hints (`commandResults` signals) that some of them ended, kept until their rows are read. */
  readonly commandHints = new CommandHints((commandId) => this.awaitedCommands.has(commandId));

  constructor(
    readonly sessionId: string,
    readonly orgId: string,
    carried: CarriedState = {},
  ) {
    this.turns = carried.turns ?? [];
    this.turnCounter = carried.turnCounter ?? 0;
    this.breaker = carried.breaker ?? { streak: 0, tripped: false };
    this.paused = carried.paused ?? false;
    this.tainted = carried.tainted ?? false;
  }

  /**
   * Called by the update handler: records the message as a queued turn and returns its id at once. The author is
   * not taken from the message: it is empty until the turn's first activity has verified the request.
   */
  enqueue(message: SendMessageInput): TurnState {
    this.turnCounter += 1;
    const turn: TurnState = { turnId: turnIdOf(this.turnCounter), userId: '', status: 'queued', steps: [] };
    this.turns.push(turn);
    this.queue.push(turn);
    this.pendingMessages.set(turn.turnId, message);
    this.trim();
    return turn;
  }

  /**
   * Called by the `callToolRequest` handler: a turn of one tool call, with no model step. As for a message, the
   * author, the tool and its arguments are not taken from the update: they come from the verified record.
   */
  enqueueToolCall(request: WorkflowRequestRef): TurnState {
    this.turnCounter += 1;
    const turn: TurnState = { turnId: turnIdOf(this.turnCounter), toolCall: true, userId: '', status: 'queued', steps: [] };
    this.turns.push(turn);
    this.queue.push(turn);
    this.pendingToolCalls.set(turn.turnId, request);
    this.trim();
    return turn;
  }

  hasQueued(): boolean {
    return this.queue.length > 0;
  }

  startNext(): { turn: TurnState; message: SendMessageInput } | { turn: TurnState; toolCall: WorkflowRequestRef } {
    const turn = this.queue.shift();
    if (!turn) throw new Error('no queued turn');
    turn.status = 'running';
    const toolCall = this.pendingToolCalls.get(turn.turnId);
    if (toolCall) {
      this.pendingToolCalls.delete(turn.turnId);
      return { turn, toolCall };
    }
    const message = this.pendingMessages.get(turn.turnId);
    if (!message) throw new Error(`no message for turn ${turn.turnId}`);
    this.pendingMessages.delete(turn.turnId);
    return { turn, message };
  }

  recordModelStep(turn: TurnState, step: number, reply: ModelStep): void {
    turn.steps.push({ kind: 'model', step, text: reply.text.slice(0, 500), toolCalls: reply.toolUses.map((t) => t.name) });
  }

  addToolStep(turn: TurnState, step: ToolStep): ToolStep {
    turn.steps.push(step);
    return step;
  }

  /** A human approved: the rejection streak starts over, and the taint is cleared (a human looked once). */
  approved(): void {
    this.breaker.streak = 0;
    this.tainted = false;
  }

  /**
   * A rejection or an expiry. Returns true when this one trips the breaker. `limit`: the streak of the org's policy
   * the call was authorized under (histories from before it carry none: the default). Anything but a whole number
   * the policy document allows is the default too.
   */
  rejected(limit?: number): boolean {
    const streak = Number.isInteger(limit) && limit! >= 1 && limit! <= 10 ? limit! : BREAKER_THRESHOLD;
    this.breaker.streak += 1;
    if (!this.breaker.tripped && this.breaker.streak >= streak) {
      this.breaker.tripped = true;
      return true;
    }
    return false;
  }

  resetBreaker(): void {
    this.breaker = { streak: 0, tripped: false };
  }

  finish(turn: TurnState, answer: string): void {
    turn.status = 'answered';
    turn.answer = answer.slice(0, 4000);
  }

  /** A guard said no (rate limit, budget): the turn ends with its reason, and nothing ran. */
  refuse(turn: TurnState, reason: string): void {
    turn.status = 'refused';
    turn.error = reason.slice(0, 500);
    turn.answer = reason.slice(0, 500);
  }

  fail(turn: TurnState, error: string): void {
    turn.status = 'failed';
    turn.error = error.slice(0, 500);
    // A failed turn waits for nothing: the console and the CLI must not go on showing an approval as pending, and a
    // step that never got past its approval did not run. (State only, no command: replays the same.)
    this.pendingApproval = null;
    for (const step of turn.steps) {
      if (step.kind !== 'tool' || step.status !== 'awaiting_approval') continue;
      step.status = 'failed';
      step.summary = turn.error;
    }
  }

  snapshot(): SessionState {
    return {
      sessionId: this.sessionId,
      orgId: this.orgId,
      status: this.status(),
      turns: this.turns,
      breaker: this.breaker,
      paused: this.paused,
      tainted: this.tainted,
      pendingApproval: this.pendingApproval,
    };
  }

  private status(): SessionState['status'] {
    if (this.pendingApproval) return 'waiting_approval';
    return this.turns.some((t) => t.status === 'running' || t.status === 'queued') ? 'working' : 'idle';
  }

  /** One turn and what a client waiting on it shows; an argument that is no turn id finds no turn. */
  turnView(turnId: unknown): TurnView {
    const turn = typeof turnId === 'string' ? (this.turns.find((t) => t.turnId === turnId) ?? null) : null;
    const ahead = turn ? this.turns.slice(0, this.turns.indexOf(turn)).find((t) => t.status === 'running' || t.status === 'queued') : undefined;
    return {
      status: this.status(),
      turn,
      behind: ahead ? { turnId: ahead.turnId, status: ahead.status } : null,
      breaker: this.breaker,
      pendingApproval: this.pendingApproval,
    };
  }

  /** What continue-as-new carries (it happens only between turns, so nothing is queued or pending). */
  carryOver(): CarriedState {
    return { turns: this.turns, turnCounter: this.turnCounter, breaker: this.breaker, paused: this.paused, tainted: this.tainted };
  }

  private trim(): void {
    // Keep the state small; the transcript of older turns stays in the database.
    while (this.turns.length > MAX_TURNS_IN_STATE) {
      const oldest = this.turns[0];
      if (!oldest || oldest.status === 'queued' || oldest.status === 'running') break;
      this.turns.shift();
    }
  }
}
