/**
 * One trace per question, end to end: a T3 call asked through the api, approved, run by a simulated agent, and found
 * in a real Jaeger (the binary the set-up builds) through its query API, as an operator finds it in the UI. The api
 * runs in this process, the worker and the agent in their own, each exporting its spans over OTLP.
 */
import { environment, jaegerPath, loadEnv } from '../lib/env';
import { startTracing, type Tracing } from '../lib/tracing';
import { startTestSystem, toolCall, toolStepOf, waitUntil, type TestSystem } from '../test/harness';
import { JaegerServer, type JaegerSpan } from '../test/services';

let jaeger: JaegerServer;
let tracing: Tracing | undefined;
let sys: TestSystem;

beforeAll(async () => {
  jaeger = await JaegerServer.start(jaegerPath(loadEnv(environment())));
  tracing = await startTracing({ endpoint: jaeger.otlpUrl, serviceName: 'gatehouse-api' });
  sys = await startTestSystem({ simulated: 1, workerProcess: true, env: { OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpUrl } });
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

  // Spans arrive within a second or two of their end (each process sends its batch every second).
  let trace: JaegerSpan[] = [];
  await waitUntil(
    async () => {
      const traces = (await jaeger.traces('gatehouse-api')).filter((t) => t.some((s) => s.operationName === MESSAGE_ROUTE));
      trace = traces.length === 1 ? traces[0]! : [];
      return trace.some((s) => s.operationName === 'RunActivity:recordToolResult') && trace.some((s) => s.service === 'gatehouse-agent');
    },
    'the whole trace of the message in Jaeger',
    60_000,
  );

  expect(new Set(trace.map((s) => s.service))).toEqual(new Set(['gatehouse-api', 'gatehouse-worker', 'gatehouse-agent']));
  const request = spanOf(trace, 'gatehouse-api', MESSAGE_ROUTE);
  expect(parentOf(request)).toBeUndefined(); // the root: the technician's request
  const authorize = spanOf(trace, 'gatehouse-worker', 'RunActivity:authorizeToolCall');
  const ask = spanOf(trace, 'gatehouse-worker', 'RunActivity:requestApproval');
  const verify = spanOf(trace, 'gatehouse-worker', 'RunActivity:verifyApprovalDecision');
  const queue = spanOf(trace, 'gatehouse-worker', 'RunActivity:queueDeviceCommands');
  const dispatch = spanOf(trace, 'gatehouse-api', 'command:dispatch');
  const execute = spanOf(trace, 'gatehouse-agent', 'command:execute');
  const result = spanOf(trace, 'gatehouse-api', 'command:result');
  const record = spanOf(trace, 'gatehouse-worker', 'RunActivity:recordToolResult');

  // The hops are linked, not only gathered: queued by the activity, sent by the gateway, run by the agent, answered.
  expect(parentOf(dispatch)).toBe(queue.spanID);
  expect(parentOf(execute)).toBe(dispatch.spanID);
  expect(parentOf(result)).toBe(execute.spanID);
  expect(execute.operationName).toBe('command:execute manage_service');
  // In the order they happened.
  const order = [request, authorize, ask, verify, queue, dispatch, execute, result, record];
  for (let i = 1; i < order.length; i++) {
    expect([order[i]!.operationName, order[i]!.startTime >= order[i - 1]!.startTime]).toEqual([order[i]!.operationName, true]);
  }
  // The agent's span lasts as long as the command ran, inside the gateway's wait for it.
  expect(execute.startTime + execute.duration).toBeLessThanOrEqual(result.startTime + result.duration);

  // What was asked (and the device's output) is never a span attribute.
  const values = trace.flatMap((s) => s.tags.map((t) => String(t.value)));
  expect(values.filter((v) => /Spooler|restart the/i.test(v))).toEqual([]);
});
