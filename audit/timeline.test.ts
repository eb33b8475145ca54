/**
 * The auditor's timeline of a remediation child or a session, read from committed histories: every device command
 * with its device, result and duration, whichever way the workflow queued its batches or waited for its commands.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { timelineOf } from './timeline';

const fixture = (name: string) => JSON.parse(readFileSync(path.resolve(__dirname, '..', 'test', 'fixtures', 'histories', name), 'utf8'));
const commandsOf = (history: unknown) =>
  timelineOf('remediation', historyFromJSON(history))
    .filter((t) => t.kind === 'command')
    .map((t) => t.details as { deviceId: string; status: string; durationMs: number; kind: string });

it.each(['remediation-batched.json', 'remediation-local-queue.json', 'remediation-one-path.json'])('shows each device command of %s with its device, result and duration', (name) => {
  const commands = commandsOf(fixture(name));
  expect(commands).toHaveLength(4);
  expect(new Set(commands.map((c) => c.deviceId)).size).toBe(4);
  for (const c of commands) {
    expect(c).toMatchObject({ status: 'succeeded', kind: expect.any(String) });
    expect(c.durationMs).toBeGreaterThanOrEqual(0);
  }
});

it("keeps a device whose result was recorded before its batch's marker (a fast device during a slow workflow task)", () => {
  const history = fixture('remediation-local-queue.json');
  const events: { eventType: string; markerRecordedEventAttributes?: { markerName: string } }[] = history.events;
  const marker = events.findIndex((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity');
  const signal = events.findIndex((e, i) => i > marker && e.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED');
  // The first result signal moved ahead of the marker that queued its commands.
  const [moved] = events.splice(signal, 1);
  events.splice(marker, 0, moved!);
  const commands = commandsOf(history);
  expect(commands).toHaveLength(4);
  for (const c of commands) expect(c.durationMs).toBeGreaterThanOrEqual(0);
});

it("shows a session's own device commands, before and after they took the remediations' path", () => {
  // Before: one dispatchDeviceCommand activity per device. After: queued by local activity, read after a hint.
  for (const [name, kinds] of [
    ['copilot-session-approvals.json', ['manage_service']],
    ['copilot-session-one-path.json', ['list_processes', 'manage_service']],
  ] as const) {
    const commands = commandsOf(fixture(name));
    expect(commands.map((c) => c.kind)).toEqual(kinds);
    for (const c of commands) expect(c).toMatchObject({ status: 'succeeded', deviceId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
  }
});
