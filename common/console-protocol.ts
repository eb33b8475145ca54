/**
 * The `/console` catalog: what browsers and the CLI may send (a subscription to a session) and what they receive
 * (that session's progress, as the activities announce it). The server (api/gateway/console.ts), the CLI, the test
 * harness and, through the generated web/lib/events.js, the console page all take their event names and types
 * from here.
 */
import { z } from 'zod';
import { RemediationCounts } from './remediation-progress';
import { Direction, eventNames, type EventCatalog, type EventsOf } from './socket-catalog';

/** Kinds of session progress pushed to watchers. */
export const SessionEventType = {
  TurnStarted: 'turn:started',
  ModelReplied: 'model:replied',
  ToolStarted: 'tool:started',
  ToolCompleted: 'tool:completed',
  ToolDenied: 'tool:denied',
  ApprovalRequested: 'approval:requested',
  ApprovalDecided: 'approval:decided',
  BreakerTripped: 'breaker:tripped',
  RemediationProgress: 'remediation:progress',
  /** A command is queued for a device that is offline: it waits (until `expiresAt`) and can be cancelled meanwhile. */
  CommandWaiting: 'command:waiting',
  /**
   * The turn has its answer (`status` answered), was refused or failed, and the workflow's state says so: read it at
   * once with GET /v1/sessions/:id/turns/:turnId (or the whole session). Told by the workflow (a hint: a watcher that
   * misses it, say across a worker restart, reads at its next poll).
   */
  TurnEnded: 'turn:ended',
} as const;
export type SessionEventType = (typeof SessionEventType)[keyof typeof SessionEventType];

export const SessionEvent = z.object({
  sessionId: z.uuid(),
  turnId: z.string(),
  type: z.enum(Object.values(SessionEventType) as [SessionEventType, ...SessionEventType[]]),
  approvalId: z.uuid().optional(),
  /** The tool invocation (for run_remediation, also the remediation's id at /v1/remediations/:id). */
  invocationId: z.string().max(200).optional(),
  tool: z.string().optional(),
  /** tool:started: the call runs as a remediation, followed at /v1/remediations/<invocationId>. */
  remediation: z.boolean().optional(),
  /** remediation:progress: devices finished so far, by outcome, of `total` (counted by ./remediation-progress.ts). */
  progress: RemediationCounts.optional(),
  tier: z.number().optional(),
  status: z.string().optional(),
  text: z.string().optional(),
  /** command:waiting: the command (cancel it with POST /v1/commands/:id/cancel), its device, and until when it waits. */
  commandId: z.string().max(300).optional(),
  device: z.string().max(300).optional(),
  expiresAt: z.string().optional(),
  /** tool:completed: the detector flagged the output as containing instructions (shown as untrusted). */
  flagged: z.boolean().optional(),
});
export type SessionEvent = z.infer<typeof SessionEvent>;

export const SessionSubscribe = z.object({ sessionId: z.uuid() }).strict();
export type SessionSubscribe = z.infer<typeof SessionSubscribe>;
export const SessionSubscribeAck = z.object({ ok: z.boolean(), error: z.string().optional() });
export type SessionSubscribeAck = z.infer<typeof SessionSubscribeAck>;

export const ConsoleEvents = {
  'session:subscribe': { direction: Direction.ToServer, payload: SessionSubscribe, ack: SessionSubscribeAck },
  'session:event': { direction: Direction.ToClient, payload: SessionEvent },
} as const satisfies EventCatalog;
export type ConsoleClientEvents = EventsOf<typeof ConsoleEvents, typeof Direction.ToServer>;
export type ConsoleServerEvents = EventsOf<typeof ConsoleEvents, typeof Direction.ToClient>;
/** What a watcher may send: anything else is refused. */
export const CONSOLE_CLIENT_EVENTS = eventNames(ConsoleEvents, Direction.ToServer);
