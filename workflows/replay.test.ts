/**
 * Every committed history must replay against the current workflow code. A change that breaks determinism fails
 * here; the fix is `patched()` in the workflow, never a re-recorded fixture.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { createWorkerMetrics } from '../lib/metrics';
import { sinksOf, WORKFLOW_BUNDLE_OPTIONS } from '../worker/create-worker';
import { Patch } from './patches';

const fixtures = path.resolve(__dirname, '..', 'test', 'fixtures');
const histories = readdirSync(path.join(fixtures, 'histories')).filter((f) => f.endsWith('.json') && f !== 'workflow-ids.json');
/** The workflow id each fixture ran under (the code derives child ids from it); the file name for older ones. */
const workflowIds = JSON.parse(readFileSync(path.join(fixtures, 'histories', 'workflow-ids.json'), 'utf8')) as Record<string, string>;
const load = (file: string) => historyFromJSON(JSON.parse(readFileSync(path.join(fixtures, 'histories', file), 'utf8')));

/** Built here from the current source (not the run's shared bundle), once for every history rather than once each. */
let currentCode: string;
// The worker's sinks, as a worker registers them (never called while replaying).
const sinks = sinksOf(createWorkerMetrics());
beforeAll(async () => {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // already installed in this jest worker
  }
  currentCode = (await bundleWorkflowCode({ ...WORKFLOW_BUNDLE_OPTIONS, logger: new DefaultLogger('ERROR') })).code;
}, 120_000);

it('has the committed histories: reads, approvals, a breaker trip, and remediations (each version) with a worker restart', () => {
  expect(histories).toEqual(
    expect.arrayContaining([
      'copilot-session-two-turns.json',
      'copilot-session-approvals.json',
      'copilot-session-breaker.json',
      'copilot-session-remediation.json',
      'remediation-worker-restart.json',
      'remediation-batched.json',
      'remediation-local-queue.json',
      // Once no signal or update payload is believed: verified messages, breaker resets, steering and results.
      'copilot-session-verified.json',
      'remediation-verified.json',
      // Once every device command takes one path: a session's own commands queued and reported as a remediation's.
      'copilot-session-one-path.json',
      'remediation-one-path.json',
      // Once runs make workflow spans: the same scenario, its updates completing after their spans' awaits.
      'copilot-session-workflow-spans.json',
      'remediation-workflow-spans.json',
      // Once a turn's short checks and records run as local activities (an offline device's read answered at once).
      'copilot-session-local-steps.json',
      // A remediation whose canary failed its read-back, waited, and went on after an approver's continue.
      'remediation-canary.json',
      // Once a remediation reads its devices from the record a page per run: no payload lists them.
      'copilot-session-devices-from-record.json',
      'remediation-devices-from-record.json',
      // Once a device call counts a result hint only while its command is awaited.
      'copilot-session-call-hints-of-awaited-commands.json',
      'copilot-session-patches-at-start.json',
    ]),
  );
  // The remediation child really spans two workers: the first stopped mid-run, the second finished it.
  const restart = JSON.parse(readFileSync(path.join(fixtures, 'histories', 'remediation-worker-restart.json'), 'utf8'));
  const workers = new Set(restart.events.filter((e: any) => e.workflowTaskStartedEventAttributes).map((e: any) => e.workflowTaskStartedEventAttributes.identity));
  expect(workers.size).toBe(2);
  // Before and after devices started in batches: one activity per device, then queued batches and result signals.
  const activities = (file: string) => load(file).events!.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
  // There, only the model calls (and the approval request) go through the activity queue; the turn's checks are markers.
  expect(new Set(activities('copilot-session-local-steps.json'))).toEqual(new Set(['callModel', 'requestApproval']));
  expect(new Set(activities('remediation-worker-restart.json'))).toEqual(new Set(['dispatchDeviceCommand']));
  expect(new Set(activities('remediation-batched.json'))).toEqual(new Set(['queueDeviceCommands']));
  const batched = load('remediation-batched.json').events!;
  expect(batched.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'remediationResults')).toBe(true);
  expect(new Set(batched.map((e) => e.workflowTaskStartedEventAttributes?.identity).filter(Boolean)).size).toBe(2);
  // Then batches queued by a local activity: markers, no activity tasks, and the results still by signal.
  const local = load('remediation-local-queue.json').events!;
  expect(activities('remediation-local-queue.json')).toEqual([]);
  expect(local.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length).toBeGreaterThan(0);
  expect(local.some((e) => e.workflowExecutionSignaledEventAttributes?.signalName === 'remediationResults')).toBe(true);
  expect(new Set(local.map((e) => e.workflowTaskStartedEventAttributes?.identity).filter(Boolean)).size).toBe(2);
  // One path: before it, a session waited for each device's command in a dispatchDeviceCommand activity; after it,
  // the session queues them by local activity and hears of results by the commandResults signal, as remediations do.
  expect(activities('copilot-session-approvals.json')).toContain('dispatchDeviceCommand');
  const signals = (file: string) => load(file).events!.map((e) => e.workflowExecutionSignaledEventAttributes?.signalName).filter(Boolean);
  const markers = (file: string) =>
    load(file)
      .events!.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')
      .map((e) => JSON.parse(Buffer.from(e.markerRecordedEventAttributes!.details!.data!.payloads![0]!.data!).toString('utf8')).activity_type);
  expect(activities('copilot-session-one-path.json')).not.toContain('dispatchDeviceCommand');
  expect(markers('copilot-session-one-path.json')).toEqual(expect.arrayContaining(['queueDeviceCommands', 'readCommandOutcomes']));
  expect(signals('copilot-session-one-path.json')).toContain('commandResults');
  expect(signals('remediation-one-path.json')).toContain('commandResults');
  expect(signals('remediation-one-path.json')).not.toContain('remediationResults');
  // Workflow spans: recorded with the patch that turns them on, and only there.
  const patches = (file: string) =>
    load(file)
      .events!.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
      .map((e) => JSON.parse(Buffer.from(e.markerRecordedEventAttributes!.details!['patch-data']!.payloads![0]!.data!).toString('utf8')).id);
  expect(patches('copilot-session-workflow-spans.json')).toContain(Patch.WorkflowSpans);
  expect(patches('remediation-workflow-spans.json')).toContain(Patch.WorkflowSpans);
  expect(patches('copilot-session-one-path.json')).not.toContain(Patch.WorkflowSpans);
  // The canary stage: its patch, its read-back commands (local activities), and the approver's continue by update.
  expect(patches('remediation-canary.json')).toContain(Patch.RemediationCanary);
  expect(markers('remediation-canary.json')).toEqual(expect.arrayContaining(['queueDeviceCommands', 'readCanaryChecks']));
  const updates = load('remediation-canary.json').events!.map((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name).filter(Boolean);
  expect(updates).toContain('remediationCanaryDecision');
  // Devices from the record: the page read by a local activity, the input naming only how many there are.
  expect(patches('remediation-devices-from-record.json')).toContain(Patch.RemediationDevicesFromRecord);
  expect(patches('remediation-one-path.json')).not.toContain(Patch.RemediationDevicesFromRecord);
  // Local activities one at a time: recorded with the patch, and only since.
  expect(patches('remediation-serial-local-activities.json')).toContain(Patch.SerialLocalActivities);
  expect(patches('copilot-session-serial-local-activities.json')).toContain(Patch.SerialLocalActivities);
  expect(patches('remediation-devices-from-record.json')).not.toContain(Patch.SerialLocalActivities);
  expect(markers('remediation-devices-from-record.json')).toContain('readRemediationDevices');
  // An approval verified and its first batch queued by one step: recorded with the patch, and only since.
  expect(patches('copilot-session-queue-with-approval.json')).toContain(Patch.QueueWithApproval);
  expect(markers('copilot-session-queue-with-approval.json')).toContain('verifyDecisionAndQueue');
  expect(patches('copilot-session-serial-local-activities.json')).not.toContain(Patch.QueueWithApproval);
  // A message admitted by one step (verify, screen, limits), then stored: recorded with the patch, and only since.
  expect(patches('copilot-session-one-step-admission.json')).toContain(Patch.OneStepAdmission);
  expect(markers('copilot-session-one-step-admission.json')).toEqual(expect.arrayContaining(['admitUserMessage', 'recordUserMessage']));
  expect(patches('copilot-session-queue-with-approval.json')).not.toContain(Patch.OneStepAdmission);
  // The first model call booked by the admission: one reservation of its own for the read's two calls (the second's).
  expect(patches('copilot-session-first-call-booked.json')).toContain(Patch.BookWithAdmission);
  expect(patches('copilot-session-one-step-admission.json')).not.toContain(Patch.BookWithAdmission);
  expect(markers('copilot-session-first-call-booked.json').filter((m) => m === 'reserveBudget')).toHaveLength(1);
  expect(markers('copilot-session-one-step-admission.json').filter((m) => m === 'reserveBudget')).toHaveLength(4);
  // Hinted results read only when nothing is in flight: recorded with the patch, and only since.
  expect(patches('remediation-hints-read-when-idle.json')).toContain(Patch.HintsReadWhenIdle);
  expect(markers('remediation-hints-read-when-idle.json')).toEqual(expect.arrayContaining(['queueDeviceCommands', 'readCommandOutcomes', 'readCanaryChecks']));
  expect(patches('remediation-serial-local-activities.json')).not.toContain(Patch.HintsReadWhenIdle);
  // A device call counts a result hint only while its command is awaited: recorded with the patch, and only since (an
  // older session's calls ran without it). There, an inventory refresh of four devices ran unapproved (T2).
  const callHints = 'copilot-session-call-hints-of-awaited-commands.json';
  expect(patches(callHints)).toContain(Patch.CallHintsOfAwaitedCommands);
  expect(markers(callHints)).toEqual(expect.arrayContaining(['authorizeToolCall', 'queueDeviceCommands', 'readCommandOutcomes', 'recordToolResult']));
  expect(signals(callHints)).toContain('commandResults');
  expect(activities(callHints)).not.toContain('requestApproval');
  expect(patches('copilot-session-first-call-booked.json')).not.toContain(Patch.CallHintsOfAwaitedCommands);
  // A session's patches asked for in its first workflow task: every marker before the task's end, none after.
  const atStart = 'copilot-session-patches-at-start.json';
  expect(patches(atStart)).toEqual(expect.arrayContaining([Patch.PatchesAtStart, Patch.OneCommandPath, Patch.LocalTurnSteps, Patch.CallHintsOfAwaitedCommands]));
  const events = load(atStart).events!;
  const firstTaskEnd = Number(events.find((e) => e.workflowTaskCompletedEventAttributes)!.eventId);
  const patchMarkers = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch').map((e) => Number(e.eventId));
  expect(patchMarkers.every((id) => id > firstTaskEnd && id < Number(events.find((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')!.eventId))).toBe(true);
  expect(markers(atStart)).toEqual(expect.arrayContaining(['admitUserMessage', 'authorizeToolCall', 'queueDeviceCommands', 'recordToolResult']));
  expect(patches(callHints)).not.toContain(Patch.PatchesAtStart);
  expect(patches('copilot-session-queue-with-approval.json')).not.toContain(Patch.CallHintsOfAwaitedCommands);
  // A live run under that patch (hint-grouping.test.ts) whose task timed out (event 25) after it had read the hint of
  // signal 22 alone (marker 30); a replay delivers signals 22 and 26 together, so its read claims both hints. It
  // failed to replay (`Missing associated machine for LocalActivity(6)`, the read of 26's command at marker 41) while
  // a read dropped every hint it claimed; it replays since a hint stays until its command is settled.
  const timedOut = load('remediation-hints-timed-out-task.json').events!;
  expect(patches('remediation-hints-timed-out-task.json')).toContain(Patch.HintsReadWhenIdle);
  expect(timedOut.map((e) => Number(e.eventId)).filter((id, i) => timedOut[i]!.workflowTaskTimedOutEventAttributes)).toContain(25);
  expect([22, 26].map((id) => timedOut[id - 1]!.workflowExecutionSignaledEventAttributes?.signalName)).toEqual(['commandResults', 'commandResults']);
  const started = load('remediation-devices-from-record.json').events![0]!.workflowExecutionStartedEventAttributes!;
  expect(JSON.parse(Buffer.from(started.input!.payloads![0]!.data!).toString('utf8'))).toMatchObject({ devices: [], deviceCount: 4 });
});

it('keeps secrets out of histories and caps what tools bring back', () => {
  for (const file of histories) {
    const history = load(file);
    for (const event of history.events ?? []) {
      const payloads = Object.values(event)
        .flatMap((attrs: any) => [attrs?.input, attrs?.result, attrs?.acceptedRequest?.input?.args])
        .flatMap((p: any) => p?.payloads ?? []);
      for (const p of payloads) {
        const text = p.data ? Buffer.from(p.data).toString('utf8') : '';
        // API keys, enrollment keys and device secrets all look like gh_<prefix>_<secret> or ghe_…
        expect(text).not.toMatch(/\bghe?_[0-9a-f]{12}_[A-Za-z0-9_-]{20,}/);
        expect(text).not.toMatch(/"(secret|apiKey|api_key|password|token)"\s*:/i);
        expect(text.length).toBeLessThan(16 * 1024);
      }
    }
  }
});

it.each(histories)('replays %s against the current workflow code', async (file) => {
  await expect(Worker.runReplayHistory({ workflowBundle: { code: currentCode }, sinks }, load(file), workflowIds[file] ?? file)).resolves.toBeUndefined();
});

it('catches a non-deterministic change to the workflow', async () => {
  const reordered = path.join(fixtures, 'workflows', 'copilot-session-reordered.ts');
  const replay = Worker.runReplayHistory({ workflowsPath: reordered }, load('copilot-session-two-turns.json'), 'reordered');
  await expect(replay).rejects.toBeInstanceOf(DeterminismViolationError);
});
