/**
 * The hints a workflow gets that its device commands ended: the `commandResults` signal, sent by the api node that
 * recorded a result (or saw a command expire). Anyone who reaches Temporal can send it, so a hint decides nothing:
 * it is kept until the workflow reads the commands' rows (`readCommandOutcomes`), and only for a command the
 * workflow is waiting for. Plain and deterministic: no Temporal calls, so the session state can hold one.
 */
import { CommandResults, type CommandOutcome } from '../common/session';

export interface CommandClaim {
  commandId: string;
  status: CommandOutcome;
  /**
   * Set when this very claim was read before (a kept hint read again, see `claims()`): the read audits a contradiction
   * once, not at every recheck.
   */
  reread?: true;
}

export class CommandHints {
  private readonly hints = new Map<string, CommandOutcome>();
  /** What each kept hint claimed when it was last read (`claims()`): read again unchanged, it is a reread. */
  private readonly read = new Map<string, CommandOutcome>();

  /** `awaited`: whether the workflow is waiting for this command now (a hint for any other is dropped). */
  constructor(private readonly awaited: (commandId: string) => boolean) {}

  /** The signal's handler: a malformed payload is dropped whole. */
  readonly add = (raw: unknown): void => {
    const parsed = CommandResults.safeParse(raw);
    if (!parsed.success) return;
    for (const r of parsed.data.results) if (this.awaited(r.commandId)) this.hints.set(r.commandId, r.status);
  };

  get size(): number {
    return this.hints.size;
  }

  /**
   * How many hints are for commands the workflow still waits for, dropping the others first. A hint is checked at
   * the moment the workflow uses it, not only when it arrived: a replay may resolve a local activity (which settles
   * the command) before a signal that the live run had handled just ahead of that resolution, and the two runs must
   * see the same hints.
   */
  pending(): number {
    for (const id of [...this.hints.keys()]) if (!this.awaited(id)) this.drop(id);
    return this.hints.size;
  }

  /** Hints for these commands are dropped: the workflow stopped waiting for them before they were made. */
  forget(commandIds: Iterable<string>): void {
    for (const id of commandIds) this.drop(id);
  }

  private drop(commandId: string): void {
    this.hints.delete(commandId);
    this.read.delete(commandId);
  }

  /**
   * The hints to check against the rows, kept until their commands are settled (`pending()` drops them then).
   * What a read claimed must not change what the workflow holds afterwards: a replay delivers a timed-out workflow
   * task's signals together with the next task's, so it may claim a hint the live run only got after its read had
   * started, while the read's result is the live run's, recorded. Only that result, which settles commands, is the
   * same in both.
   * A claim read before with the same status is marked `reread`, so that one forged hint is audited once, not at every
   * recheck. (Only the audit depends on it, and a replay does not run the read: the replay's marks need not match.)
   */
  claims(): CommandClaim[] {
    return [...this.hints].map(([commandId, status]) => {
      const reread = this.read.get(commandId) === status;
      this.read.set(commandId, status);
      return reread ? { commandId, status, reread: true } : { commandId, status };
    });
  }

  /** The hints to check against the rows, each once (dropped as they are read). */
  take(): CommandClaim[] {
    const claims = [...this.hints].map(([commandId, status]) => ({ commandId, status }));
    this.hints.clear();
    return claims;
  }
}
