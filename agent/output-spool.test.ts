import crypto from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { MAX_FULL_OUTPUT_BYTES, OUTPUT_CHUNK_BYTES, PROTOCOL_VERSION } from '../common/protocol';
import { runScript } from './executors/run-script';
import { CommandJournal } from './journal';
import { OutputSpool, outputDirOf, recordStream } from './output-spool';
import { bytesOf } from '../test/bytes';

const sha256 = (data: Buffer) => crypto.createHash('sha256').update(data).digest('hex');
const tmpJournal = async () => path.join(await mkdtemp(path.join(os.tmpdir(), 'gatehouse-spool-')), 'agent.json.journal.jsonl');
const spoolFor = async () => {
  const journal = await tmpJournal();
  return { journal, dir: outputDirOf(journal), spool: new OutputSpool(outputDirOf(journal)) };
};
/** Half a megabyte of numbered lines with a marker in the middle, written by bash; the marker is built at run time. */
const SCRIPT = `for i in $(seq 1 6000); do echo "line $i of a long output"; [ $i = 3000 ] && echo "MARK""-MIDDLE"; done; echo oops >&2`;
const expectedStdout = () => {
  const lines: string[] = [];
  for (let i = 1; i <= 6000; i++) {
    lines.push(`line ${i} of a long output`);
    if (i === 3000) lines.push('MARK-MIDDLE');
  }
  return Buffer.from(`${lines.join('\n')}\n`);
};

it('spools the whole output of a script next to the journal while the result keeps only a capped head and tail', async () => {
  const { journal, dir, spool } = await spoolFor();
  const files = spool.files('s1:toolu_1:dev');
  const result = await runScript({ interpreter: 'bash', script: SCRIPT }, { output: files });

  // Inline: capped, the cut marked, the middle gone.
  expect(result.truncated).toBe(true);
  expect(result.stdout).toMatch(/\[… \d+ characters truncated …\]/);
  expect(result.stdout).not.toContain('MARK-MIDDLE');
  // On disk, beside the journal: every byte, described exactly.
  const expected = expectedStdout();
  expect(path.dirname(files.file('stdout'))).toBe(dir);
  expect(path.dirname(dir)).toBe(path.dirname(journal));
  expect(bytesOf(readFileSync(files.file('stdout')))).toEqual(bytesOf(expected));
  expect(readFileSync(files.file('stderr'), 'utf8')).toBe('oops\n');
  expect(result.fullOutput).toEqual({
    stdout: { bytes: expected.length, totalBytes: expected.length, sha256: sha256(expected), cut: false },
    stderr: { bytes: 5, totalBytes: 5, sha256: sha256(Buffer.from('oops\n')), cut: false },
  });
});

it('stores nothing past the endpoint limit, and says the stream was cut and by how much', async () => {
  const { spool } = await spoolFor();
  const files = spool.files('s1:toolu_2:dev');
  const total = MAX_FULL_OUTPUT_BYTES + 300_000;
  const result = await runScript({ interpreter: 'bash', script: `head -c ${total} /dev/zero | tr '\\0' y; echo -n END` }, { output: files });

  expect(statSync(files.file('stdout')).size).toBe(MAX_FULL_OUTPUT_BYTES);
  expect(result.fullOutput?.stdout).toEqual({
    bytes: MAX_FULL_OUTPUT_BYTES,
    totalBytes: total + 3,
    sha256: sha256(Buffer.alloc(MAX_FULL_OUTPUT_BYTES, 'y')),
    cut: true,
  });
  // The inline text still shows the true end of the stream.
  expect(result.stdout.endsWith('yyyEND')).toBe(true);
});

it('gives the capped text whole characters when a UTF-8 character arrives split across reads', async () => {
  const text = 'Grüße aus Zürich — ✓ 🎉';
  const bytes = Buffer.from(text);
  const pieces = [bytes.subarray(0, 3), bytes.subarray(3, 4), bytes.subarray(4, 26), bytes.subarray(26)];
  let seen = '';
  const described = await recordStream(Readable.from(pieces), undefined, (t) => (seen += t));
  expect(seen).toBe(text);
  expect(described).toEqual({ bytes: bytes.length, totalBytes: bytes.length, sha256: sha256(bytes), cut: false });
});

it('reads the spool back in upload order: full chunks, then the rest, up to what the result declared', async () => {
  const { spool } = await spoolFor();
  const files = spool.files('s1:toolu_3:dev');
  const total = 2 * OUTPUT_CHUNK_BYTES + 1000;
  const result = await runScript({ interpreter: 'bash', script: `head -c ${total} /dev/urandom` }, { output: files });
  const chunks: { seq: number; data: Buffer }[] = [];
  for await (const c of spool.chunks('s1:toolu_3:dev', 'stdout', result.fullOutput!.stdout.bytes)) chunks.push(c);

  expect(chunks.map((c) => [c.seq, c.data.length])).toEqual([
    [0, OUTPUT_CHUNK_BYTES],
    [1, OUTPUT_CHUNK_BYTES],
    [2, 1000],
  ]);
  expect(sha256(Buffer.concat(chunks.map((c) => c.data)))).toBe(result.fullOutput!.stdout.sha256);
  // An empty stream has nothing to send, and a stream whose file is gone neither.
  const none: unknown[] = [];
  for await (const c of spool.chunks('s1:toolu_3:dev', 'stderr', 0)) none.push(c);
  for await (const c of spool.chunks('never-ran', 'stdout', 10)) none.push(c);
  expect(none).toEqual([]);
});

it('keeps the spool of a result not yet acknowledged across a restart, and drops the rest', async () => {
  const { journal: file, dir, spool } = await spoolFor();
  const journal = CommandJournal.open(file);
  const now = () => new Date().toISOString();
  for (const id of ['acked', 'waiting']) {
    await journal.started(id, 'run_script');
    await runScript({ interpreter: 'bash', script: `echo ${id}` }, { output: spool.files(id) });
    await journal.finished({ v: PROTOCOL_VERSION, commandId: id, ok: true, output: {}, startedAt: now(), finishedAt: now() });
  }
  await journal.acked('acked');
  // Interrupted mid-write: started, never finished. After the restart it is reported as interrupted, its partial
  // output is never uploaded, and its file goes once that report is acknowledged.
  await journal.started('interrupted', 'run_script');
  await runScript({ interpreter: 'bash', script: 'echo partial' }, { output: spool.files('interrupted') });
  expect(readdirSync(dir)).toHaveLength(6);

  // What the agent does when it starts again.
  const reopened = CommandJournal.open(file);
  new OutputSpool(dir).prune(reopened.unacked());
  expect(existsSync(spool.files('acked').file('stdout'))).toBe(false);
  expect(readFileSync(spool.files('waiting').file('stdout'), 'utf8')).toBe('waiting\n');
  expect(existsSync(spool.files('interrupted').file('stdout'))).toBe(true);

  // Acknowledged: gone.
  for (const id of ['waiting', 'interrupted']) {
    await reopened.acked(id);
    spool.remove(id);
  }
  await Promise.all([journal.close(), reopened.close()]);
  expect(readdirSync(dir)).toEqual([]);
});

it('leaves no spool directory behind for an agent whose commands never write one', async () => {
  const { dir } = await spoolFor();
  const spool = new OutputSpool(dir);
  spool.files('s1:toolu_4:dev');
  spool.prune([]);
  spool.remove('s1:toolu_4:dev');
  expect(existsSync(dir)).toBe(false);
});
