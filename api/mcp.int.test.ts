/**
 * Gatehouse as an MCP server, driven by the official MCP TypeScript SDK client over Streamable HTTP against the
 * whole system (api, worker, Temporal, PostgreSQL, Redis, simulated agents). An MCP connection is a copilot
 * session; every tools/call is recorded, handed to the session's workflow by id and run through the copilot's one
 * tool path: a T1 read comes back with the device's answer, a T3 call waits (with progress) for an approver and runs
 * once, a rejection comes back as a tool error with the reason; an unknown tool, a bad key and a forged update sent
 * straight to Temporal are refused.
 */
import crypto from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema, ErrorCode, McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { CreateTaskResultSchema } from '@modelcontextprotocol/sdk/experimental/tasks/types.js';
import { startTestSystem, waitUntil, type TestSystem } from '../test/harness';
import { callToolRequestUpdate, stateQuery } from '../workflows/definitions';

let sys: TestSystem;
let devices: { id: string; name: string }[];
beforeAll(async () => {
  sys = await startTestSystem({ simulated: 2 });
  devices = await sys.prisma.device.findMany({ where: { orgId: sys.seed.orgs.acme.id, executor: 'simulated' }, orderBy: { name: 'asc' }, select: { id: true, name: true } });
}, 180_000);
afterAll(async () => {
  await sys?.stop();
});

const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close().catch(() => undefined)));
});

/** The SDK client, connected as the holder of `key` (initialize starts the session). */
async function connect(key: string, org: string | null = sys.seed.orgs.acme.slug): Promise<{ client: Client; transport: StreamableHTTPClientTransport; sessionId: string }> {
  const url = new URL(`/mcp${org ? `?org=${org}` : ''}`, sys.url);
  const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers: { Authorization: `Bearer ${key}` } } });
  const client = new Client({ name: 'gatehouse-test', version: '1.2.3' });
  clients.push(client);
  await client.connect(transport);
  return { client, transport, sessionId: transport.sessionId! };
}

const textOf = (r: CallToolResult) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('');
const call = (client: Client, name: string, args: Record<string, unknown>, onprogress?: (p: { message?: string }) => void) =>
  client.callTool({ name, arguments: args }, undefined, { timeout: 120_000, ...(onprogress ? { onprogress, resetTimeoutOnProgress: true } : {}) }) as Promise<CallToolResult>;

it("lists the catalog with each tool's tier in its description and annotations, and shows the connection as a session", async () => {
  const tech = sys.keyOf('technician');
  const { client, sessionId } = await connect(tech);
  const { tools } = await client.listTools();
  const byName = new Map(tools.map((t) => [t.name, t]));
  expect(byName.size).toBe(tools.length);
  expect(tools.every((t) => /Gatehouse tier: /.test(t.description ?? ''))).toBe(true);
  expect(byName.get('get_device_info')).toMatchObject({ annotations: { readOnlyHint: true, destructiveHint: false }, inputSchema: { type: 'object', properties: { device_id: expect.any(Object) } } });
  expect(byName.get('get_device_info')?.description).toMatch(/Gatehouse tier: T1, read-only/);
  expect(byName.get('restart_device')).toMatchObject({ annotations: { readOnlyHint: false, destructiveHint: true } });
  expect(byName.get('restart_device')?.description).toMatch(/Gatehouse tier: T4/);
  // Status is a read, restart needs approval: the tool as a whole is neither read-only nor harmless.
  expect(byName.get('manage_service')).toMatchObject({ annotations: { readOnlyHint: false, destructiveHint: true } });
  expect(byName.get('acknowledge_alert')).toMatchObject({ annotations: { readOnlyHint: false, destructiveHint: false } });

  // The connection is a copilot session of the technician, marked as started by this MCP client.
  const listed = await sys.request('GET', `/v1/sessions?org=${sys.seed.orgs.acme.slug}`, { key: tech });
  expect(listed.body.sessions.find((s: { id: string }) => s.id === sessionId)).toMatchObject({ startedVia: 'mcp', mcpClient: 'gatehouse-test 1.2.3' });
  const row = await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } });
  expect(await sys.temporal.client.workflow.getHandle(row.workflowId).query(stateQuery)).toMatchObject({ sessionId, status: 'idle' });
});

it('refuses to start a session for someone who may not call tools, a bad key, and another user reaching a session', async () => {
  // An approver has no technician or admin role: no session, so no tools.
  await expect(connect(sys.keyOf('approver'))).rejects.toThrow(/organization not found/);
  await expect(connect(sys.keyOf('approver'), null)).rejects.toThrow(/no technician or admin role/);
  // A key that does not exist, and none at all: 401 before anything else.
  expect(await connect(`gh_${crypto.randomBytes(24).toString('hex')}`).catch((e: unknown) => e)).toMatchObject({ code: 401, message: expect.stringMatching(/a valid API key is required/) });
  const none = await fetch(new URL('/mcp', sys.url), { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' }, body: '{}' });
  expect(none.status).toBe(401);
  expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);

  // Another technician's key with this session's id is answered as an unknown session.
  const { sessionId } = await connect(sys.keyOf('technician'));
  const other = await sys.createUser(['technician']);
  const res = await fetch(new URL('/mcp', sys.url), {
    method: 'POST',
    headers: { Authorization: `Bearer ${other.key}`, 'Mcp-Session-Id': sessionId, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream', 'Mcp-Protocol-Version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  });
  expect(res.status).toBe(404);
  expect(((await res.json()) as { error: unknown }).error).toMatchObject({ message: expect.stringMatching(/Session not found/) });

  // A body that is not JSON is JSON-RPC's parse error, not a 500.
  const garbled = await fetch(new URL('/mcp', sys.url), { method: 'POST', headers: { Authorization: `Bearer ${sys.keyOf('technician')}`, 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":' });
  expect(garbled.status).toBe(400);
  expect(((await garbled.json()) as { error: { code: number } }).error.code).toBe(ErrorCode.ParseError);
});

it("runs a T1 call on the agent and answers with the device's own output, recorded as the session's tool step", async () => {
  const tech = sys.keyOf('technician');
  const { client, sessionId } = await connect(tech);
  const device = devices[0]!;
  const result = await call(client, 'get_device_info', { device_id: device.id });
  expect(result.isError).toBe(false);
  // What the model would have read: the agent's answer, fenced as untrusted data.
  expect(textOf(result)).toContain(device.name);
  expect(textOf(result)).toMatch(/untrusted/i);

  const session = (await sys.request('GET', `/v1/sessions/${sessionId}`, { key: tech })).body;
  expect(session.startedVia).toBe('mcp');
  const turn = session.turns.find((t: { toolCall?: boolean }) => t.toolCall);
  expect(turn).toMatchObject({ status: 'answered', steps: [{ kind: 'tool', tool: 'get_device_info', status: 'succeeded', tier: 1 }] });
  expect(session.steps).toEqual([expect.objectContaining({ tool: 'get_device_info', status: 'succeeded', decision: 'allow' })]);
  expect(session.transcript).toEqual([expect.objectContaining({ toolCall: true, text: expect.stringContaining('get_device_info') })]);
  // Ran as a command on the device, once; the model was never asked.
  expect(await sys.prisma.deviceCommand.count({ where: { deviceId: device.id, invocationId: session.steps[0].id } })).toBe(1);
});

it('holds a T3 call until an approver approves it, telling the client it waits, then runs it once', async () => {
  const tech = sys.keyOf('technician');
  const { client, sessionId } = await connect(tech);
  const device = devices[1]!;
  const heard: string[] = [];
  const pending = call(client, 'manage_service', { device_id: device.id, service: 'Spooler', action: 'restart' }, (p) => heard.push(p.message ?? ''));
  const approval = await sys.waitForApproval(sessionId);
  await waitUntil(async () => heard.some((m) => /waiting for an approver/.test(m)), 'a progress notification about the approval');
  expect(await sys.prisma.deviceCommand.count({ where: { deviceId: device.id, kind: 'manage_service' } })).toBe(0);
  // The requester is the technician whose key made the call.
  const techId = (await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } })).userId;
  expect(await sys.prisma.approval.findUniqueOrThrow({ where: { id: approval.id } })).toMatchObject({ requestedBy: techId, tier: 3, toolName: 'manage_service' });

  const decided = await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve', reason: 'printing is down' } });
  expect(decided.status).toBe(200);
  const result = await pending;
  expect(result.isError).toBe(false);
  expect(textOf(result)).toMatch(/Spooler/);
  expect(await sys.prisma.deviceCommand.count({ where: { deviceId: device.id, kind: 'manage_service' } })).toBe(1);
});

it('finishes a T3 call that waited across a worker restart: the wait lives in the workflow, the client still gets its answer', async () => {
  const { client, sessionId } = await connect(sys.keyOf('technician'));
  const device = devices[0]!;
  const pending = call(client, 'manage_service', { device_id: device.id, service: 'W32Time', action: 'restart' }, () => undefined);
  const approval = await sys.waitForApproval(sessionId);
  await sys.stopWorker();
  try {
    const decided = await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve', reason: 'time is off' } });
    expect(decided.status).toBe(200);
  } finally {
    await sys.startWorker();
  }
  const result = await pending;
  expect(result.isError).toBe(false);
  expect(await sys.prisma.deviceCommand.count({ where: { deviceId: device.id, kind: 'manage_service', params: { path: ['service'], equals: 'W32Time' } } })).toBe(1);
});

it('answers a rejected T3 call as a tool error with the reason, and runs nothing', async () => {
  const { client, sessionId } = await connect(sys.keyOf('technician'));
  const device = devices[0]!;
  const before = await sys.prisma.deviceCommand.count({ where: { deviceId: device.id, kind: 'manage_service' } });
  const pending = call(client, 'manage_service', { device_id: device.id, service: 'Spooler', action: 'stop' });
  const approval = await sys.waitForApproval(sessionId);
  const decided = await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'reject', reason: 'not during business hours' } });
  expect(decided.status).toBe(200);
  const result = await pending;
  expect(result.isError).toBe(true);
  expect(textOf(result)).toMatch(/rejected.*not during business hours/);
  expect(await sys.prisma.deviceCommand.count({ where: { deviceId: device.id, kind: 'manage_service' } })).toBe(before);
});

it('refuses an unknown tool with a JSON-RPC error before anything is recorded, and audits it; bad arguments come back as a tool error', async () => {
  const { client, sessionId } = await connect(sys.keyOf('technician'));
  const error = await call(client, 'format_all_disks', {}).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(McpError);
  expect((error as McpError).code).toBe(ErrorCode.InvalidParams);
  expect((error as McpError).message).toMatch(/^MCP error -32602: unknown tool "format_all_disks"/);
  expect(await sys.prisma.workflowRequest.count({ where: { sessionId } })).toBe(0);
  expect(await sys.prisma.auditEvent.count({ where: { sessionId, action: 'tool.denied', target: 'format_all_disks' } })).toBe(1);

  // A known tool with input its schema refuses: denied by authorization, as the model's call would be.
  const bad = await call(client, 'get_device_info', { device_id: 'not-a-uuid' });
  expect(bad.isError).toBe(true);
  expect(textOf(bad)).toMatch(/device_id/);
  expect(await sys.prisma.deviceCommand.count({ where: { invocationId: { startsWith: sessionId } } })).toBe(0);
});

it('refuses a callToolRequest update sent straight to Temporal unless the api recorded it, once, for this session', async () => {
  const tech = sys.keyOf('technician');
  const { client, sessionId } = await connect(tech);
  const { workflowId, userId } = await sys.prisma.copilotSession.findUniqueOrThrow({ where: { id: sessionId } });
  const handle = sys.temporal.client.workflow.getHandle(workflowId);
  const turnOf = async (turnId: string) => {
    let turn: any;
    await waitUntil(async () => {
      turn = (await handle.query(stateQuery)).turns.find((t) => t.turnId === turnId);
      return ['answered', 'refused', 'failed'].includes(turn?.status);
    }, `turn ${turnId} to end`);
    return turn;
  };
  const device = devices[0]!;

  // A payload with the call in it is malformed: refused before it enters history.
  await expect(handle.executeUpdate(callToolRequestUpdate, { args: [{ requestId: crypto.randomUUID(), tool: 'restart_device', input: { device_id: device.id } } as never] })).rejects.toThrow();
  // An id the api never issued.
  const invented = await handle.executeUpdate(callToolRequestUpdate, { args: [{ requestId: crypto.randomUUID() }] });
  expect(await turnOf(invented.turnId)).toMatchObject({ status: 'refused', userId: '', steps: [], answer: expect.stringMatching(/^this tool call was refused: no such request/) });
  // A message's record is not a tool call's.
  const message = await sys.prisma.workflowRequest.create({ data: { orgId: sys.seed.orgs.acme.id, sessionId, workflowId, kind: 'message', userId, text: 'hello' } });
  const wrongKind = await handle.executeUpdate(callToolRequestUpdate, { args: [{ requestId: message.id }] });
  expect(await turnOf(wrongKind.turnId)).toMatchObject({ status: 'refused', steps: [] });
  // A real call's record, sent again: used already.
  const real = await call(client, 'get_device_info', { device_id: device.id });
  expect(real.isError).toBe(false);
  const used = await sys.prisma.workflowRequest.findFirstOrThrow({ where: { sessionId, kind: 'tool_call' } });
  const replayed = await handle.executeUpdate(callToolRequestUpdate, { args: [{ requestId: used.id }] });
  expect(await turnOf(replayed.turnId)).toMatchObject({ status: 'refused', answer: expect.stringMatching(/used already/) });

  // Only the real call ran; every forgery is audited.
  expect(await sys.prisma.toolInvocation.count({ where: { sessionId } })).toBe(1);
  const refusals = await sys.prisma.auditEvent.findMany({ where: { sessionId, action: 'workflow.request_refused' } });
  expect(refusals.map((e) => (e.data as { kind: string }).kind)).toEqual(['tool_call', 'tool_call', 'tool_call']);
});

it("counts tools/call against the caller's message rate like a typed message: past it, the call is refused and nothing runs", async () => {
  // A technician of their own: the limit is per user (RATE_USER_MESSAGES_PER_MINUTE, 20 per minute here).
  const { key } = await sys.createUser(['technician']);
  const { client, sessionId } = await connect(key);
  const results = [];
  for (let i = 0; i < 21; i++) results.push(await call(client, 'list_devices', {}));
  expect(results.slice(0, 20).every((r) => !r.isError)).toBe(true);
  expect(results[20]).toMatchObject({ isError: true });
  expect(textOf(results[20]!)).toMatch(/rate limit: at most 20 messages per 60s/);
  expect(await sys.prisma.toolInvocation.count({ where: { sessionId } })).toBe(20);
});

it('gives a client that lost its connection while a T3 call waited the result when it reconnects (Last-Event-ID)', async () => {
  const tech = sys.keyOf('technician');
  const { client, transport, sessionId } = await connect(tech);
  const device = devices[1]!;
  let token: string | undefined;
  const lost = client
    .callTool({ name: 'manage_service', arguments: { device_id: device.id, service: 'BITS', action: 'restart' } }, undefined, {
      timeout: 120_000,
      resetTimeoutOnProgress: true,
      onprogress: () => undefined,
      onresumptiontoken: (t) => void (token = t),
    })
    .catch((e: unknown) => e);
  const approval = await sys.waitForApproval(sessionId);
  await waitUntil(async () => token !== undefined, 'a resumption token (an event id of the call stream)');
  // The connection drops (the client's process, its network): the call stays in its session.
  await transport.close();
  expect(await lost).toBeInstanceOf(Error);
  const decided = await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve', reason: 'transfers stuck' } });
  expect(decided.status).toBe(200);

  // Reconnecting to the same MCP session with the last event id it saw, the client gets what it missed: the result.
  const resumed = new StreamableHTTPClientTransport(new URL(`/mcp?org=${sys.seed.orgs.acme.slug}`, sys.url), { sessionId, requestInit: { headers: { Authorization: `Bearer ${tech}` } } });
  const messages: any[] = [];
  resumed.onmessage = (m) => void messages.push(m);
  await resumed.start();
  try {
    await resumed.send({ jsonrpc: '2.0', id: 'resume', method: 'tools/call', params: { name: 'manage_service', arguments: {} } }, { resumptionToken: token });
    await waitUntil(async () => messages.some((m) => m.result), 'the call result on the resumed stream');
    const result = messages.find((m) => m.result).result as CallToolResult;
    expect(result.isError).toBe(false);
    expect(textOf(result)).toMatch(/BITS/);
    // Resuming sent nothing new: the one call ran once.
    expect(await sys.prisma.deviceCommand.count({ where: { deviceId: device.id, kind: 'manage_service', params: { path: ['service'], equals: 'BITS' } } })).toBe(1);
  } finally {
    await resumed.close();
  }
});

it('runs a T3 call as an MCP task the client polls while it waits for an approver, then fetches its result', async () => {
  const tech = sys.keyOf('technician');
  const { client, sessionId } = await connect(tech);
  const device = devices[0]!;
  const { tools } = await client.listTools();
  expect(tools.find((t) => t.name === 'manage_service')?.execution).toEqual({ taskSupport: 'optional' });
  const created = await client.request(
    { method: 'tools/call', params: { name: 'manage_service', arguments: { device_id: device.id, service: 'Dnscache', action: 'restart' }, task: { ttl: 600_000 } } },
    CreateTaskResultSchema,
  );
  const { taskId } = created.task;
  expect(created.task.status).toBe('working');
  const approval = await sys.waitForApproval(sessionId);
  await waitUntil(async () => /waiting for an approver/.test((await client.experimental.tasks.getTask(taskId)).statusMessage ?? ''), 'the task to say it waits for an approver');
  expect((await client.experimental.tasks.listTasks()).tasks.map((t) => t.taskId)).toContain(taskId);

  expect((await sys.request('POST', `/v1/approvals/${approval.id}/decision`, { key: sys.keyOf('approver'), body: { decision: 'approve', reason: 'DNS cache stale' } })).status).toBe(200);
  await waitUntil(async () => (await client.experimental.tasks.getTask(taskId)).status === 'completed', 'the task to complete');
  const result = (await client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema)) as CallToolResult;
  expect(result.isError).toBe(false);
  expect(textOf(result)).toMatch(/Dnscache/);
  expect(await sys.prisma.deviceCommand.count({ where: { deviceId: device.id, kind: 'manage_service', params: { path: ['service'], equals: 'Dnscache' } } })).toBe(1);
});
