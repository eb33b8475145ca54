/**
 * The full output of commands, spooled to disk next to the command journal: one file per command and stream,
 * written as the command runs (never held in memory), up to MAX_FULL_OUTPUT_BYTES per stream. Past that limit the
 * stream is still read (and counted, and shown in the capped text) but nothing more is stored, and the description
 * says it was cut.
 *
 * The files are fsynced before the command's result is journaled, are uploaded in chunks before the result is
 * sent (connection.ts), survive a restart while the result is unacknowledged, and are deleted once it is.
 */
import crypto from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { MAX_FULL_OUTPUT_BYTES, OUTPUT_CHUNK_BYTES, type FullOutputStream, type OutputStream } from '../common/protocol';

/** Where one command's streams go. */
export interface OutputFiles {
  file(stream: OutputStream): string;
}

/**
 * Copies `source` to `file` (when given) up to `limit` bytes, and hands all of its text to `onText` (for the capped
 * head and tail). Backpressure runs through: a slow disk slows the command down rather than filling memory. Resolves
 * once the bytes are on disk.
 */
export async function recordStream(source: Readable, file: string | undefined, onText: (text: string) => void, limit = MAX_FULL_OUTPUT_BYTES): Promise<FullOutputStream> {
  const decoder = new StringDecoder('utf8');
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  let totalBytes = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      totalBytes += chunk.length;
      onText(decoder.write(chunk));
      const kept = chunk.subarray(0, Math.max(0, limit - bytes));
      bytes += kept.length;
      hash.update(kept);
      done(null, kept.length ? kept : undefined);
    },
    flush(done) {
      const rest = decoder.end();
      if (rest) onText(rest);
      done();
    },
  });
  const sink = file ? createWriteStream(file, { mode: 0o600 }) : new Writable({ write: (_c, _e, done) => done() });
  await pipeline(source, meter, sink);
  if (file) {
    // On disk before the result is journaled: a restart must find what the result describes.
    const handle = await open(file, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
  return { bytes, totalBytes, sha256: hash.digest('hex'), cut: totalBytes > bytes };
}

/** The spool directory of an agent whose command journal is `journalFile`: beside it. */
export function outputDirOf(journalFile: string): string {
  return path.join(path.dirname(journalFile), `${path.basename(journalFile, '.jsonl')}.output`);
}

export class OutputSpool {
  private made = false;
  constructor(private readonly dir: string) {}

  /** Command ids hold `:`; file names are a digest of the id, so any id makes a short, portable name. */
  private static key(commandId: string): string {
    return crypto.createHash('sha256').update(commandId).digest('hex').slice(0, 40);
  }

  /** Made on first use: an agent whose executor never spools (the simulated ones) leaves no directory behind. */
  files(commandId: string): OutputFiles {
    const key = OutputSpool.key(commandId);
    return {
      file: (stream) => {
        if (!this.made) mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        this.made = true;
        return path.join(this.dir, `${key}.${stream}`);
      },
    };
  }

  private path(commandId: string, stream: OutputStream): string {
    return path.join(this.dir, `${OutputSpool.key(commandId)}.${stream}`);
  }

  /**
   * The spooled stream in upload order, OUTPUT_CHUNK_BYTES at a time, up to `bytes` (what the result declared).
   * Nothing when the file is gone (already acknowledged and deleted).
   */
  async *chunks(commandId: string, stream: OutputStream, bytes: number): AsyncGenerator<{ seq: number; data: Buffer }> {
    const file = this.path(commandId, stream);
    if (!existsSync(file)) return;
    const handle = await open(file, 'r');
    try {
      for (let seq = 0; seq * OUTPUT_CHUNK_BYTES < bytes; seq++) {
        const want = Math.min(OUTPUT_CHUNK_BYTES, bytes - seq * OUTPUT_CHUNK_BYTES);
        const data = Buffer.alloc(want);
        const { bytesRead } = await handle.read(data, 0, want, seq * OUTPUT_CHUNK_BYTES);
        if (bytesRead === 0) return; // shorter than declared: the server will say the copy is incomplete
        yield { seq, data: data.subarray(0, bytesRead) };
        if (bytesRead < want) return;
      }
    } finally {
      await handle.close();
    }
  }

  remove(commandId: string): void {
    for (const stream of ['stdout', 'stderr'] as const) rmSync(this.path(commandId, stream), { force: true });
  }

  /** Deletes every spool file except those of `keep` (on start: the results still waiting for an acknowledgement). */
  prune(keep: Iterable<string>): void {
    if (!existsSync(this.dir)) return;
    const kept = new Set([...keep].map(OutputSpool.key));
    for (const name of readdirSync(this.dir)) {
      if (!kept.has(name.split('.')[0] ?? '')) rmSync(path.join(this.dir, name), { force: true });
    }
  }
}
