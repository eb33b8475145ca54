/**
 * Progress of a copilot turn, announced by the activities over PostgreSQL NOTIFY and pushed by every api node to
 * the browsers and CLIs watching that session on Socket.IO `/console` (the events: common/console-protocol.ts).
 */
import type { PrismaClient } from '@prisma/client';
import type { SessionEvent } from '../common/console-protocol';
import { Channel } from './pg-events';

export { SessionEvent } from '../common/console-protocol';

// NOTIFY payloads must stay under 8000 bytes; text beyond this is shown in full by GET /v1/sessions/:id.
const MAX_TEXT = 2000;
const MAX_PAYLOAD_BYTES = 7900;

export async function publishSessionEvent(prisma: PrismaClient, event: SessionEvent): Promise<void> {
  await prisma.$executeRaw`SELECT pg_notify(${Channel.SessionEvents}, ${sessionEventPayload(event)})`;
}

/** The NOTIFY payload of an event on `Channel.SessionEvents`, for a statement that announces it with its own writes. */
export function sessionEventPayload(event: SessionEvent): string {
  let text = event.text?.slice(0, MAX_TEXT);
  let payload = JSON.stringify({ ...event, text });
  // NOTIFY refuses a payload of 8000 bytes or more, and fails the statement that sends it (the write it announces
  // with it too): text of multi-byte characters is cut further until it fits.
  while (text && Buffer.byteLength(payload, 'utf8') >= MAX_PAYLOAD_BYTES) {
    text = text.slice(0, Math.floor(text.length / 2));
    payload = JSON.stringify({ ...event, text });
  }
  return payload;
}
