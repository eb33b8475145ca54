import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PROTOCOL_VERSION, type CommandResult } from '../common/protocol';
import { CommandJournal } from './journal';

const result = (commandId: string): CommandResult => ({ v: PROTOCOL_VERSION, commandId, ok: true, output: { done: true }, startedAt: new Date().toISOString(), finishedAt: new Date().toISOString() });
const tmpFile = async () => path.join(await mkdtemp(path.join(os.tmpdir(), 'gatehouse-journal-')), 'agent.json.journal.jsonl');

it('answers a finished command from disk after a restart, and sends unacknowledged results again', async () => {
  const file = await tmpFile();
  const before = CommandJournal.open(file);
  await before.started('c1', 'system_info');
  await before.finished(result('c1'));
  const after = CommandJournal.open(file);
  expect(after.seen('c1')).toBe(true);
  expect(after.result('c1')).toMatchObject({ commandId: 'c1', ok: true });
  expect(after.unacked()).toEqual(['c1']);
  await after.acked('c1');
  await Promise.all([before.close(), after.close()]);
  expect(CommandJournal.open(file).unacked()).toEqual([]);
});

it('never starts again a command that was running when the agent died: it is reported as interrupted', async () => {
  const file = await tmpFile();
  const before = CommandJournal.open(file);
  await before.started('c2', 'run_script');
  await before.close();
  const after = CommandJournal.open(file);
  expect(after.result('c2')).toMatchObject({ ok: false, error: { code: 'INTERRUPTED' } });
  expect(after.unacked()).toEqual(['c2']);
  expect(CommandJournal.startsIn(file).get('c2')).toBe(1);
});

it('ignores a line torn by a crash, and drops acknowledged commands older than a week', async () => {
  const file = await tmpFile();
  const j = CommandJournal.open(file);
  await j.started('old', 'list_services');
  await j.finished(result('old'));
  await j.acked('old');
  await j.close();
  await appendFile(file, '{"e":"started","id":"torn","ki');
  const eightDaysLater = Date.now() + 8 * 24 * 3600 * 1000;
  const later = CommandJournal.open(file, eightDaysLater);
  expect(later.seen('old')).toBe(false);
  expect(later.seen('torn')).toBe(false);
  expect((await readFile(file, 'utf8')).trim()).toBe('');
});

it('keeps a double start visible through compaction', async () => {
  const file = await tmpFile();
  const line = JSON.stringify({ e: 'started', id: 'c3', kind: 'system_info', at: Date.now() });
  await writeFile(file, `${line}\n${line}\n`);
  CommandJournal.open(file);
  expect(CommandJournal.startsIn(file).get('c3')).toBe(2);
});

it('writes entries in the order they were made, even when nobody waits between them', async () => {
  const file = await tmpFile();
  const j = CommandJournal.open(file);
  await Promise.all([j.started('c4', 'system_info'), j.finished(result('c4')), j.acked('c4'), j.started('c5', 'system_info')]);
  await j.close();
  const entries = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { e: string; id: string });
  expect(entries.map((e) => `${e.e}:${e.id}`)).toEqual(['started:c4', 'finished:c4', 'acked:c4', 'started:c5']);
});

it('rejects a start it cannot put on disk, so the command is not run', async () => {
  const file = await tmpFile();
  const j = CommandJournal.open(file);
  await rm(path.dirname(file), { recursive: true });
  await expect(j.started('c6', 'run_script')).rejects.toThrow(/ENOENT/);
  // The next write is not blocked by the failed one.
  await mkdir(path.dirname(file));
  await j.started('c7', 'run_script');
  await j.close();
  expect(CommandJournal.startsIn(file).get('c7')).toBe(1);
});
