/**
 * bench/ask: a T1 question, from the technician's POST to the answer being readable (read as the CLI and the console
 * read it: on the pushed `turn:ended`, or at the 750 ms poll, GET /v1/sessions/:id/turns/:turnId shows the turn
 * answered), over N questions `get_device_info` on a simulated endpoint (the offline model's `/tool` form: a
 * model call that asks for the tool, the read on the device, a model call that answers). Next to it, in the same run
 * on the same Temporal server and offline model, a bare Temporal workflow of the same shape: a model activity (the
 * Anthropic SDK against the same offline model, with the same tool list), one activity doing a raw Socket.IO round
 * trip to an agent process (bench/echo-agent.ts), a second model activity; timed from start to result.
 * Each Gatehouse question is split into hops from the rows it leaves (their database timestamps, one clock).
 *   npm run bench -- ask [--n 200]
 */
import { fork } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { Worker } from '@temporalio/worker';
import { Server } from 'socket.io';
import { anthropicToolDefinitions } from '../common/tools';
import { dataConverterOf } from '../lib/payload-codec';
import { startTestSystem, type SessionWatch, type TestSystem } from '../test/harness';
import { raiseLimitsAsAdmin } from './bench-limits';
import { emit, summarize } from './stats';

/** The hops of one question, in ms, from the rows it left. */
// `told`: from the answer's row to the pushed turn:ended heard; `read`: from then to the read that shows the answer.
const HOPS = ['admit', 'model1', 'authorize', 'queue', 'deliver', 'agent', 'record', 'result', 'model2', 'told', 'read'] as const;
type Hops = Record<(typeof HOPS)[number], number>;

export async function runAskBench(n: number): Promise<void> {
  // One device answers every question, n of them in a minute or two: its frame limit (the operator's setting, 120 a
  // minute by default) is raised to fit, as an operator would for such a device; the user's limits go through the
  // admin API below. At the default, the 121st result in a minute waits for the window (api/gateway/agent-limits.ts).
  const sys = await startTestSystem({ simulated: 1, env: { RATE_AGENT_MESSAGES_PER_MINUTE: String(Math.max(120, 3 * n)) } });
  try {
    await raiseLimitsAsAdmin(sys, n);
    const [deviceId] = [...sys.simulated.values()] as [string];
    const bareRun = await startBareAsk(sys, deviceId);
    const bare: number[] = [];

    const tech = sys.keyOf('technician');
    const sessionId = await sys.startSession(tech);
    const watch = await sys.watchSession(sessionId, tech);
    const question = `/tool get_device_info ${JSON.stringify({ device_id: deviceId })}`;
    const times: number[] = [];
    const hops: Hops[] = [];
    try {
      // One bare run, then one question, in turn: the machine's load (shared, and changing) weighs on both alike.
      for (let i = 0; i < n; i++) {
        bare.push(await bareRun.once(i));
        const t0 = Date.now();
        const turnId = await sys.send(sessionId, tech, question);
        const { at: t1, told } = await answeredAt(sys, watch, sessionId, tech, turnId);
        times.push(t1 - t0);
        hops.push(await hopsOf(sys, sessionId, turnId, t0, told, t1));
      }
    } finally {
      watch.close();
      await bareRun.stop();
    }
    emit({ bench: 'ask', phase: 'bare-inside-activities', ...summarize(bareRun.insides) });
    emit({ bench: 'ask', phase: 'bare-temporal', ...summarize(bare) });
    const g = summarize(times);
    const b = summarize(bare);
    emit({ bench: 'ask', phase: 'post-to-answer', ...g });
    emit({ bench: 'ask', phase: 'hops-p50-ms', ...Object.fromEntries(HOPS.map((h) => [h, summarize(hops.map((x) => x[h])).p50])) });
    // The slowest questions with their hops: a mean far above the p99 is a few long waits, and this says where.
    const slowest = times.map((ms, i) => ({ i, ms, hops: hops[i] })).sort((x, y) => y.ms - x.ms).slice(0, 3);
    emit({ bench: 'ask', phase: 'slowest', questions: slowest });
    emit({
      bench: 'ask',
      summary: true,
      n,
      postToAnswerMs: { p50: g.p50, p99: g.p99 },
      bareWorkflowMs: { p50: b.p50, p99: b.p99 },
      ratio: { p50: ratio(g.p50, b.p50), p99: ratio(g.p99, b.p99) },
      goal: 'at most 1.3 of bare Temporal',
    });
  } finally {
    await sys.stop();
  }
}

/**
 * When the answer is readable, found as the CLI finds it (cli/copilot.ts `ask`): told by the pushed `turn:ended`, or
 * at its 750 ms poll, it reads the turn; the moment that read shows the turn answered.
 */
async function answeredAt(sys: TestSystem, watch: SessionWatch, sessionId: string, key: string, turnId: string): Promise<{ at: number; told: number }> {
  const deadline = Date.now() + 60_000;
  let told = NaN;
  // Heard once: a read that does not show it ended (it always should) waits for the next poll, as the CLI does.
  let pushed: Promise<unknown> = watch
    .next((e) => e.type === 'turn:ended' && e.turnId === turnId, 'the turn to end', 60_000)
    .then(() => (told = Date.now()))
    .catch(() => undefined);
  while (Date.now() < deadline) {
    await Promise.race([pushed, new Promise((r) => setTimeout(r, 750))]);
    pushed = new Promise(() => undefined);
    const turn = (await sys.request('GET', `/v1/sessions/${sessionId}/turns/${turnId}`, { key })).body;
    if (turn.status === 'answered') return { at: Date.now(), told };
    if (turn.status === 'failed' || turn.status === 'refused') throw new Error(`the question was ${turn.status}: ${turn.error ?? turn.answer}`);
  }
  throw new Error('no answer within 60 s');
}

const ratio = (a: number, b: number) => Math.round((a / Math.max(b, 0.01)) * 100) / 100;

/** The rows a question left, as hops: admission, each model call, authorization, the command's way, the result. */
async function hopsOf(sys: TestSystem, sessionId: string, turnId: string, t0: number, told: number, t1: number): Promise<Hops> {
  const messages = await sys.prisma.message.findMany({ where: { sessionId, turnId }, orderBy: { seq: 'asc' } });
  const invocation = await sys.prisma.toolInvocation.findFirstOrThrow({ where: { sessionId, turnId, toolName: 'get_device_info' } });
  const command = await sys.prisma.deviceCommand.findFirstOrThrow({ where: { invocationId: invocation.id } });
  const at = (d: Date | null | undefined) => d?.getTime() ?? NaN;
  const user = messages.find((m) => m.kind === 'user_text');
  const [first, second] = messages.filter((m) => m.kind === 'assistant');
  return {
    admit: at(user?.createdAt) - t0,
    model1: at(first?.createdAt) - at(user?.createdAt),
    authorize: at(invocation.createdAt) - at(first?.createdAt),
    queue: at(command.createdAt) - at(invocation.createdAt),
    deliver: at(command.startedAt) - at(command.createdAt),
    agent: at(command.finishedAt) - at(command.startedAt),
    record: at(command.completedAt) - at(command.finishedAt),
    result: at(invocation.completedAt) - at(command.completedAt),
    model2: at(second?.createdAt) - at(invocation.completedAt),
    told: told - at(second?.createdAt),
    read: t1 - told,
  };
}

/** The same shape on bare Temporal: `once(i)` runs one workflow and answers its time from start to result. */
async function startBareAsk(sys: TestSystem, deviceId: string): Promise<{ once(i: number): Promise<number>; insides: number[]; stop(): Promise<void> }> {
  const io = new Server(0, { transports: ['websocket'] });
  const port = (io.httpServer.address() as AddressInfo).port;
  const agent = fork(path.join(__dirname, 'echo-agent.ts'), [`http://127.0.0.1:${port}`], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  await new Promise<void>((resolve, reject) => {
    agent.once('message', () => resolve());
    agent.once('exit', (code) => reject(new Error(`the echo agent exited (${code})`)));
  });
  const [socket] = [...io.of('/').sockets.values()];
  const anthropic = new Anthropic({ apiKey: 'bench', baseURL: sys.modelUrl, maxRetries: 0 });
  const tools = anthropicToolDefinitions() as Anthropic.Tool[];
  const ask = { role: 'user' as const, content: `/tool get_device_info ${JSON.stringify({ device_id: deviceId })}` };
  const system = 'You are a bench: the same request shape as the copilot, nothing of Gatehouse around it.';
  let first: Anthropic.Message | undefined;
  let reading: unknown;
  // Time spent inside the activities (the rest of a run is Temporal's scheduling), per run.
  let inside = 0;
  const activities = {
    async askModel(step: number) {
      const t = performance.now();
      const toolUse = first?.content.find((b) => b.type === 'tool_use');
      const messages: Anthropic.MessageParam[] =
        step === 0 || !toolUse
          ? [ask]
          : [ask, { role: 'assistant', content: first!.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: JSON.stringify(reading) }] }];
      const reply = await anthropic.messages.create({ model: 'offline', max_tokens: 2048, system, tools, messages });
      if (step === 0) first = reply;
      inside += performance.now() - t;
    },
    async askDevice(i: number) {
      const t = performance.now();
      reading = await socket!.timeout(10_000).emitWithAck('command', { kind: 'system_info', i });
      inside += performance.now() - t;
    },
  };
  const worker = await Worker.create({
    connection: sys.temporal.nativeConnection,
    dataConverter: dataConverterOf(sys.payloadCodec),
    taskQueue: 'bench-ask-baseline',
    workflowsPath: require.resolve('./baseline-workflows'),
    activities,
  });
  const running = worker.run();
  const insides: number[] = [];
  return {
    insides,
    async once(i) {
      inside = 0;
      const t0 = Date.now();
      await sys.temporal.client.workflow.execute('askRoundTrip', { taskQueue: 'bench-ask-baseline', workflowId: `bench-ask-${Date.now()}-${i}`, args: [i] });
      insides.push(inside);
      return Date.now() - t0;
    },
    async stop() {
      worker.shutdown();
      await running;
      agent.kill();
      await io.close();
    },
  };
}
