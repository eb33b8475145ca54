/**
 * Full command output, end to end with a real Linux agent process, the real api, PostgreSQL, Redis and Temporal: a
 * script printing about 1 MiB comes back inline capped (head and tail, the cut marked), while its whole stdout is
 * spooled on the endpoint, uploaded in chunks before the result, and paged through with `get_command_result`; the
 * spool survives an agent killed before its result was acknowledged, and goes once it is; chunks count only from
 * the command's own device while the command is unfinished.
 */
import crypto from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { io, type Socket } from 'socket.io-client';
import { CommandJournal } from '../../agent/journal';
import { OutputSpool, outputDirOf } from '../../agent/output-spool';
import { OUTPUT_CHUNK_BYTES, PROTOCOL_VERSION } from '../../common/protocol';
import { OUTPUT_PAGE_BYTES } from '../../activities/tools/output-pages';
import { DATABASE_HANDLERS } from '../../activities/tools/handlers';
import { renderForModel } from '../../activities/tool-output';
import { tenantDb } from '../../lib/tenant-db';
import { agentAuth, startTestSystem, toolCall, toolStepOf, waitUntil, type EnrolledDevice, type TestSystem } from '../../test/harness';
import { bytesOf } from '../../test/bytes';
import { approveWithPasskey } from '../../test/passkey';

let sys: TestSystem;
beforeAll(async () => {
  sys = await startTestSystem({ agent: true, cuttableDatabase: true });
}, 180_000);
afterAll(async () => {
  await sys?.stop();
});

const sha256 = (data: Buffer | string) => crypto.createHash('sha256').update(data).digest('hex');
const journalFile = () => `${sys.agent!.credentialsFile}.journal.jsonl`;
/** The streams of a command that the agent holds in its spool (beside its journal). */
const spooled = (commandId: string) => {
  const files = new OutputSpool(outputDirOf(journalFile())).files(commandId);
  return (['stdout', 'stderr'] as const).filter((stream) => existsSync(files.file(stream)));
};
/** The JSON inside a tool output's untrusted-data fence (as the model reads it). */
const unfenced = (text: string) => JSON.parse(text.slice(text.indexOf('\n') + 1, text.lastIndexOf('\n')));

/** Asks for a tool call as the technician; a T4 call is approved by the approver. Returns the turn's id. */
async function askTool(sessionId: string, name: string, input: Record<string, unknown>): Promise<string> {
  const turnId = await sys.send(sessionId, sys.keyOf('technician'), toolCall(name, input));
  if (name === 'execute_script') {
    const approval = await sys.waitForApproval(sessionId);
    const decided = await approveWithPasskey(sys, approval.id, sys.keyOf('approver'), { confirmation: approval.confirmationPhrase });
    expect(decided.status).toBe(200);
  }
  return turnId;
}

/** The turn's tool step once the turn is over, and the tool output the model read. */
async function toolResult(sessionId: string, turnId: string) {
  const step = toolStepOf(await sys.waitForTurn(sessionId, sys.keyOf('technician'), turnId, 90_000), turnId);
  const invocation = await sys.prisma.toolInvocation.findUniqueOrThrow({ where: { id: step.invocationId } });
  return { step, output: invocation.output ?? '' };
}

const runTool = async (sessionId: string, name: string, input: Record<string, unknown>) => toolResult(sessionId, await askTool(sessionId, name, input));

describe('a script with about 1 MiB of output', () => {
  const mark = crypto.randomBytes(4).toString('hex');
  const LINES = 12_000;
  const LINE = 'the quick brown fox jumps over the lazy dog while the output keeps on growing';
  // Markers at the start, the middle and the end, each put together at run time: the script's own text holds none.
  const script = `awk 'BEGIN { m = "${mark}"; print "START-" m; for (i = 1; i <= ${LINES}; i++) { printf "line %06d ${LINE}\\n", i; if (i == ${LINES / 2}) print "MIDDLE-" m }; print "END-" m }'`;
  const expected = (() => {
    const lines = [`START-${mark}`];
    for (let i = 1; i <= LINES; i++) {
      lines.push(`line ${String(i).padStart(6, '0')} ${LINE}`);
      if (i === LINES / 2) lines.push(`MIDDLE-${mark}`);
    }
    lines.push(`END-${mark}`);
    return Buffer.from(`${lines.join('\n')}\n`);
  })();

  let sessionId: string;
  let commandId: string;
  beforeAll(async () => {
    sessionId = await sys.startSession(sys.keyOf('technician'));
  });

  it('shows the model a capped head and tail inline, with the cut marked and the middle left out', async () => {
    const { step, output } = await runTool(sessionId, 'execute_script', { device_id: sys.agent!.deviceId, interpreter: 'bash', script });
    expect(step).toMatchObject({ tool: 'execute_script', status: 'succeeded', summary: expect.stringMatching(/exited with code 0/) });
    expect(expected.length).toBeGreaterThan(1024 * 1024);

    const [command] = await sys.prisma.deviceCommand.findMany({ where: { id: { startsWith: sessionId } } });
    commandId = command!.id;
    // What the model read: fenced, head and tail, the cut marked, no middle; the command id to page with.
    expect(output).toMatch(/^<untrusted-data nonce="[\w-]+" source="tool:execute_script">\n/);
    expect(output).toContain(`START-${mark}`);
    expect(output).toContain(`END-${mark}`);
    expect(output).toMatch(/characters truncated/);
    expect(output).not.toContain(`MIDDLE-${mark}`);
    expect(output).toContain(commandId);
    // The stored result is the capped one too, and describes the full output the device spooled.
    const result = command!.result as Record<string, any>;
    expect(result).toMatchObject({ exitCode: 0, truncated: true });
    expect(result.stdout).not.toContain(`MIDDLE-${mark}`);
    expect(result.fullOutput).toEqual({
      stdout: { bytes: expected.length, totalBytes: expected.length, sha256: sha256(expected), cut: false },
      stderr: { bytes: 0, totalBytes: 0, sha256: sha256(''), cut: false },
    });
    // Stored server-side in full, in chunks of the protocol's size.
    const chunks = await sys.prisma.commandOutputChunk.findMany({ where: { commandId }, orderBy: [{ stream: 'asc' }, { seq: 'asc' }] });
    const count = Math.ceil(expected.length / OUTPUT_CHUNK_BYTES);
    expect(chunks.map((c) => [c.stream, c.seq, c.orgId])).toEqual(Array.from({ length: count }, (_, seq) => ['stdout', seq, sys.seed.orgs.acme.id]));
    expect(bytesOf(Buffer.concat(chunks.map((c) => Buffer.from(c.data))))).toEqual(bytesOf(expected));
    // And gone from the endpoint once the result was acknowledged.
    await waitUntil(async () => spooled(commandId).length === 0, 'the agent to delete its spool');
  });

  it('finds the middle marker with get_command_result at an offset, fenced like every tool output', async () => {
    const offset = expected.indexOf(`MIDDLE-${mark}`) - 5000;
    const { step, output } = await runTool(sessionId, 'get_command_result', { command_id: commandId, stream: 'stdout', offset });
    expect(step).toMatchObject({ tier: 1, status: 'succeeded', summary: `stdout of run_script on ACME-HQ-DEMO: bytes ${offset}-${offset + OUTPUT_PAGE_BYTES} of ${expected.length} stored` });
    expect(output).toMatch(/^<untrusted-data nonce="[\w-]+" source="tool:get_command_result">\n\{/);
    const page = unfenced(output);
    expect(page).toMatchObject({ commandId, status: 'succeeded' });
    expect(page.fullOutput).toEqual({
      stream: 'stdout',
      offset,
      nextOffset: offset + OUTPUT_PAGE_BYTES,
      storedBytes: expected.length,
      declaredBytes: expected.length,
      producedBytes: expected.length,
      complete: true,
      cutByEndpointLimit: false,
      notes: [],
      text: expected.subarray(offset, offset + OUTPUT_PAGE_BYTES).toString(),
    });
    expect(page.fullOutput.text).toContain(`MIDDLE-${mark}`);

    // Without a stream, the stored (capped) result as before: too long for the fence, so capped again in turn.
    const plain = await runTool(sessionId, 'get_command_result', { command_id: commandId });
    expect(plain.step).toMatchObject({ status: 'succeeded', summary: 'run_script on ACME-HQ-DEMO: succeeded' });
    expect(plain.output).toContain('"exitCode": 0');
    expect(plain.output).not.toContain(`MIDDLE-${mark}`);
    expect(plain.output).not.toContain('"storedBytes"');
  });

  it('pages through the whole stream, every byte once, and not for another organization', async () => {
    const acme = sys.seed.orgs.acme.id;
    const globex = sys.seed.orgs.globex.id;
    const ctx = (orgId: string) => ({ prisma: tenantDb(sys.prisma, { orgIds: [orgId] }), orgId, sites: null, userId: 'test', sessionId });
    const handler = DATABASE_HANDLERS.get_command_result;
    const read = (orgId: string, input: { stream: 'stdout' | 'stderr'; offset?: number }) => handler.run(ctx(orgId), { command_id: commandId, ...input });
    let text = '';
    let pages = 0;
    for (let offset: number | null = 0; offset !== null; pages++) {
      const { fullOutput } = (await read(acme, { stream: 'stdout', offset })).output as { fullOutput: { text: string; nextOffset: number | null } };
      text += fullOutput.text;
      offset = fullOutput.nextOffset;
    }
    expect(text).toBe(expected.toString());
    expect(pages).toBe(Math.ceil(expected.length / OUTPUT_PAGE_BYTES));
    expect((await read(acme, { stream: 'stderr' })).output).toMatchObject({ fullOutput: { storedBytes: 0, declaredBytes: 0, complete: true, text: '', nextOffset: null } });

    // Another org's copilot does not find the command, and row-level security hides its chunks from that org.
    expect((await read(globex, { stream: 'stdout' })).output).toEqual({ error: 'command not found' });
    expect(await tenantDb(sys.prisma, { orgIds: [globex] }).commandOutputChunk.count({ where: { commandId } })).toBe(0);
    expect(await tenantDb(sys.prisma, { orgIds: [acme] }).commandOutputChunk.count({ where: { commandId } })).toBeGreaterThan(0);
  });
});

it('keeps the spool of an agent killed before its result was acknowledged, and uploads it after the restart', async () => {
  const agent = sys.agent!;
  const sessionId = await sys.startSession(sys.keyOf('technician'));
  const size = 600_000;
  const turnId = await askTool(sessionId, 'execute_script', { device_id: agent.deviceId, interpreter: 'bash', script: `sleep 2; head -c ${size} /dev/zero | tr '\\0' z; echo; echo done >&2` });
  const command = async () => (await sys.prisma.deviceCommand.findMany({ where: { id: { startsWith: sessionId } } }))[0];
  await waitUntil(async () => (await command())?.status === 'delivered', 'the command to reach the agent');
  const commandId = (await command())!.id;

  // The api loses its database while the script runs: the agent can store neither the output nor the result.
  await sys.database!.cut();
  try {
    const finishedOnAgent = () => readFileSync(journalFile(), 'utf8').includes(`"e":"finished","id":"${commandId}"`);
    await waitUntil(async () => finishedOnAgent() && spooled(commandId).length === 2, 'the script to finish on the agent');
    await new Promise<void>((resolve) => {
      agent.process.once('exit', () => resolve());
      agent.process.kill('SIGKILL');
    });
    expect(spooled(commandId)).toEqual(['stdout', 'stderr']);
  } finally {
    await sys.database!.restore();
  }
  expect(await command()).toMatchObject({ status: 'delivered' });
  expect(await sys.prisma.commandOutputChunk.count({ where: { commandId } })).toBe(0);
  agent.start();
  const { step } = await toolResult(sessionId, turnId);
  expect(step).toMatchObject({ status: 'succeeded' });

  const chunks = await sys.prisma.commandOutputChunk.findMany({ where: { commandId }, orderBy: [{ stream: 'asc' }, { seq: 'asc' }] });
  const stdout = Buffer.concat(chunks.filter((c) => c.stream === 'stdout').map((c) => Buffer.from(c.data)));
  expect(bytesOf(stdout)).toEqual(bytesOf(`${'z'.repeat(size)}\n`));
  expect(Buffer.concat(chunks.filter((c) => c.stream === 'stderr').map((c) => Buffer.from(c.data))).toString()).toBe('done\n');
  await waitUntil(async () => spooled(commandId).length === 0, 'the agent to delete its spool');
  expect(CommandJournal.startsIn(journalFile()).get(commandId)).toBe(1);
}, 120_000);

describe('command:output from other devices', () => {
  const opened = new Set<Socket>();
  afterEach(() => {
    for (const s of opened) s.close();
    opened.clear();
  });
  const connect = (d: EnrolledDevice): Promise<Socket> =>
    new Promise((resolve, reject) => {
      const socket = io(`${sys.url}/agents`, { auth: agentAuth(d), transports: ['websocket'], reconnection: false });
      opened.add(socket);
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', reject);
    });
  const chunk = (commandId: string, seq = 0) => ({ v: PROTOCOL_VERSION, commandId, stream: 'stdout', seq, data: Buffer.from(`planted output ${seq}\n`) });
  const send = (socket: Socket, event: string, frame: unknown) => socket.timeout(5000).emitWithAck(event, frame);

  it('refuses a chunk for another device\'s command exactly as for an unknown one, stores nothing, and flags the sender', async () => {
    const target = await sys.enrollDevice('output-target');
    const intruders = [await sys.enrollDevice('output-sibling'), await sys.enrollDevice('output-foreign', 'globex')];
    const commandId = await sys.deliveredCommand(target, 'run_script');

    for (const intruder of intruders) {
      const socket = await connect(intruder);
      const forged = await send(socket, 'command:output', chunk(commandId));
      expect(forged).toEqual({ accepted: false, reason: 'unknown command' });
      expect(await send(socket, 'command:output', chunk(`${crypto.randomUUID()}:toolu_x:${intruder.deviceId}`))).toEqual(forged);
      expect(await sys.prisma.auditEvent.findMany({ where: { action: 'security.output_from_wrong_device', actorId: intruder.deviceId } })).toEqual([
        expect.objectContaining({ orgId: intruder.orgId, actorType: 'agent', target: commandId }),
      ]);
      socket.close();
    }
    expect(await sys.prisma.commandOutputChunk.count({ where: { commandId } })).toBe(0);

    // Malformed chunks are dropped, counted and answered; the connection stays up.
    const socket = await connect(target);
    const counted = sys.api.gateway.stats().invalidFrames;
    for (const bad of [
      { ...chunk(commandId), seq: -1 },
      { ...chunk(commandId), seq: 32 },
      { ...chunk(commandId), data: 'text, not bytes' },
      { ...chunk(commandId), data: Buffer.alloc(OUTPUT_CHUNK_BYTES + 1) },
      { ...chunk(commandId), stream: 'stdin' },
      { ...chunk(commandId), orgId: sys.seed.orgs.globex.id },
    ]) {
      expect(await send(socket, 'command:output', bad)).toEqual({ accepted: false, reason: 'invalid frame' });
    }
    expect(sys.api.gateway.stats().invalidFrames - counted).toBe(6);
    expect(socket.connected).toBe(true);
    expect(await sys.prisma.commandOutputChunk.count({ where: { commandId } })).toBe(0);

    // The command's own device is heard, a chunk sent again changes nothing, and once the result is in, no more.
    expect(await send(socket, 'command:output', chunk(commandId))).toEqual({ accepted: true });
    expect(await send(socket, 'command:output', chunk(commandId))).toEqual({ accepted: true });
    const now = new Date().toISOString();
    const result = { v: PROTOCOL_VERSION, commandId, ok: true, output: { exitCode: 0, timedOut: false, stdout: '', stderr: '', truncated: false, durationMs: 1 }, startedAt: now, finishedAt: now };
    expect(await send(socket, 'command:result', result)).toEqual({ accepted: true });
    expect(await send(socket, 'command:output', chunk(commandId, 1))).toEqual({ accepted: false, reason: 'command finished' });
    const stored = await sys.prisma.commandOutputChunk.findMany({ where: { commandId } });
    expect(stored.map((c) => [c.orgId, c.stream, c.seq, Buffer.from(c.data).toString()])).toEqual([[target.orgId, 'stdout', 0, 'planted output 0\n']]);
  });

  it('pages non-ASCII output on character boundaries, each page whole inside the fence, and says what is missing or was cut', async () => {
    const device = await sys.enrollDevice('output-pages');
    const commandId = await sys.deliveredCommand(device, 'run_script');
    // Multibyte characters across chunk and page edges, and control characters that grow sixfold as JSON.
    const full = Buffer.from('Grüße ✓ 🎉 \u0001\u0002 "quoted" \\ tab\tend\n'.repeat(9000));
    expect(full.length).toBeGreaterThan(OUTPUT_CHUNK_BYTES);
    const socket = await connect(device);
    for (let seq = 0; seq * OUTPUT_CHUNK_BYTES < full.length; seq++) {
      const data = full.subarray(seq * OUTPUT_CHUNK_BYTES, (seq + 1) * OUTPUT_CHUNK_BYTES);
      expect(await send(socket, 'command:output', { v: PROTOCOL_VERSION, commandId, stream: 'stdout', seq, data })).toEqual({ accepted: true });
    }
    // The device declares the stream cut at its limit, and stderr bytes it never uploaded.
    const now = new Date().toISOString();
    const fullOutput = {
      stdout: { bytes: full.length, totalBytes: full.length + 5000, sha256: sha256(full), cut: true },
      stderr: { bytes: 10, totalBytes: 10, sha256: sha256('0123456789'), cut: false },
    };
    const output = { exitCode: 0, timedOut: false, stdout: '', stderr: '', truncated: true, durationMs: 1, fullOutput };
    expect(await send(socket, 'command:result', { v: PROTOCOL_VERSION, commandId, ok: true, output, startedAt: now, finishedAt: now })).toEqual({ accepted: true });

    const handler = DATABASE_HANDLERS.get_command_result;
    const ctx = { prisma: tenantDb(sys.prisma, { orgIds: [device.orgId] }), orgId: device.orgId, sites: null, userId: 'test', sessionId: 'test' };
    const read = async (input: { stream: 'stdout' | 'stderr'; offset?: number }) => (await handler.run(ctx, { command_id: commandId, ...input })).output as { fullOutput: any };
    let text = '';
    for (let offset: number | null = 0; offset !== null; ) {
      const page = await read({ stream: 'stdout', offset });
      expect(renderForModel(page, 'tool:get_command_result').text).not.toMatch(/characters truncated/);
      expect(page.fullOutput.text).not.toContain('\ufffd');
      expect(page.fullOutput).toMatchObject({ complete: true, cutByEndpointLimit: true, notes: [expect.stringMatching(/^CUT: .* the last 5000 were never stored$/)] });
      text += page.fullOutput.text;
      offset = page.fullOutput.nextOffset;
    }
    expect(text).toBe(full.toString());
    // An offset inside a character starts at the next whole one.
    const inside = full.indexOf('ü') + 1;
    expect((await read({ stream: 'stdout', offset: inside })).fullOutput).toMatchObject({ offset: inside + 1, text: expect.stringMatching(/^ße ✓/) });
    expect((await read({ stream: 'stderr' })).fullOutput).toMatchObject({
      complete: false,
      storedBytes: 0,
      declaredBytes: 10,
      notes: ['INCOMPLETE: the server holds 0 of the 10 bytes the device spooled; the rest never arrived'],
      text: '',
    });
  });
});
