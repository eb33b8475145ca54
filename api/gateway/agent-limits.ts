/**
 * Per-agent frame limits (Redis sliding windows), and the protocol's list of events: chunks of full output have
 * their own, larger limit, so a command's 64 uploads of 256 KiB do not crowd out its results. Excess frames are
 * dropped and counted (a frame that asked for an answer is told to come again later); an agent that keeps sending past twice its limit within a window is disconnected and
 * flagged. Redis down: frames are dropped. Behind the limit, an event the protocol does not have is dropped,
 * counted, and answered if it asked to be.
 */
import { AGENT_TO_SERVER_EVENTS, OutputRefusal } from '../../common/protocol';
import { AGENT_TERMINAL_EVENTS } from '../../common/terminal-protocol';
import { audit } from '../../audit/log';
import type { ApiDeps } from '../deps';
import { replyTo, type AgentConnections, type AgentSocket } from './agent-sockets';

export function limitFrames(socket: AgentSocket, deps: ApiDeps, connections: AgentConnections): void {
  const { deviceId } = socket.data;
  const { counters } = connections;
  const limits = { frames: deps.config.guards.rates.agentMessages, output: deps.config.guards.rates.agentOutputChunks };
  let refused = { count: 0, since: Date.now() };
  socket.use(([event, ...args], next) => {
    // A terminal's frames are bounded by its output window (./terminal-relay.ts), not by a Redis round trip each:
    // an agent that sends past its window loses the terminal.
    if (AGENT_TERMINAL_EVENTS.has(event)) return next();
    const kind = event === 'command:output' ? 'output' : 'frames';
    const limit = limits[kind];
    deps.limiter.hit(`agent:${deviceId}:${kind}`, limit).then(
      (r) => {
        if (r.allowed) return next();
        counters.throttledFrames += 1;
        deps.metrics.rateLimitRefusals.inc({ limit: kind === 'output' ? 'agent_output' : 'agent_frames' });
        if (Date.now() - refused.since > limit.windowMs) refused = { count: 0, since: Date.now() };
        refused.count += 1;
        if (refused.count > limit.max && socket.connected) {
          counters.floodDisconnects += 1;
          deps.logger.warn({ deviceId }, 'agent flooding the gateway; disconnected');
          void audit(deps.prisma, { orgId: socket.data.orgId, actorType: 'agent', actorId: deviceId, action: 'security.agent_flood', target: socket.data.name }).catch(() => undefined);
          socket.disconnect(true);
        }
        // Dropped, and said so to a frame that asked for an answer: the agent sends it again later instead of
        // waiting for an answer that never comes (a result it would otherwise offer again only when asked).
        replyTo(args.at(-1))({ accepted: false, reason: OutputRefusal.RetryLater });
        next(new Error('rate limited'));
      },
      () => {
        counters.throttledFrames += 1;
        deps.metrics.failClosed.inc({ store: 'redis', check: 'agent_frames' });
        replyTo(args.at(-1))({ accepted: false, reason: OutputRefusal.RetryLater });
        next(new Error('rate limit store unavailable'));
      },
    );
  });
  socket.use(([event, ...args], next) => {
    if (AGENT_TO_SERVER_EVENTS.has(event)) return next();
    connections.drop(socket, String(event).slice(0, 50), 'unknown event');
    replyTo(args.at(-1))({ accepted: false, reason: 'unknown event' });
    next(new Error('unknown event'));
  });
  socket.on('error', () => undefined); // refusals from the middlewares above; already counted
}
