/**
 * The events of one MCP connection's streams, kept so a client that lost its connection while a call waited can
 * reconnect with `Last-Event-ID` and get what it missed (progress, and the call's result once it comes): the
 * Streamable HTTP transport's resumability. In memory, per connection (gone with it, and with this api node: after
 * an api restart the client initializes a new session, and the call's outcome is in GET /v1/sessions/:id), and
 * bounded: the oldest events go first.
 */
import type { EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/** Enough for a long wait's progress notifications (one every few seconds) and its result. */
const MAX_EVENTS = 2000;

export class ConnectionEventStore implements EventStore {
  private readonly events = new Map<string, { streamId: string; seq: number; message: JSONRPCMessage }>();
  private seq = 0;

  async storeEvent(streamId: string, message: JSONRPCMessage): Promise<string> {
    this.seq += 1;
    const id = `${streamId}.${this.seq}`;
    this.events.set(id, { streamId, seq: this.seq, message });
    if (this.events.size > MAX_EVENTS) this.events.delete(this.events.keys().next().value!);
    return id;
  }

  async getStreamIdForEventId(eventId: string): Promise<string | undefined> {
    return this.events.get(eventId)?.streamId;
  }

  async replayEventsAfter(lastEventId: string, { send }: { send: (eventId: string, message: JSONRPCMessage) => Promise<void> }): Promise<string> {
    const last = this.events.get(lastEventId);
    if (!last) return '';
    for (const [id, e] of this.events) {
      // The priming event ({}) only gave the client an id to resume from.
      if (e.streamId === last.streamId && e.seq > last.seq && Object.keys(e.message).length > 0) await send(id, e.message);
    }
    return last.streamId;
  }
}
