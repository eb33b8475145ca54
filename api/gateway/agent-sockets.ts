/**
 * What the pieces of the agent gateway share: the typed `/agents` sockets, the agents connected to this api node,
 * the counters `stats()` reports, and how a frame is dropped or answered.
 */
import type { Namespace, Socket } from 'socket.io';
import { PROTOCOL_VERSION, type AgentToServerEvents, type CommandResultAck, type ServerToAgentEvents } from '../../common/protocol';
import type { Logger } from '../../lib/logger';

export interface AgentData {
  deviceId: string;
  orgId: string;
  name: string;
}
export type AgentSocket = Socket<AgentToServerEvents, ServerToAgentEvents, Record<string, never>, AgentData>;
export type AgentNamespace = Namespace<AgentToServerEvents, ServerToAgentEvents, Record<string, never>, AgentData>;

export interface GatewayCounters {
  invalidFrames: number;
  resultsAccepted: number;
  throttledFrames: number;
  floodDisconnects: number;
}

/** The agents connected to this node, by device id. */
export class AgentConnections {
  private readonly sockets = new Map<string, AgentSocket>();
  readonly counters: GatewayCounters = { invalidFrames: 0, resultsAccepted: 0, throttledFrames: 0, floodDisconnects: 0 };

  constructor(private readonly logger: Logger) {}

  add(socket: AgentSocket): void {
    this.sockets.set(socket.data.deviceId, socket);
  }
  /** Forgets the socket, unless a newer connection of the device replaced it; true when it was forgotten. */
  remove(socket: AgentSocket): boolean {
    if (this.sockets.get(socket.data.deviceId) !== socket) return false;
    this.sockets.delete(socket.data.deviceId);
    return true;
  }
  /** The device's socket while it is connected here. */
  live(deviceId: string): AgentSocket | undefined {
    const socket = this.sockets.get(deviceId);
    return socket?.connected ? socket : undefined;
  }
  /** Every device known here (connected or just dropping), and those connected. */
  deviceIds(): string[] {
    return [...this.sockets.keys()];
  }
  liveDeviceIds(): string[] {
    return [...this.sockets.entries()].filter(([, s]) => s.connected).map(([id]) => id);
  }
  get size(): number {
    return this.sockets.size;
  }
  closeAll(): void {
    for (const socket of this.sockets.values()) socket.disconnect(true);
  }

  /** Drops a frame that does not fit the protocol: counted, logged, and the agent told why. */
  drop(socket: AgentSocket, event: string, reason: string): void {
    this.counters.invalidFrames += 1;
    this.logger.warn({ deviceId: socket.data.deviceId, event, reason }, 'dropped invalid agent frame');
    socket.emit('protocol:error', { v: PROTOCOL_VERSION, reason: `${event}: ${reason}`.slice(0, 500) });
  }
}

/** The frame's acknowledgement callback, if it asked for one (Socket.IO guards against a second call). */
export const replyTo = (ack: unknown) => (res: CommandResultAck) => {
  if (typeof ack === 'function') ack(res);
};
