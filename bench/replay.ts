/**
 * bench/replay: what `npm run audit -- replay` does, for 100 exported histories: replay each against the current
 * workflow code (one replay worker for the batch, Worker.runReplayHistories) and build its timeline. The inputs
 * are the committed fixtures (sessions with reads, approvals, a breaker trip, a remediation and its child across a
 * worker restart), cycled to 100. Baseline in the same run: 100 copies of the smallest committed history, so the
 * ratio says what the bigger ones cost. Goal: the 100 under 60 s. The fixtures are encrypted with a bench key first,
 * as exports are, so each replay and timeline pays for decrypting them.
 *   npm run bench -- replay [--n 100]
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import crypto from 'node:crypto';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { timelineOf } from '../audit/timeline';
import { decodeHistory, encodeHistory } from '../lib/history-payloads';
import { dataConverterOf, EncryptionCodec } from '../lib/payload-codec';
import { WORKFLOWS_PATH } from '../worker/create-worker';
import { emit } from './stats';

const dir = path.resolve(__dirname, '..', 'test', 'fixtures', 'histories');
const ids = JSON.parse(readFileSync(path.join(dir, 'workflow-ids.json'), 'utf8')) as Record<string, string>;

const codec = new EncryptionCodec([{ id: 'bench', key: crypto.randomBytes(32) }]);

async function replayAll(files: string[]): Promise<{ seconds: number; events: number; failures: number }> {
  const loaded = await Promise.all(
    files.map(async (file, i) => ({ file, encrypted: await encodeHistory(historyFromJSON(JSON.parse(readFileSync(path.join(dir, file), 'utf8'))), codec), id: `${ids[file] ?? file}#${i}` })),
  );
  const t0 = performance.now();
  let events = 0;
  let failures = 0;
  const histories = [];
  for (const h of loaded) {
    events += h.encrypted.events?.length ?? 0;
    timelineOf(h.id, await decodeHistory(h.encrypted, codec));
    // The real id matters where the code derives ids from it (a remediation's child); the suffix keeps each unique.
    histories.push({ workflowId: ids[h.file] ?? h.file, history: h.encrypted });
  }
  for await (const result of Worker.runReplayHistories({ workflowsPath: WORKFLOWS_PATH, dataConverter: dataConverterOf(codec) }, histories)) {
    if (result.error) failures += 1;
  }
  return { seconds: (performance.now() - t0) / 1000, events, failures };
}

export async function runReplayBench(n: number): Promise<void> {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // bench/run.ts loads the test harness for the other benches, which installs one already
  }
  const fixtures = readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'workflow-ids.json').sort();
  const count = n === 200 ? 100 : n;
  const mixed = Array.from({ length: count }, (_, i) => fixtures[i % fixtures.length]!);
  const smallest = fixtures.reduce((a, b) => (readFileSync(path.join(dir, a)).length <= readFileSync(path.join(dir, b)).length ? a : b));
  const baseline = await replayAll(Array.from({ length: count }, () => smallest));
  emit({ bench: 'replay', input: `baseline: ${count} × ${smallest}`, ...round(baseline) });
  const measured = await replayAll(mixed);
  emit({ bench: 'replay', input: `${count} exported histories (${fixtures.length} kinds)`, ...round(measured) });
  emit({
    bench: 'replay',
    summary: true,
    histories: count,
    seconds: round(measured).seconds,
    perHistoryMs: Math.round((measured.seconds * 1000) / count),
    ratioToBaseline: Math.round((measured.seconds / baseline.seconds) * 100) / 100,
    failures: measured.failures + baseline.failures,
    goal: { seconds: 60 },
  });
  if (measured.failures || baseline.failures) throw new Error(`${measured.failures + baseline.failures} histories did not replay`);
}

const round = (r: { seconds: number; events: number; failures: number }) => ({ ...r, seconds: Math.round(r.seconds * 100) / 100 });
