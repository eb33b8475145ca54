/**
 * The agent's command journal: an append-only JSON-lines file next to the credential, written (and fsynced)
 * before a command starts and when it finishes. It makes every command run at most once on this machine, across
 * reconnects and restarts alike:
 *
 * - a redelivered command that finished is answered with the stored result and not run again;
 * - a command that was running when the agent died is never started again: it is reported as INTERRUPTED, since
 *   nobody can tell how far it got (a half-run script must not run a second time);
 * - results the server has not acknowledged are sent again after a restart.
 *
 * On open the file is compacted: acknowledged commands older than RETENTION_MS are dropped.
 *
 * Writes go through the thread pool, one at a time and in order, and callers await them (a command runs only once
 * its start is on disk): the event loop never waits for the disk, which matters to an agent that must keep
 * answering its gateway, and to `--simulate`, where a thousand endpoints share one process.
 */
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { z } from 'zod';
import { CommandResult, PROTOCOL_VERSION } from '../common/protocol';

const RETENTION_MS = 7 * 24 * 3600 * 1000;

const Entry = z.discriminatedUnion('e', [
  z.object({ e: z.literal('started'), id: z.string(), kind: z.string(), at: z.number() }),
  z.object({ e: z.literal('finished'), id: z.string(), result: CommandResult, at: z.number() }),
  z.object({ e: z.literal('acked'), id: z.string(), at: z.number() }),
]);
type Entry = z.infer<typeof Entry>;

interface Record {
  kind: string;
  startedAt: number;
  /** Always 1 unless something went wrong; kept through compaction so a double start stays visible. */
  starts: number;
  result?: CommandResult;
  ackedAt?: number;
}

export class CommandJournal {
  private readonly records = new Map<string, Record>();

  private constructor(private readonly file: string) {}

  /** Reads the journal (a torn last line from a crash is ignored), compacts it, and settles interrupted commands. */
  static open(file: string, now = Date.now()): CommandJournal {
    const journal = new CommandJournal(file);
    if (existsSync(file)) {
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        let entry: Entry;
        try {
          entry = Entry.parse(JSON.parse(line));
        } catch {
          continue;
        }
        journal.apply(entry);
      }
    }
    // Interrupted: recorded as such (by the compaction below), so they are reported and never started again.
    for (const [id, r] of journal.records) {
      if (r.result) continue;
      r.result = {
        v: PROTOCOL_VERSION,
        commandId: id,
        ok: false,
        error: { code: 'INTERRUPTED', message: 'the agent stopped while this command was running; it was not run again (check the device before retrying)' },
        startedAt: new Date(r.startedAt).toISOString(),
        finishedAt: new Date(now).toISOString(),
      };
    }
    journal.compact(now);
    return journal;
  }

  private apply(entry: Entry): void {
    if (entry.e === 'started') {
      const known = this.records.get(entry.id);
      if (known) known.starts += 1;
      else this.records.set(entry.id, { kind: entry.kind, startedAt: entry.at, starts: 1 });
    }
    const r = this.records.get(entry.id);
    if (!r) return;
    if (entry.e === 'finished') r.result = entry.result;
    if (entry.e === 'acked') r.ackedAt = entry.at;
  }

  private compact(now: number): void {
    for (const [id, r] of this.records) if (r.ackedAt && now - r.ackedAt > RETENTION_MS) this.records.delete(id);
    const lines: string[] = [];
    for (const [id, r] of this.records) {
      for (let i = 0; i < r.starts; i++) lines.push(JSON.stringify({ e: 'started', id, kind: r.kind, at: r.startedAt }));
      if (r.result) lines.push(JSON.stringify({ e: 'finished', id, result: r.result, at: r.startedAt }));
      if (r.ackedAt) lines.push(JSON.stringify({ e: 'acked', id, at: r.ackedAt }));
    }
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, lines.length ? `${lines.join('\n')}\n` : '');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }

  /** The last write queued: each append starts once the one before it is on disk. */
  private writing: Promise<void> = Promise.resolve();
  /** Opened at the first append and kept; dropped after a failed write, so the next one opens the file again. */
  private handle: FileHandle | undefined;

  /**
   * Known in memory at once (a redelivery arriving meanwhile finds it), on disk when the promise resolves. A write
   * that fails rejects, and the command it was for must not run: nothing could prove later that it had. `durable`
   * waits for the disk itself (fdatasync); without it the line is in the operating system's hands, which survives
   * the agent's own crash but not the machine's.
   */
  private append(entry: Entry, durable = true): Promise<void> {
    this.apply(entry);
    const line = `${JSON.stringify(entry)}\n`;
    const written = this.writing.then(async () => {
      try {
        this.handle ??= await open(this.file, 'a', 0o600);
        await this.handle.write(line);
        if (durable) await this.handle.datasync();
      } catch (err) {
        const broken = this.handle;
        this.handle = undefined;
        await broken?.close().catch(() => undefined);
        throw err;
      }
    });
    this.writing = written.catch(() => undefined);
    return written;
  }

  /** Waits for the writes queued so far and closes the file. */
  async close(): Promise<void> {
    await this.writing;
    const handle = this.handle;
    this.handle = undefined;
    await handle?.close();
  }

  /** Whether the command was ever started here (finished, running, or interrupted). */
  seen(commandId: string): boolean {
    return this.records.has(commandId);
  }

  result(commandId: string): CommandResult | undefined {
    return this.records.get(commandId)?.result;
  }

  /** Awaited before the command runs: from here on it never runs again. */
  started(commandId: string, kind: string): Promise<void> {
    return this.append({ e: 'started', id: commandId, kind, at: Date.now() });
  }

  finished(result: CommandResult): Promise<void> {
    return this.append({ e: 'finished', id: result.commandId, result, at: Date.now() });
  }

  /** Not waited for on disk: a lost acknowledgement only sends the result once more, and the gateway knows it. */
  acked(commandId: string): Promise<void> {
    if (this.records.get(commandId)?.ackedAt) return Promise.resolve();
    return this.append({ e: 'acked', id: commandId, at: Date.now() }, false);
  }

  isAcked(commandId: string): boolean {
    return Boolean(this.records.get(commandId)?.ackedAt);
  }

  /** Finished results the server has not acknowledged yet (sent on every connect). */
  unacked(): string[] {
    return [...this.records].filter(([, r]) => r.result && !r.ackedAt).map(([id]) => id);
  }

  /** How many times each command was started (the tests read this from the file itself). */
  static startsIn(file: string): Map<string, number> {
    const counts = new Map<string, number>();
    if (!existsSync(file)) return counts;
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      try {
        const entry = Entry.parse(JSON.parse(line));
        if (entry.e === 'started') counts.set(entry.id, (counts.get(entry.id) ?? 0) + 1);
      } catch {
        // torn or blank line
      }
    }
    return counts;
  }
}
