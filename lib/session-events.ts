/**
 * Progress of a copilot turn, announced by the activities over PostgreSQL NOTIFY and pushed by every api node to
 * the browsers and CLIs watching that session on Socket.IO `/console`.
 */
import type { PrismaClient } from '@prisma/client';
import { z } from 'zod';
import { Channel } from './pg-events';

export const SessionEvent = z.object({
  sessionId: z.uuid(),
  turnId: z.string(),
  type: z.enum(['turn:started', 'model:replied', 'tool:started', 'tool:completed', 'tool:denied', 'approval:requested', 'approval:decided', 'breaker:tripped', 'remediation:progress']),
  approvalId: z.uuid().optional(),
  /** The tool invocation (for run_remediation, the remediation's id at /v1/remediations/:id). */
  invocationId: z.string().max(200).optional(),
  tool: z.string().optional(),
  /** remediation:progress: devices finished so far, by outcome, of `total`. */
  progress: z.object({ total: z.number().int(), succeeded: z.number().int(), failed: z.number().int() }).optional(),
  tier: z.number().optional(),
  status: z.string().optional(),
  text: z.string().optional(),
  /** tool:completed: the detector flagged the output as containing instructions (shown as untrusted). */
  flagged: z.boolean().optional(),
});
export type SessionEvent = z.infer<typeof SessionEvent>;

// NOTIFY payloads must stay under 8000 bytes; text beyond this is shown in full by GET /v1/sessions/:id.
const MAX_TEXT = 2000;

export async function publishSessionEvent(prisma: PrismaClient, event: SessionEvent): Promise<void> {
  const payload = JSON.stringify({ ...event, text: event.text?.slice(0, MAX_TEXT) });
  await prisma.$executeRaw`SELECT pg_notify(${Channel.SessionEvents}, ${payload})`;
}
