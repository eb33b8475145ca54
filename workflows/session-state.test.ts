/**
 * The copilot session's state machine on its own (no Temporal): the breaker's streak, trip and reset, the taint,
 * the kill switch, turns in order, and what continue-as-new carries.
 */
import { BREAKER_THRESHOLD, MAX_TURNS_IN_STATE } from '../common/session';
import { CopilotSessionState } from './session-state';

const SESSION = '8f0c6a9e-3c1b-4d5e-9f7a-2b4c6d8e0a1b';
const ORG = '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d';
const request = (n: number) => ({ requestId: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}` });

describe('the circuit breaker', () => {
  it('trips on the third rejection in a row, and says so only once', () => {
    const s = new CopilotSessionState(SESSION, ORG);
    expect(BREAKER_THRESHOLD).toBe(3);
    expect(s.rejected()).toBe(false);
    expect(s.rejected()).toBe(false);
    expect(s.rejected()).toBe(true);
    expect(s.breaker).toEqual({ streak: 3, tripped: true });
    expect(s.rejected()).toBe(false);
    expect(s.breaker).toEqual({ streak: 4, tripped: true });
  });

  it("trips at the streak of the org's policy the call was authorized under; a limit out of range is the default", () => {
    const s = new CopilotSessionState(SESSION, ORG);
    for (let i = 0; i < 4; i++) expect(s.rejected(5)).toBe(false);
    expect(s.rejected(5)).toBe(true);
    const forged = new CopilotSessionState(SESSION, ORG);
    forged.rejected(1000);
    forged.rejected(1000);
    expect(forged.rejected(1000)).toBe(true);
  });

  it('starts the streak over when a human approves, so rejections must be in a row', () => {
    const s = new CopilotSessionState(SESSION, ORG);
    s.rejected();
    s.rejected();
    s.approved();
    expect(s.breaker).toEqual({ streak: 0, tripped: false });
    expect(s.rejected()).toBe(false);
    expect(s.rejected()).toBe(false);
    expect(s.breaker.tripped).toBe(false);
  });

  it('stays tripped through approvals; only a reset re-arms it', () => {
    const s = new CopilotSessionState(SESSION, ORG);
    for (let i = 0; i < BREAKER_THRESHOLD; i++) s.rejected();
    s.approved();
    expect(s.breaker.tripped).toBe(true);
    s.resetBreaker();
    expect(s.breaker).toEqual({ streak: 0, tripped: false });
    expect(s.rejected()).toBe(false);
  });
});

describe('taint and the kill switch', () => {
  it('clears the taint only when a human approves', () => {
    const s = new CopilotSessionState(SESSION, ORG);
    s.tainted = true;
    s.rejected();
    expect(s.tainted).toBe(true);
    s.approved();
    expect(s.tainted).toBe(false);
  });

  it('shows the pause and a pending approval in the snapshot the console reads', () => {
    const s = new CopilotSessionState(SESSION, ORG);
    expect(s.snapshot()).toMatchObject({ sessionId: SESSION, orgId: ORG, status: 'idle', paused: false, tainted: false, pendingApproval: null });
    s.paused = true;
    s.enqueue(request(1));
    s.startNext();
    expect(s.snapshot()).toMatchObject({ status: 'working', paused: true });
    s.pendingApproval = { approvalId: 'a1', tool: 'manage_service', tier: 3, expiresAt: '2030-01-01T00:00:00.000Z' };
    expect(s.snapshot().status).toBe('waiting_approval');
  });
});

describe('turns', () => {
  it('runs queued messages in order, each with its own id, and ends each as answered, refused or failed', () => {
    const s = new CopilotSessionState(SESSION, ORG);
    const [a, b, c] = [s.enqueue(request(1)), s.enqueue(request(2)), s.enqueue(request(3))];
    expect([a.turnId, b.turnId, c.turnId]).toEqual(['t1', 't2', 't3']);
    expect(a.userId).toBe(''); // the author is known only once an activity has verified the request
    expect(s.startNext()).toEqual({ turn: a, message: request(1) });
    s.finish(a, 'done');
    expect(s.startNext()).toEqual({ turn: b, message: request(2) });
    s.refuse(b, 'budget exhausted');
    expect(s.startNext()).toEqual({ turn: c, message: request(3) });
    s.fail(c, 'x'.repeat(600));
    expect(s.hasQueued()).toBe(false);
    expect(() => s.startNext()).toThrow('no queued turn');
    expect(s.snapshot().turns.map((t) => [t.status, t.answer ?? t.error?.length])).toEqual([
      ['answered', 'done'],
      ['refused', 'budget exhausted'],
      ['failed', 500],
    ]);
  });

  it('queues an MCP tool call as a turn of its own, in order with messages, its author unknown until verified', () => {
    const s = new CopilotSessionState(SESSION, ORG);
    const call = { requestId: '00000000-0000-4000-8000-00000000000a' };
    const a = s.enqueue(request(1));
    const b = s.enqueueToolCall(call);
    expect([b.turnId, b.toolCall, b.userId]).toEqual(['t2', true, '']);
    expect(s.startNext()).toEqual({ turn: a, message: request(1) });
    expect(s.startNext()).toEqual({ turn: b, toolCall: call });
    expect(s.hasQueued()).toBe(false);
  });

  it('keeps only the latest finished turns in state; the transcript stays in the database', () => {
    const s = new CopilotSessionState(SESSION, ORG);
    for (let i = 1; i <= MAX_TURNS_IN_STATE + 5; i++) {
      s.enqueue(request(i));
      s.finish(s.startNext().turn, `answer ${i}`);
    }
    const turns = s.snapshot().turns;
    expect(turns).toHaveLength(MAX_TURNS_IN_STATE);
    expect(turns.at(-1)?.turnId).toBe(`t${MAX_TURNS_IN_STATE + 5}`);
  });
});

describe('continue-as-new', () => {
  it('carries the turns, the turn counter, the breaker, the pause and the taint into the next run', () => {
    const s = new CopilotSessionState(SESSION, ORG);
    s.enqueue(request(1));
    s.finish(s.startNext().turn, 'done');
    for (let i = 0; i < BREAKER_THRESHOLD; i++) s.rejected();
    s.paused = true;
    s.tainted = true;

    // Through JSON, as Temporal carries the next run's input.
    const next = new CopilotSessionState(SESSION, ORG, JSON.parse(JSON.stringify(s.carryOver())));
    expect(next.snapshot()).toEqual(s.snapshot());
    expect(next.breaker).toEqual({ streak: 3, tripped: true });
    // Turn ids go on from where the last run stopped, never reusing one.
    expect(next.enqueue(request(2)).turnId).toBe('t2');
  });

  it('starts a new session clean', () => {
    expect(new CopilotSessionState(SESSION, ORG).carryOver()).toEqual({ turns: [], turnCounter: 0, breaker: { streak: 0, tripped: false }, paused: false, tainted: false });
  });
});
