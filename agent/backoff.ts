/**
 * How long an agent waits before it tries to connect again: exponential back-off with full jitter and a cap
 * (anywhere in 0 to min(cap, base × 2^attempt), uniformly), starting over once connected.
 *
 * socket.io-client's own back-off is not that: its "jitter" picks from ten bands between 0.1 and 2 times the delay
 * and then clips at the maximum, so with the agent's former settings (2.5 s, at most 15 s) 30% of a fleet waited
 * exactly the maximum at the third attempt, 65% at the fourth and 83% at the fifth: a restarted node's agents came
 * back in pulses of the maximum instead of spread over it. The agent therefore turns the client's reconnection off
 * and schedules every attempt itself.
 */
export interface BackoffOptions {
  /** The first attempt's window: 0 to baseMs. */
  baseMs: number;
  /** No window is wider than this: the longest an agent waits between two attempts. */
  capMs: number;
  /** [0, 1); Math.random unless a test fixes it. */
  random?: () => number;
}

/** The window of the attempt-th retry (0-based): min(cap, base × 2^attempt). */
export function backoffWindowMs(attempt: number, opts: Pick<BackoffOptions, 'baseMs' | 'capMs'>): number {
  // 2^attempt overflows to Infinity long after the cap is reached; min() keeps the window finite.
  return Math.min(opts.capMs, opts.baseMs * 2 ** Math.max(0, attempt));
}

export class Backoff {
  private attempt = 0;
  private readonly random: () => number;

  constructor(private readonly opts: BackoffOptions) {
    if (!(opts.baseMs > 0) || !(opts.capMs >= opts.baseMs)) throw new Error(`back-off needs 0 < baseMs <= capMs (got ${opts.baseMs}, ${opts.capMs})`);
    this.random = opts.random ?? Math.random;
  }

  /** The delay before the next attempt, and counts it. */
  next(): number {
    const delay = this.random() * backoffWindowMs(this.attempt, this.opts);
    this.attempt += 1;
    return delay;
  }

  /** Connected: the next loss starts again from the first window. */
  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
