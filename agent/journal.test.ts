import { mkdtemp, readFile, writeFile, appendFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PROTOCOL_VERSION, type CommandResult } from '../common/protocol';
import { CommandJournal } from './journal';

const result = (commandId: string): CommandResult => ({ v: PROTOCOL_VERSION, commandId, ok: true, output: { done: true }, startedAt: new Date().toISOString(), finishedAt: new Date().toISOString() });
const tmpFile = async () => path.join(await mkdtemp(path.join(os.tmpdir(), 'gatehouse-journal-')), 'agent.json.journal.jsonl');

it('answers a finished command from disk after a restart, and sends unacknowledged results again', async () => {
  const file = await tmpFile();
  const before = CommandJournal.open(file);
  before.started('c1', 'system_info');
  before.finished(result('c1'));
  const after = CommandJournal.open(file);
  expect(after.seen('c1')).toBe(true);
  expect(after.result('c1')).toMatchObject({ commandId: 'c1', ok: true });
  expect(after.unacked()).toEqual(['c1']);
  after.acked('c1');
  expect(CommandJournal.open(file).unacked()).toEqual([]);
});

it('never starts again a command that was running when the agent died: it is reported as interrupted', async () => {
  const file = await tmpFile();
  CommandJournal.open(file).started('c2', 'run_script');
  const after = CommandJournal.open(file);
  expect(after.result('c2')).toMatchObject({ ok: false, error: { code: 'INTERRUPTED' } });
  expect(after.unacked()).toEqual(['c2']);
  expect(CommandJournal.startsIn(file).get('c2')).toBe(1);
});

it('ignores a line torn by a crash, and drops acknowledged commands older than a week', async () => {
  const file = await tmpFile();
  const j = CommandJournal.open(file);
  j.started('old', 'list_services');
  j.finished(result('old'));
  j.acked('old');
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
