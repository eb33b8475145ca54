/**
 * Delivery: each command goes to its device's connection signed by the server, with the approval digest its row
 * carries (the one the command authority verified when it was made) when it needed one; the agent verifies both before it runs anything. Commands go out when their NOTIFY
 * arrives, when their device connects, and again when they sat pending too long (a lost notification); the agent's
 * journal makes a second delivery harmless.
 */
import { signCommand } from '../../cage/command-signing';
import { commandRunSeconds, PROTOCOL_VERSION, type CommandDispatch, type CommandKind } from '../../common/protocol';
import { stalePending, takeForDelivery, type Deliverable } from '../../lib/device-commands';
import { contextOf, SpanKind, startSpan, traceparentOf, withSpan } from '../../lib/tracing';
import type { CommandsNote } from '../../lib/pg-events';
import type { ApiDeps } from '../deps';
import type { AgentConnections, AgentSocket } from './agent-sockets';
import { queuedCommandLoader } from './fleet-batches';

/** The protocol's ceiling on a dispatch timeout, and the margin above a command's own kill timer. */
const MAX_DISPATCH_SECONDS = 3600;
const DISPATCH_GRACE_SECONDS = 30;

/**
 * The dispatch timeout signed into a command: never shorter than the command's own kill timer (a library script's
 * 300 s, apt's 1800 s): the agent kills the process tree when this passes, and must not report TIMEOUT for a script
 * it let keep running.
 */
export function dispatchTimeoutSeconds(deps: Pick<ApiDeps, 'config'>, kind: string, params: unknown): number {
  return Math.min(MAX_DISPATCH_SECONDS, Math.max(deps.config.commandTimeoutSeconds, commandRunSeconds(kind as CommandKind, (params ?? {}) as Record<string, unknown>) + DISPATCH_GRACE_SECONDS));
}

export interface Delivery {
  /** Delivers the announced commands whose devices are connected to this node. */
  deliver(commands: CommandsNote['commands']): Promise<void>;
  /** Sends a newly connected device what was queued while it was away. */
  deliverQueued(socket: AgentSocket): Promise<void>;
  /** Sends again the pending commands of devices connected here whose announcement was lost. */
  redeliverStale(): Promise<void>;
}

export function createDelivery(deps: ApiDeps, connections: AgentConnections): Delivery {
  const { prisma } = deps;
  const queuedOf = queuedCommandLoader(deps.pool);

  /**
   * Signs and sends one command; the caller records that it went out (the agent's journal makes a repeat harmless).
   * Its span joins the trace of the activity that queued it, and the frame carries it on to the agent.
   */
  const send = (socket: AgentSocket, cmd: Deliverable) => {
    const span = startSpan(`command:dispatch ${cmd.kind}`, {
      parent: contextOf(cmd.traceparent),
      kind: SpanKind.PRODUCER,
      attributes: { 'gatehouse.command.id': cmd.id, 'gatehouse.command.kind': cmd.kind, 'gatehouse.device.id': cmd.deviceId },
    });
    const traceparent = withSpan(span, () => traceparentOf());
    const unsigned = {
      v: PROTOCOL_VERSION as typeof PROTOCOL_VERSION,
      commandId: cmd.id,
      kind: cmd.kind as CommandDispatch['kind'],
      params: cmd.params as Record<string, unknown>,
      expiresAt: cmd.expiresAt.toISOString(),
      timeoutSeconds: dispatchTimeoutSeconds(deps, cmd.kind, cmd.params),
      approvalDigest: cmd.approvalDigest,
    };
    const msg: CommandDispatch = {
      ...unsigned,
      signature: signCommand(deps.config.commandSigningKey, { ...unsigned, deviceId: cmd.deviceId }),
      ...(traceparent ? { trace: { traceparent } } : {}),
    };
    socket.emit('command:dispatch', msg);
    span.end();
  };

  const sendAll = async (commands: (Deliverable & { status: string })[]) => {
    for (const cmd of commands) {
      const socket = connections.live(cmd.deviceId);
      if (socket) send(socket, cmd);
    }
    const sent = commands.filter((c) => c.status === 'pending').map((c) => c.id);
    if (sent.length) await prisma.deviceCommand.updateMany({ where: { id: { in: sent }, status: 'pending' }, data: { status: 'delivered', deliveredAt: new Date() } });
  };

  return {
    async deliver(commands) {
      // The note says which device each command is for; the row says it with authority.
      const here = commands.filter((c) => connections.live(c.deviceId)).map((c) => c.commandId);
      if (!here.length) return;
      // Marked delivered as they are taken (one statement): should a connection drop in between, the agent gets its
      // delivered commands again when it reconnects.
      const taken = await takeForDelivery(deps.pool, here);
      for (const cmd of taken) {
        const socket = connections.live(cmd.deviceId);
        if (socket) send(socket, cmd);
      }
    },
    async deliverQueued(socket) {
      // One query for the connections of a few milliseconds (fleet-batches.ts): a restarted node's fleet reconnects at once.
      const queued = await queuedOf.load(socket.data.deviceId);
      await sendAll(queued);
    },
    async redeliverStale() {
      // A notification can be lost (a worker killed between writing the command and announcing it, an api
      // restarting): pending commands of agents connected here that are a few seconds old are sent again.
      const connected = connections.liveDeviceIds();
      if (!connected.length) return;
      await sendAll(await stalePending(deps.pool, connected, 3000, 200));
    },
  };
}
