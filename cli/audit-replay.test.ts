/**
 * `npm run audit -- replay <file>` on a bare history file, as an auditor downloads one from the Temporal Web UI:
 * the workflow id comes from the history itself, a history that does not tell is a usage error naming
 * `--workflow-id` (never a "nondeterminism" report), and a real nondeterminism is still reported. Runs the CLI as
 * an auditor would; no database or Temporal server is needed to replay a file.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { PayloadCodec } from '@temporalio/common';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import type { temporal } from '@temporalio/proto';
import { workflowIdOfHistory } from '../audit/history-workflow-id';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..');
const fixtures = path.join(root, 'test', 'fixtures', 'histories');
const ids = JSON.parse(readFileSync(path.join(fixtures, 'workflow-ids.json'), 'utf8')) as Record<string, string>;
const sessionWithChild = 'copilot-session-remediation.json';
let dir: string;

type HistoryJson = { events: Record<string, any>[] };
const fixture = async (file: string): Promise<HistoryJson> => JSON.parse(await readFile(path.join(fixtures, file), 'utf8'));
const startOf = (h: HistoryJson) => h.events[0]!.workflowExecutionStartedEventAttributes;
/** A history as servers that do not record the workflow id in the start event write it (and the Web UI downloads it). */
const withoutRecordedId = (h: HistoryJson): HistoryJson => {
  delete startOf(h).workflowId;
  return h;
};
const write = async (name: string, h: HistoryJson) => {
  const file = path.join(dir, name);
  await writeFile(file, JSON.stringify(h));
  return file;
};

async function audit(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', path.join(root, 'cli', 'audit.ts'), ...args], { cwd: root, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-replay-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('replaying one history file', () => {
  it('replays a session with a remediation child without --workflow-id', async () => {
    const res = await audit('replay', path.join(fixtures, sessionWithChild));
    expect(res.stdout).not.toMatch(/DOES NOT REPLAY|[Nn]ondeterminism/);
    expect(res.stdout).toMatch(new RegExp(`^replays: ${ids[sessionWithChild]} `, 'm'));
    expect(res.code).toBe(0);
  });

  it('replays it when the server did not record the workflow id: the id comes from the session input', async () => {
    const file = await write('no-recorded-id.json', withoutRecordedId(await fixture(sessionWithChild)));
    const res = await audit('replay', file);
    expect(res.stdout).toMatch(new RegExp(`^replays: ${ids[sessionWithChild]} `, 'm'));
    expect(res.code).toBe(0);
  });

  it('asks plainly for --workflow-id when the history does not tell, and replays nothing', async () => {
    const file = await write('remediation-no-id.json', withoutRecordedId(await fixture('remediation-batched.json')));
    const res = await audit('replay', file);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`replay of ${file} needs --workflow-id <the id it ran under>`);
    expect(`${res.stdout}${res.stderr}`).not.toMatch(/DOES NOT REPLAY|[Nn]ondeterminism/);

    const given = await audit('replay', file, '--workflow-id', ids['remediation-batched.json']!);
    expect(given.stdout).toMatch(/^replays: /m);
    expect(given.code).toBe(0);
  });

  it('refuses a --workflow-id other than the one the history records', async () => {
    const res = await audit('replay', path.join(fixtures, sessionWithChild), '--workflow-id', 'copilot-session-remediation');
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(`ran under the workflow id ${ids[sessionWithChild]}, not copilot-session-remediation`);
  });

  it('still reports a history the current code cannot have made as DOES NOT REPLAY', async () => {
    const altered = await fixture(sessionWithChild);
    const scheduled = altered.events.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'authorizeToolCall')!;
    scheduled.activityTaskScheduledEventAttributes.activityType.name = 'runAnythingWithoutAsking';
    const res = await audit('replay', await write('altered.json', altered));
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(new RegExp(`^DOES NOT REPLAY: ${ids[sessionWithChild]} .*nondeterminism`, 'm'));
  });
});

describe('the workflow id of a history', () => {
  const parse = (h: HistoryJson) => historyFromJSON(h) as temporal.api.history.v1.IHistory;

  it('is read from a session input encoded by a codec only when that codec is given', async () => {
    // Stands in for the encryption codec: the payload is unreadable to the default converter without it.
    const reversed: PayloadCodec = {
      encode: async (payloads) => payloads.map((p) => ({ metadata: { encoding: Buffer.from('binary/reversed') }, data: Buffer.from(p.data!).reverse() })),
      decode: async (payloads) => payloads.map((p) => ({ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from(p.data!).reverse() })),
    };
    const h = withoutRecordedId(await fixture('copilot-session-two-turns.json'));
    const payload = startOf(h).input.payloads[0];
    payload.data = Buffer.from(payload.data, 'base64').reverse().toString('base64');
    payload.metadata.encoding = Buffer.from('binary/reversed').toString('base64');

    const without = await workflowIdOfHistory(parse(h));
    expect(without).toEqual({ workflowId: null, reason: expect.stringMatching(/input cannot be read \(it may be encrypted; no payload codec was given\)/) });
    const withCodec = await workflowIdOfHistory(parse(h), { payloadCodecs: [reversed] });
    expect(withCodec.workflowId).toMatch(/^copilot:[0-9a-f-]{36}:[0-9a-f-]{36}$/);
    expect(withCodec.workflowId).toBe(startOf(await fixture('copilot-session-two-turns.json')).workflowId);
  });

  it('falls back to the ids of the remediation children a session started', async () => {
    const h = withoutRecordedId(await fixture(sessionWithChild));
    startOf(h).input.payloads[0].metadata.encoding = Buffer.from('binary/encrypted').toString('base64');
    expect(await workflowIdOfHistory(parse(h))).toEqual({ workflowId: ids[sessionWithChild], source: 'the ids of its remediation children' });
  });
});
