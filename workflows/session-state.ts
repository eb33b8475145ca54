/**
 * The state machine of one copilot session, kept apart from the workflow so the workflow reads like a script.
 * Everything here must be deterministic: no clocks, no randomness, no I/O.
 */
import { MAX_TURNS_IN_STATE, type ModelStep, type SessionState, type Step, type TurnState } from '../common/session';

export class CopilotSessionState {
  private turns: TurnState[];
  private turnCounter: number;
  private queue: TurnState[] = [];
  // The message text waits here only until its turn starts; the transcript itself lives in PostgreSQL.
  private pendingTexts = new Map<string, string>();

  constructor(
    readonly sessionId: string,
    readonly orgId: string,
    carried?: { turns?: TurnState[]; turnCounter?: number },
  ) {
    this.turns = carried?.turns ?? [];
    this.turnCounter = carried?.turnCounter ?? 0;
  }

  /** Called by the update handler: records the message as a queued turn and returns its id at once. */
  enqueue(userId: string, text: string): { turn: TurnState; text: string } {
    this.turnCounter += 1;
    const turn: TurnState = { turnId: `t${this.turnCounter}`, userId, status: 'queued', steps: [] };
    this.turns.push(turn);
    this.queue.push(turn);
    this.pendingTexts.set(turn.turnId, text);
    this.trim();
    return { turn, text };
  }

  hasQueued(): boolean {
    return this.queue.length > 0;
  }

  startNext(): { turn: TurnState; text: string } {
    const turn = this.queue.shift();
    if (!turn) throw new Error('no queued turn');
    turn.status = 'running';
    const text = this.pendingTexts.get(turn.turnId) ?? '';
    this.pendingTexts.delete(turn.turnId);
    return { turn, text };
  }

  recordModelStep(turn: TurnState, step: number, reply: ModelStep): void {
    turn.steps.push({
      kind: 'model',
      step,
      text: reply.text.slice(0, 500),
      toolCalls: reply.toolUses.map((t) => t.name),
    });
  }

  recordToolStep(turn: TurnState, step: Extract<Step, { kind: 'tool' }>): Extract<Step, { kind: 'tool' }> {
    turn.steps.push(step);
    return step;
  }

  finish(turn: TurnState, answer: string): void {
    turn.status = 'answered';
    turn.answer = answer.slice(0, 4000);
  }

  fail(turn: TurnState, error: string): void {
    turn.status = 'failed';
    turn.error = error.slice(0, 500);
  }

  snapshot(): SessionState {
    const working = this.turns.some((t) => t.status === 'running' || t.status === 'queued');
    return { sessionId: this.sessionId, orgId: this.orgId, status: working ? 'working' : 'idle', turns: this.turns };
  }

  /** What continue-as-new carries: finished turns and the counter (queued turns are re-queued by the caller). */
  carryOver(): { turns: TurnState[]; turnCounter: number } {
    return { turns: this.turns, turnCounter: this.turnCounter };
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
