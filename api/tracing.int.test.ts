/**
 * One trace per question, end to end: a T3 call asked through the api, approved, run by a simulated agent, and found
 * in a real Jaeger (the binary the set-up builds) through its query API, as an operator finds it in the UI. The api
 * runs in this process, the worker and the agent in their own, each exporting its spans over OTLP.
 */
import { Worker } from '@temporalio/worker';
import { environment, jaegerPath, loadEnv } from '../lib/env';
import { decodeHistory } from '../lib/history-payloads';
import { startTracing, type Tracing } from '../lib/tracing';
import { startTestSystem, toolCall, toolStepOf, waitUntil, type TestSystem } from '../test/harness';
import { launchChromium } from '../test/browser';
import { JaegerServer, type JaegerSpan } from '../test/services';
import { createWorkerMetrics } from '../lib/metrics';
import { sinksOf, WORKER_BUNDLING_OPTIONS } from '../worker/create-worker';
import { Patch } from '../workflows/patches';

let jaeger: JaegerServer;
let tracing: Tracing | undefined;
let sys: TestSystem;

beforeAll(async () => {
  jaeger = await JaegerServer.start(jaegerPath(loadEnv(environment())));
  tracing = await startTracing({ endpoint: jaeger.otlpUrl, serviceName: 'gatehouse-api' });
  sys = await startTestSystem({ simulated: 3, workerProcess: true, env: { OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpUrl } });
}, 240_000);

afterAll(async () => {
  await sys?.stop();
  await tracing?.shutdown();
  await jaeger?.stop();
});

const MESSAGE_ROUTE = 'POST /v1/sessions/:id/messages';

/** The one span named `name` (by its start, or its whole name) of service `service` in `spans`. */
function spanOf(spans: JaegerSpan[], service: string, name: string): JaegerSpan {
  const found = spans.filter((s) => s.service === service && (s.operationName === name || s.operationName.startsWith(`${name} `)));
  if (found.length !== 1) throw new Error(`expected one ${service} span ${name}, found ${found.length}: ${spans.map((s) => `${s.service}/${s.operationName}`).join(', ')}`);
  return found[0]!;
}

const parentOf = (span: JaegerSpan) => span.references.find((r) => r.refType === 'CHILD_OF')?.spanID;

it('follows a T3 question from the api request through the workflow, its approval, the gateway and the agent in one trace', async () => {
  const device = [...sys.simulated.values()][0]!;
  const sessionId = await sys.startSession(sys.keyOf('technician'));
  const turnId = await sys.send(sessionId, sys.keyOf('technician'), toolCall('manage_service', { device_id: device, service: 'Spooler', action: 'restart' }));
  const approval = await sys.waitForApproval(sessionId);
  const decided = await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve', digest: approval.digest } });
  expect(decided.status).toBe(200);
  const session = await sys.waitForTurn(sessionId, sys.keyOf('technician'), turnId);
  expect(toolStepOf(session, turnId)).toMatchObject({ status: 'succeeded' });

  // Spans arrive within a second or two of their end (each process sends its batch every second). The api, the
  // worker, the worker's workflow sink and the agent each send their own batches, in no set order (on a busy machine
  // the api's last batch, with command:result, came after the worker's): every span read below is waited for.
  const expected: [service: string, name: string][] = [
    ['gatehouse-api', MESSAGE_ROUTE],
    ['gatehouse-worker', 'HandleUpdate:sendMessage'],
    ...['authorizeToolCall', 'requestApproval', 'verifyDecisionAndQueue', 'recordToolResult'].flatMap((a): [string, string][] => [
      ['gatehouse-worker', `RunActivity:${a}`],
      ['gatehouse-worker', `StartActivity:${a}`],
    ]),
    ['gatehouse-api', 'command:dispatch'],
    ['gatehouse-agent', 'command:execute'],
    ['gatehouse-api', 'command:result'],
  ];
  let trace: JaegerSpan[] = [];
  await waitUntil(
    async () => {
      const traces = (await jaeger.traces('gatehouse-api')).filter((t) => t.some((s) => s.operationName === MESSAGE_ROUTE));
      trace = traces.length === 1 ? traces[0]! : [];
      return expected.every(([service, name]) => trace.some((s) => s.service === service && (s.operationName === name || s.operationName.startsWith(`${name} `))));
    },
    'the whole trace of the message in Jaeger',
    60_000,
  );

  expect(new Set(trace.map((s) => s.service))).toEqual(new Set(['gatehouse-api', 'gatehouse-worker', 'gatehouse-agent']));
  const request = spanOf(trace, 'gatehouse-api', MESSAGE_ROUTE);
  expect(parentOf(request)).toBeUndefined(); // the root: the technician's request
  const authorize = spanOf(trace, 'gatehouse-worker', 'RunActivity:authorizeToolCall');
  const ask = spanOf(trace, 'gatehouse-worker', 'RunActivity:requestApproval');
  // The approval verified and the approved command queued by one step (Patch.QueueWithApproval).
  const queue = spanOf(trace, 'gatehouse-worker', 'RunActivity:verifyDecisionAndQueue');
  const dispatch = spanOf(trace, 'gatehouse-api', 'command:dispatch');
  const execute = spanOf(trace, 'gatehouse-agent', 'command:execute');
  const result = spanOf(trace, 'gatehouse-api', 'command:result');
  const record = spanOf(trace, 'gatehouse-worker', 'RunActivity:recordToolResult');

  // The hops are linked, not only gathered: queued by the activity, sent by the gateway, run by the agent, answered.
  expect(parentOf(dispatch)).toBe(queue.spanID);
  expect(parentOf(execute)).toBe(dispatch.spanID);
  expect(parentOf(result)).toBe(execute.spanID);
  expect(execute.operationName).toBe('command:execute manage_service');
  // The workflow's own spans: the update that queued the turn, child of the api's call to Temporal, and the start
  // of each activity, parent of the worker's run of it, in the message's trace.
  const serviceOf = (span: JaegerSpan) => trace.find((s) => s.spanID === parentOf(span))?.service;
  const update = spanOf(trace, 'gatehouse-worker', 'HandleUpdate:sendMessage');
  expect(serviceOf(update)).toBe('gatehouse-api');
  for (const run of [authorize, ask, queue, record]) {
    const start = spanOf(trace, 'gatehouse-worker', run.operationName.replace('RunActivity:', 'StartActivity:'));
    expect([run.operationName, parentOf(run)]).toEqual([run.operationName, start.spanID]);
    expect([start.operationName, serviceOf(start)]).toEqual([start.operationName, 'gatehouse-api']);
  }
  // In the order they happened.
  const order = [request, update, authorize, ask, queue, dispatch, execute, result, record];
  for (let i = 1; i < order.length; i++) {
    expect([order[i]!.operationName, order[i]!.startTime >= order[i - 1]!.startTime]).toEqual([order[i]!.operationName, true]);
  }
  // The agent's span lasts as long as the command ran, inside the gateway's wait for it.
  expect(execute.startTime + execute.duration).toBeLessThanOrEqual(result.startTime + result.duration);

  // What was asked (and the device's output) is never a span attribute.
  const values = trace.flatMap((s) => s.tags.map((t) => String(t.value)));
  expect(values.filter((v) => /Spooler|restart the/i.test(v))).toEqual([]);
});

it("shows that trace at Jaeger's UI address, every hop on one waterfall, as an operator opens it", async () => {
  const traced = (await jaeger.traces('gatehouse-api')).find((t) => t.some((s) => s.operationName === MESSAGE_ROUTE) && t.some((s) => s.service === 'gatehouse-agent'));
  expect(traced).toBeDefined();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    // The front page lists the api's recent traces; the message's is the one whose root is the message route.
    await page.goto(jaeger.uiUrl);
    const link = page.getByRole('link', { name: `gatehouse-api: ${MESSAGE_ROUTE}` });
    await link.first().waitFor();
    const row = page.getByRole('row').filter({ has: link });
    await expect(row.first().textContent()).resolves.toMatch(/gatehouse-agent/);
    await link.first().click();
    await page.waitForURL(/\/trace\/[0-9a-f]+$/);
    // Each hop is a row, in call order: the request, the workflow's update, its activities, the gateway, the agent.
    const rows = page.locator('.waterfall .row');
    await rows.first().waitFor();
    const names = await rows.locator('.name').allTextContents();
    const at = (text: string) => names.findIndex((n) => n.includes(text));
    for (const hop of [MESSAGE_ROUTE, 'HandleUpdate:sendMessage', 'RunActivity:authorizeToolCall', 'RunActivity:verifyDecisionAndQueue', 'command:dispatch', 'command:execute manage_service', 'RunActivity:recordToolResult']) {
      expect([hop, at(hop) >= 0]).toEqual([hop, true]);
    }
    expect(at('command:dispatch')).toBeLessThan(at('command:execute'));
    expect(at(MESSAGE_ROUTE)).toBe(0);
    expect(new Set(await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-service'))))).toEqual(new Set(['gatehouse-api', 'gatehouse-worker', 'gatehouse-agent']));
    // A span opens to its tags.
    await rows.filter({ hasText: 'command:execute' }).first().click();
    await expect(page.locator('.details').first().textContent()).resolves.toContain('span id');
  } finally {
    await browser.close();
  }
}, 60_000);

it("follows a remediation the same way: the child workflow, each device's command and each agent's run, in the turn's trace", async () => {
  const devices = [...sys.simulated.values()];
  const sessionId = await sys.startSession(sys.keyOf('technician'));
  const turnId = await sys.send(sessionId, sys.keyOf('technician'), toolCall('run_remediation', { target: { device_ids: devices }, action: { type: 'service', service: 'Dnscache', action: 'restart' }, batch_size: 3 }));
  const approval = await sys.waitForApproval(sessionId);
  const decided = await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve', digest: approval.digest } });
  expect(decided.status).toBe(200);
  await sys.waitForTurn(sessionId, sys.keyOf('technician'), turnId, 90_000);

  let trace: JaegerSpan[] = [];
  await waitUntil(
    async () => {
      const traces = (await jaeger.traces('gatehouse-api')).filter((t) => t.some((s) => s.operationName === MESSAGE_ROUTE) && t.some((s) => s.operationName.startsWith('StartChildWorkflow:')));
      trace = traces[0] ?? [];
      return trace.filter((s) => s.operationName.startsWith('command:execute')).length === devices.length && trace.filter((s) => s.operationName === 'command:result').length === devices.length;
    },
    "the remediation's whole trace in Jaeger",
    60_000,
  );
  const request = spanOf(trace, 'gatehouse-api', MESSAGE_ROUTE);
  expect(parentOf(request)).toBeUndefined();
  const child = spanOf(trace, 'gatehouse-worker', 'StartChildWorkflow:remediation');
  const serviceOf = (span: JaegerSpan) => trace.find((s) => s.spanID === parentOf(span))?.service;
  expect(serviceOf(child)).toBe('gatehouse-api');
  // Each device: queued in the child, sent by the gateway, run by its agent, answered; three of each, linked.
  const dispatches = trace.filter((s) => s.operationName.startsWith('command:dispatch'));
  const executes = trace.filter((s) => s.operationName.startsWith('command:execute'));
  expect(dispatches).toHaveLength(devices.length);
  for (const execute of executes) expect(dispatches.map((d) => d.spanID)).toContain(parentOf(execute));
  const queued = new Set(dispatches.map(parentOf));
  for (const id of queued) expect(trace.find((s) => s.spanID === id)?.operationName).toBe('RunActivity:queueDeviceCommands');
  expect(child.startTime).toBeLessThanOrEqual(Math.min(...dispatches.map((d) => d.startTime)));
}, 180_000);

it('replays the history of a run that made workflow spans (they change when an update completes; the patch marks where)', async () => {
  const sessionId = await sys.startSession(sys.keyOf('technician'));
  const turnId = await sys.send(sessionId, sys.keyOf('technician'), toolCall('get_device_info', { device_id: [...sys.simulated.values()][0]! }));
  await sys.waitForTurn(sessionId, sys.keyOf('technician'), turnId);
  const { workflowId } = await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } });
  const history = await decodeHistory(await sys.temporal.client.workflow.getHandle(workflowId).fetchHistory(), sys.payloadCodec);
  const patches = history.events!.map((e) => e.markerRecordedEventAttributes).filter((m) => m?.markerName === 'core_patch');
  expect(patches.map((m) => Buffer.from(m!.details!['patch-data']!.payloads![0]!.data!).toString('utf8'))).toContainEqual(expect.stringContaining(Patch.WorkflowSpans));
  await expect(Worker.runReplayHistory({ ...WORKER_BUNDLING_OPTIONS, sinks: sinksOf(createWorkerMetrics()) }, history, workflowId)).resolves.toBeUndefined();
}, 120_000);
