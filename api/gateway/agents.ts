/**
 * The agent gateway: Socket.IO `/agents`, wired from small handlers (as socket.io's basic-crud example wires its
 * handler factories): who may connect (./agent-auth.ts), per-agent frame limits and the protocol's events
 * (./agent-limits.ts), delivery of signed commands (./delivery.ts), results (./results.ts) and full output
 * (./command-output.ts), remediation progress (./progress.ts), and the periodic sweep (./sweep.ts). Frames that do
 * not match the protocol (common/protocol.ts) are dropped and counted; the connection stays up.
 */
import type { CommandsNote } from '../../lib/pg-events';
import type { ApiDeps } from '../deps';
import { createAgentAuth } from './agent-auth';
import { limitFrames } from './agent-limits';
import { AgentConnections, replyTo, type AgentNamespace, type AgentSocket, type GatewayCounters } from './agent-sockets';
import { storeOutputChunk } from './command-output';
import { createDelivery } from './delivery';
import { PresenceWriter } from './fleet-batches';
import { createInvocationLookup } from './invocations';
import { createProgressPublisher } from './progress';
import { createResults } from './results';
import { createSweep } from './sweep';

export type { AgentNamespace } from './agent-sockets';

export interface AgentGateway {
  /** Delivers the queued commands whose devices are connected to this node. */
  deliver(commands: CommandsNote['commands']): Promise<void>;
  /** Expires overdue commands and completes activities whose result is stored but not yet reported. */
  sweep(): Promise<void>;
  stats(): { connected: number } & GatewayCounters;
  /** The device's `/agents` socket while it is connected to this node (the terminal relay's other end). */
  live(deviceId: string): AgentSocket | undefined;
  /** Closes every agent's connection; resolves once their online flags are written. */
  close(): Promise<void>;
}

/** Where the agents' terminal frames go (./terminals.ts); set once the `/terminal` namespace exists. */
export interface AgentTerminalSink {
  onAgentOutput(agent: AgentSocket, raw: unknown, ack: (a: { ok: boolean }) => void): void;
  onAgentExit(agent: AgentSocket, raw: unknown): void;
  agentGone(deviceId: string): void;
}

export function createAgentGateway(nsp: AgentNamespace, deps: ApiDeps, terminals: () => AgentTerminalSink | undefined = () => undefined): AgentGateway {
  const { prisma, logger } = deps;
  const connections = new AgentConnections(logger);
  const auth = createAgentAuth(nsp, deps, connections);
  const invocationOf = createInvocationLookup(prisma);
  const delivery = createDelivery(deps, connections);
  const progress = createProgressPublisher(deps, invocationOf);
  const results = createResults(deps, connections, progress);
  const presenceWrites = new PresenceWriter(deps);

  nsp.use((socket, next) => void auth.middleware(socket, next));
  nsp.on('connection', (socket: AgentSocket) => {
    const { deviceId } = socket.data;
    connections.add(socket);
    void socket.join(`device:${deviceId}`);
    logger.info({ deviceId, name: socket.data.name }, 'agent connected');
    presenceWrites.mark(deviceId, true);

    limitFrames(socket, deps, connections);
    socket.on('command:output', (raw: unknown, ack: unknown) => {
      const reply = replyTo(ack);
      void storeOutputChunk(deps, socket.data, raw).then((outcome) => {
        if (outcome.invalid) connections.drop(socket, 'command:output', outcome.invalid);
        reply(outcome.ack);
      });
    });
    socket.on('command:result', (raw: unknown, ack: unknown) => {
      const reply = replyTo(ack);
      results.onResult(socket, raw, reply).catch((err: unknown) => {
        logger.error({ err, deviceId }, 'failed to record a command result');
        // Not recorded (the database refused or is away): the agent keeps the result and sends it again.
        reply({ accepted: false, reason: 'not recorded; send it again later' });
      });
    });
    socket.on('terminal:output', (raw: unknown, ack: unknown) => {
      terminals()?.onAgentOutput(socket, raw, (a) => typeof ack === 'function' && ack(a));
    });
    socket.on('terminal:exit', (raw: unknown) => terminals()?.onAgentExit(socket, raw));
    socket.on('disconnect', () => {
      terminals()?.agentGone(deviceId);
      // Only the device's current connection takes it offline: the one a reconnect replaced has nothing to say.
      if (connections.remove(socket)) {
        auth.released(deviceId);
        presenceWrites.mark(deviceId, false);
      }
    });
    // Commands queued while the device was away.
    delivery.deliverQueued(socket).catch((err: unknown) => logger.error({ err, deviceId }, 'failed to deliver queued commands'));
  });

  return {
    deliver: (commands) => delivery.deliver(commands),
    sweep: createSweep(deps, delivery, results),
    stats: () => ({ connected: connections.size, ...connections.counters }),
    live: (deviceId) => connections.live(deviceId),
    close() {
      auth.close();
      progress.close();
      connections.closeAll();
      return presenceWrites.close();
    },
  };
}
