/**
 * A device's result that its frame limit refused is not lost in silence: the gateway tells the agent to send it again
 * later, and the agent does, on the same connection, once the window has room (real api, Redis, agent process). A
 * result used to wait for the agent's next connect, and the technician for it (a 43 s stall in `bench ask`).
 */
import { io } from 'socket.io-client';
import { OutputRefusal, PROTOCOL_VERSION } from '../../common/protocol';
import { agentAuth, startTestSystem, toolStepOf, waitUntil, type TestSystem } from '../../test/harness';

let sys: TestSystem;
beforeAll(async () => {
  // Windows of 3 s (a twentieth of a minute), 20 frames per agent in each.
  sys = await startTestSystem({ simulated: 1, env: { RATE_WINDOW_SCALE: '0.05', RATE_AGENT_MESSAGES_PER_MINUTE: '20' } });
}, 120_000);
afterAll(async () => {
  await sys?.stop();
});

it("has the agent send a result its frame limit refused again on the same connection, and the question is answered", async () => {
  const [deviceId] = [...sys.simulated.values()] as [string];
  const tech = sys.keyOf('technician');
  const sessionId = await sys.startSession(tech);
  const connection = sys.api.gateway.live(deviceId)?.id;
  expect(connection).toBeDefined();
  const refusedBefore = sys.api.gateway.stats().throttledFrames;

  // The device's window full (as twenty frames just now would leave it): its next frame, the result, is refused.
  const window = { max: 20, windowMs: 3000 };
  for (let i = 0; i < 20; i++) await sys.limiter.hit(`agent:${deviceId}:frames`, window);
  const turnId = await sys.send(sessionId, tech, `/tool get_device_info ${JSON.stringify({ device_id: deviceId })}`);
  await waitUntil(async () => sys.api.gateway.stats().throttledFrames > refusedBefore, 'the result frame to be refused');

  const session = await sys.waitForTurn(sessionId, tech, turnId);
  expect(toolStepOf(session, turnId)).toMatchObject({ tool: 'get_device_info', status: 'succeeded' });
  // Sent again by the agent while connected, not after a reconnect.
  expect(sys.api.gateway.live(deviceId)?.id).toBe(connection);
  expect(sys.api.gateway.stats().floodDisconnects).toBe(0);
});

it('answers a frame past the limit that asked for an answer: send it again later (the agent is never left waiting)', async () => {
  const device = await sys.enrollDevice(`frames-${Date.now()}`);
  const agent = io(new URL('/agents', sys.url).toString(), { auth: agentAuth(device), transports: ['websocket'], reconnection: false });
  await new Promise<void>((resolve, reject) => {
    agent.once('connect', () => resolve());
    agent.once('connect_error', reject);
  });
  try {
    const now = new Date().toISOString();
    const result = (i: number) => ({ v: PROTOCOL_VERSION, commandId: `unknown-${i}`, ok: true, startedAt: now, finishedAt: now });
    // Twenty frames fit in the window (answered: no such command); the twenty-first is told to come again later.
    const acks = [];
    for (let i = 0; i < 21; i++) acks.push(await agent.timeout(5000).emitWithAck('command:result', result(i)));
    expect(acks.slice(0, 20).every((a) => a.reason === OutputRefusal.UnknownCommand)).toBe(true);
    expect(acks[20]).toEqual({ accepted: false, reason: OutputRefusal.RetryLater });
  } finally {
    agent.close();
  }
});
