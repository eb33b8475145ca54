/**
 * Turn ends heard on this api node: the `turn:ended` session event the workflow sends (over NOTIFY, relayed here by
 * server.ts) once its state says the turn ended. A wait that would otherwise poll the workflow (an MCP client's
 * tool call) is woken by it and reads the turn at once. A hint only: the wait still reads the workflow's state, and
 * still polls, so a missed event costs a poll's delay and nothing else.
 */
import type { SessionEvent } from '../common/console-protocol';

export class TurnEnds {
  private readonly waiting = new Map<string, Set<() => void>>();

  /** Called with every session event this node hears. */
  told(event: SessionEvent): void {
    if (event.type !== 'turn:ended') return;
    for (const wake of this.waiting.get(keyOf(event.sessionId, event.turnId)) ?? []) wake();
  }

  /**
   * Listens for the turn's end from now on: `heard` resolves when it is told (once), `stop()` forgets the listener.
   * Listen before reading the turn, so an end told between the read and the wait is not missed.
   */
  listen(sessionId: string, turnId: string): { heard: Promise<void>; stop(): void } {
    const key = keyOf(sessionId, turnId);
    let wake!: () => void;
    const heard = new Promise<void>((resolve) => (wake = resolve));
    const set = this.waiting.get(key) ?? new Set();
    set.add(wake);
    this.waiting.set(key, set);
    return {
      heard,
      stop: () => {
        set.delete(wake);
        if (set.size === 0 && this.waiting.get(key) === set) this.waiting.delete(key);
      },
    };
  }
}

const keyOf = (sessionId: string, turnId: string) => `${sessionId}\u0000${turnId}`;
