/**
 * The remote terminal's wire: two zod catalogs, one per hop. Browsers (and the bench's clients) talk to the api on
 * the Socket.IO `/terminal` namespace (TerminalEvents); the api talks to the agent over its `/agents` connection
 * (AgentTerminalEvents, merged into common/protocol.ts's AgentEvents). Every frame carries `v` and is parsed on
 * arrival; one that does not parse is dropped.
 *
 * Flow control, end to end: output travels agent → api → browser with an acknowledgement per frame, and the agent
 * stops reading its PTY while TERMINAL_OUTPUT_WINDOW bytes wait for one (so a `yes` flood holds at most a window per
 * hop, never more). Input travels browser → api → agent, acknowledged the same way; the api holds at most
 * TERMINAL_INPUT_BUFFER bytes for a terminal (before the agent said the PTY is open, or while it is slow) and drops
 * past that with a notice to the browser.
 */
import { z } from 'zod';
import { Direction, eventNames, type EventCatalog, type EventsOf } from './socket-catalog';

export const TERMINAL_PROTOCOL_VERSION = 1;
const Version = z.literal(TERMINAL_PROTOCOL_VERSION);

/** The action an org's policy names to set the tier of opening a terminal (PUT /v1/orgs/:id/policy). */
export const TERMINAL_ACTION = 'open_terminal';
/** Default tier of opening a terminal: T4 (an approver other than the technician types the device name). */
export const TERMINAL_DEFAULT_TIER = 4;
/** Nothing below T3: a shell on an endpoint always waits for a human. */
export const TERMINAL_MIN_TIER = 3;

/** The largest output frame the agent sends (it cuts PTY output into frames of at most this). */
export const TERMINAL_FRAME_BYTES = 16 * 1024;
/** Output bytes the agent may have sent and not had acknowledged; past it the PTY is paused. */
export const TERMINAL_OUTPUT_WINDOW = 256 * 1024;
/** The largest input frame a browser may send. */
export const TERMINAL_INPUT_FRAME_BYTES = 4096;
/** Input the api holds for one terminal, waiting for the PTY to open or the agent to take it; past it input is dropped. */
export const TERMINAL_INPUT_BUFFER = 64 * 1024;
export const MAX_COLS = 500;
export const MAX_ROWS = 200;

const Cols = z.number().int().min(2).max(MAX_COLS);
const Rows = z.number().int().min(1).max(MAX_ROWS);
const Id = z.uuid();
const Bytes = (max: number) =>
  z.custom<Uint8Array>((d) => d instanceof Uint8Array, 'binary data').refine((d) => d.byteLength >= 1 && d.byteLength <= max, `1 to ${max} bytes`);

/** Why a terminal ended, as both hops report it. */
export const TerminalEnd = {
  Exited: 'exited',
  ClosedByUser: 'closed',
  Idle: 'idle',
  Window: 'window',
  Paused: 'paused',
  Revoked: 'revoked',
  Disconnected: 'disconnected',
  RecordingLimit: 'recording_limit',
  AgentGone: 'agent_gone',
  Failed: 'failed',
} as const;
export type TerminalEnd = (typeof TerminalEnd)[keyof typeof TerminalEnd];
const EndReason = z.enum(Object.values(TerminalEnd) as [TerminalEnd, ...TerminalEnd[]]);

// ---- Browser ↔ api: the `/terminal` namespace -------------------------------------------------------------------

export const TerminalOpen = z.object({ v: Version, terminalId: Id, cols: Cols, rows: Rows }).strict();
export type TerminalOpen = z.infer<typeof TerminalOpen>;
/** Answer to `terminal:open`: accepted (the PTY is being opened; wait for `terminal:connected`) or why not. */
export const TerminalOpenAck = z.object({ ok: z.boolean(), error: z.string().max(300).optional(), recordingId: Id.optional() });
export type TerminalOpenAck = z.infer<typeof TerminalOpenAck>;
export const TerminalInput = z.object({ v: Version, data: z.string().min(1).max(TERMINAL_INPUT_FRAME_BYTES) }).strict();
export type TerminalInput = z.infer<typeof TerminalInput>;
export const TerminalResize = z.object({ v: Version, cols: Cols, rows: Rows }).strict();
export type TerminalResize = z.infer<typeof TerminalResize>;
export const TerminalClose = z.object({ v: Version }).strict();
export const FrameAck = z.object({ ok: z.boolean() });
export type FrameAck = z.infer<typeof FrameAck>;

/** The PTY is open on the endpoint: from now on input and resizes reach it (earlier ones were held, in order). */
export const TerminalConnected = z.object({ v: Version, recordingId: Id, cols: Cols, rows: Rows, windowEndsAt: z.iso.datetime(), device: z.string().max(200) }).strict();
export type TerminalConnected = z.infer<typeof TerminalConnected>;
export const TerminalOutput = z.object({ v: Version, data: Bytes(TERMINAL_FRAME_BYTES) }).strict();
export type TerminalOutput = z.infer<typeof TerminalOutput>;
export const TerminalNotice = z.object({ v: Version, text: z.string().max(300) }).strict();
export type TerminalNotice = z.infer<typeof TerminalNotice>;
export const TerminalClosed = z.object({ v: Version, reason: EndReason, exitCode: z.number().int().nullable(), text: z.string().max(300) }).strict();
export type TerminalClosed = z.infer<typeof TerminalClosed>;

export const TerminalEvents = {
  'terminal:open': { direction: Direction.ToServer, payload: TerminalOpen, ack: TerminalOpenAck },
  'terminal:input': { direction: Direction.ToServer, payload: TerminalInput, ack: FrameAck },
  'terminal:resize': { direction: Direction.ToServer, payload: TerminalResize },
  'terminal:close': { direction: Direction.ToServer, payload: TerminalClose },
  'terminal:connected': { direction: Direction.ToClient, payload: TerminalConnected },
  'terminal:output': { direction: Direction.ToClient, payload: TerminalOutput, ack: FrameAck },
  'terminal:notice': { direction: Direction.ToClient, payload: TerminalNotice },
  'terminal:closed': { direction: Direction.ToClient, payload: TerminalClosed },
} as const satisfies EventCatalog;
export type TerminalClientEvents = EventsOf<typeof TerminalEvents, typeof Direction.ToServer>;
export type TerminalServerEvents = EventsOf<typeof TerminalEvents, typeof Direction.ToClient>;
export const TERMINAL_CLIENT_EVENTS = eventNames(TerminalEvents, Direction.ToServer);

// ---- api ↔ agent: on `/agents` -----------------------------------------------------------------------------------

/**
 * Opens a PTY. Signed by the api like a command (cage/command-signing.ts, kind "terminal", the recording id as the
 * command id), with the digest of the approval that granted it: the agent opens nothing unsigned or unapproved, and
 * closes the PTY by itself at `expiresAt` (the end of the approval's window) whatever the api does.
 */
export const AgentTerminalOpen = z
  .object({
    v: Version,
    id: Id,
    cols: Cols,
    rows: Rows,
    idleSeconds: z.number().int().min(10).max(86_400),
    expiresAt: z.iso.datetime(),
    approvalDigest: z.string().regex(/^[0-9a-f]{64}$/),
    signature: z.string().max(200),
  })
  .strict();
export type AgentTerminalOpen = z.infer<typeof AgentTerminalOpen>;
/** The agent's "connected": the PTY is open (ok), or why it is not. */
export const AgentTerminalOpenAck = z.object({ ok: z.boolean(), error: z.string().max(300).optional() });
export type AgentTerminalOpenAck = z.infer<typeof AgentTerminalOpenAck>;
export const AgentTerminalInput = z.object({ v: Version, id: Id, data: z.string().min(1).max(TERMINAL_INPUT_FRAME_BYTES) }).strict();
export type AgentTerminalInput = z.infer<typeof AgentTerminalInput>;
/** Answer to input: taken, and whether the terminal echoed at that moment (off: a password prompt; recorded redacted). */
export const AgentInputAck = z.object({ ok: z.boolean(), echo: z.boolean() });
export type AgentInputAck = z.infer<typeof AgentInputAck>;
export const AgentTerminalResize = z.object({ v: Version, id: Id, cols: Cols, rows: Rows }).strict();
export type AgentTerminalResize = z.infer<typeof AgentTerminalResize>;
export const AgentTerminalClose = z.object({ v: Version, id: Id, reason: EndReason }).strict();
export type AgentTerminalClose = z.infer<typeof AgentTerminalClose>;
export const AgentTerminalOutput = z.object({ v: Version, id: Id, data: Bytes(TERMINAL_FRAME_BYTES) }).strict();
export type AgentTerminalOutput = z.infer<typeof AgentTerminalOutput>;
export const AgentTerminalExit = z.object({ v: Version, id: Id, reason: EndReason, exitCode: z.number().int().nullable() }).strict();
export type AgentTerminalExit = z.infer<typeof AgentTerminalExit>;

export const AgentTerminalEvents = {
  'terminal:open': { direction: Direction.ToClient, payload: AgentTerminalOpen, ack: AgentTerminalOpenAck },
  'terminal:input': { direction: Direction.ToClient, payload: AgentTerminalInput, ack: AgentInputAck },
  'terminal:resize': { direction: Direction.ToClient, payload: AgentTerminalResize },
  'terminal:close': { direction: Direction.ToClient, payload: AgentTerminalClose },
  'terminal:output': { direction: Direction.ToServer, payload: AgentTerminalOutput, ack: FrameAck },
  'terminal:exit': { direction: Direction.ToServer, payload: AgentTerminalExit },
} as const satisfies EventCatalog;
/** Terminal frames from an agent: bounded by the output window, not by the per-agent frame rate in Redis. */
export const AGENT_TERMINAL_EVENTS = eventNames(AgentTerminalEvents, Direction.ToServer);

/** What the api signs to open a PTY (cage/command-signing.ts's SignedCommand, kind "terminal"). */
export function signedTerminalOpen(open: Omit<AgentTerminalOpen, 'signature' | 'v'>, deviceId: string) {
  return {
    v: TERMINAL_PROTOCOL_VERSION,
    commandId: open.id,
    deviceId,
    kind: 'terminal',
    params: { cols: open.cols, rows: open.rows, idleSeconds: open.idleSeconds },
    expiresAt: open.expiresAt,
    timeoutSeconds: 0,
    approvalDigest: open.approvalDigest,
  };
}
