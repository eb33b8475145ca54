/**
 * Every committed history must replay against the current workflow code. A change that breaks determinism fails
 * here; the fix is `patched()` in the workflow, never a re-recorded fixture.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { WORKFLOWS_PATH } from '../worker/create-worker';

const fixtures = path.resolve(__dirname, '..', 'test', 'fixtures');
const histories = readdirSync(path.join(fixtures, 'histories')).filter((f) => f.endsWith('.json'));
const load = (file: string) => historyFromJSON(JSON.parse(readFileSync(path.join(fixtures, 'histories', file), 'utf8')));

beforeAll(() => {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // already installed in this jest worker
  }
});

it('has the committed copilotSession histories: reads, approvals, a breaker trip', () => {
  expect(histories).toEqual(expect.arrayContaining(['copilot-session-two-turns.json', 'copilot-session-approvals.json', 'copilot-session-breaker.json']));
});

it.each(histories)('replays %s against the current workflow code', async (file) => {
  await expect(Worker.runReplayHistory({ workflowsPath: WORKFLOWS_PATH }, load(file), file)).resolves.toBeUndefined();
});

it('catches a non-deterministic change to the workflow', async () => {
  const reordered = path.join(fixtures, 'workflows', 'copilot-session-reordered.ts');
  const replay = Worker.runReplayHistory({ workflowsPath: reordered }, load('copilot-session-two-turns.json'), 'reordered');
  await expect(replay).rejects.toBeInstanceOf(DeterminismViolationError);
});
