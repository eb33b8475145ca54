/**
 * The agent protocol on the Socket.IO `/agents` namespace: one zod schema per event, checked on both sides.
 * Every frame carries `v`; a frame that does not parse is dropped and counted, and the connection stays up.
 */
import { z } from 'zod';
import { Direction, eventNames, type EventCatalog, type EventsOf } from './socket-catalog';
import { findUnstorable } from './text';
import { AgentTerminalEvents } from './terminal-protocol';

export const PROTOCOL_VERSION = 1;
/** Socket.IO `maxHttpBufferSize` for agents: the largest frame either side accepts. */
export const MAX_AGENT_FRAME_BYTES = 1_000_000;

const DeviceId = z.uuid();
/** `deviceCommandId(invocation id, device id)` (./ids.ts): word characters and `-`, in parts joined by `:`. */
const CommandId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\w-]+(?::[\w-]+)*$/, 'letters, digits, _ and - in parts joined by :');
const Version = z.literal(PROTOCOL_VERSION);

export const CommandKind = {
  SystemInfo: 'system_info',
  ListProcesses: 'list_processes',
  Metrics: 'get_metrics',
  ListServices: 'list_services',
  ManageService: 'manage_service',
  EventLogs: 'get_event_logs',
  ListSoftware: 'list_software',
  KillProcess: 'kill_process',
  RunScript: 'run_script',
  InstallUpdates: 'install_updates',
  Restart: 'restart',
  Shutdown: 'shutdown',
  UninstallSoftware: 'uninstall_software',
  Inventory: 'inventory',
  NetworkDiscovery: 'network_discovery',
} as const;
export type CommandKind = (typeof CommandKind)[keyof typeof CommandKind];
export const COMMAND_KINDS = Object.values(CommandKind) as [CommandKind, ...CommandKind[]];

export const ServiceName = z.string().min(1).max(100).regex(/^[\w.@ -]+$/, 'letters, digits, spaces and . _ @ - only');
export const Interpreter = z.enum(['bash', 'powershell']);
export const MAX_SCRIPT_BYTES = 64 * 1024;

const none = z.object({}).strict();
export const CommandParams = {
  system_info: none,
  list_processes: z
    .object({ sortBy: z.enum(['cpu', 'memory']).default('cpu'), limit: z.number().int().min(1).max(500).default(25) })
    .strict(),
  get_metrics: none,
  list_services: z.object({ filter: z.string().max(100).optional() }).strict(),
  manage_service: z.object({ service: ServiceName, action: z.enum(['status', 'start', 'stop', 'restart']) }).strict(),
  get_event_logs: z
    .object({
      log: z.string().max(64).default('System'),
      level: z.enum(['error', 'warning', 'info']).optional(),
      limit: z.number().int().min(1).max(200).default(50),
      sinceHours: z.number().int().min(1).max(24 * 30).default(24),
    })
    .strict(),
  list_software: z.object({ filter: z.string().max(100).optional() }).strict(),
  kill_process: z.object({ pid: z.number().int().min(1), name: z.string().max(256).optional() }).strict(),
  run_script: z
    .object({
      interpreter: Interpreter,
      script: z.string().min(1).max(MAX_SCRIPT_BYTES),
      timeoutSeconds: z.number().int().min(1).max(3600).default(60),
      name: z.string().max(100).optional(),
      parameters: z.record(z.string(), z.string().max(1000)).default({}),
    })
    .strict(),
  install_updates: z.object({ category: z.enum(['security', 'all']).default('security') }).strict(),
  restart: z.object({ reason: z.string().max(500).optional() }).strict(),
  shutdown: z.object({ reason: z.string().max(500).optional() }).strict(),
  uninstall_software: z.object({ name: z.string().min(1).max(200) }).strict(),
  inventory: none,
  network_discovery: z
    .object({
      cidr: z.string().max(18),
      ports: z.array(z.number().int().min(1).max(65_535)).min(1).max(64),
      timeoutMs: z.number().int().min(50).max(5000).default(400),
    })
    .strict(),
} satisfies Record<CommandKind, z.ZodType>;

export const AgentAuth = z
  .object({
    v: Version,
    deviceId: DeviceId,
    /** base64url, as enrollment issues it. */
    secret: z.string().min(20).max(200).regex(/^[\w-]+$/),
    agentVersion: z.string().min(1).max(40).regex(/^[\w.+-]+$/),
  })
  .strict();
export type AgentAuth = z.infer<typeof AgentAuth>;

/** The agent's own kill timer for package commands (apt can take long): see agent/executors/linux.ts. */
export const PACKAGE_COMMAND_SECONDS = { install_updates: 1800, uninstall_software: 600 } as const;

/**
 * How long a command may run on the agent by its own timer, in seconds (0 when it sets none). The dispatch timeout
 * the gateway signs is never shorter: an agent that gave up earlier would report TIMEOUT for a script still running.
 */
export function commandRunSeconds(kind: CommandKind, params: Record<string, unknown>): number {
  if (kind === 'run_script') return CommandParams.run_script.safeParse(params).data?.timeoutSeconds ?? 0;
  return kind in PACKAGE_COMMAND_SECONDS ? PACKAGE_COMMAND_SECONDS[kind as keyof typeof PACKAGE_COMMAND_SECONDS] : 0;
}

/**
 * The W3C trace context of a hop (OpenTelemetry): the gateway's dispatch span on a command, the agent's execution
 * span on its result. Optional (absent when tracing is off) and outside the signature: it only links spans, and
 * changes nothing about what runs.
 */
export const TraceContext = z
  .object({ traceparent: z.string().regex(/^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/, 'expected a W3C traceparent') })
  .strict();
export type TraceContext = z.infer<typeof TraceContext>;

export const CommandDispatch = z
  .object({
    v: Version,
    commandId: CommandId,
    kind: z.enum(COMMAND_KINDS),
    params: z.record(z.string(), z.unknown()),
    expiresAt: z.iso.datetime(),
    timeoutSeconds: z.number().int().min(1).max(3600),
    /** The digest of the approval the call needed, or null: part of what is signed. */
    approvalDigest: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
    /** Ed25519 over the canonical command and the device it is for (cage/command-signing.ts). */
    signature: z.string().max(200),
    trace: TraceContext.optional(),
  })
  .strict();
export type CommandDispatch = z.infer<typeof CommandDispatch>;

export const CommandError = z
  .object({
    code: z.string().regex(/^[A-Z_]{2,40}$/),
    message: z.string().max(2000),
  })
  .strict();

/** Deepest nesting accepted in a command's output. */
export const MAX_OUTPUT_DEPTH = 32;
/** Why `value` is not plain JSON that PostgreSQL can store (./text.ts), or null when it is. */
export function unstorableJson(value: unknown): string | null {
  return findUnstorable(value, MAX_OUTPUT_DEPTH)?.reason ?? null;
}

export const CommandResult = z
  .object({
    v: Version,
    commandId: CommandId,
    ok: z.boolean(),
    output: z
      .unknown()
      .superRefine((output, ctx) => {
        const why = unstorableJson(output);
        if (why) ctx.addIssue({ code: 'custom', message: `output: ${why}` });
      })
      .optional(),
    error: CommandError.optional(),
    startedAt: z.iso.datetime(),
    finishedAt: z.iso.datetime(),
    trace: TraceContext.optional(),
  })
  .strict();
export type CommandResult = z.infer<typeof CommandResult>;

export const ProtocolError = z.object({ v: Version, reason: z.string().max(500) }).strict();
export type ProtocolError = z.infer<typeof ProtocolError>;

export const CommandResultAck = z.object({ accepted: z.boolean(), reason: z.string().max(200).optional() });
export type CommandResultAck = z.infer<typeof CommandResultAck>;

/**
 * Full output. The result frame carries a command's stdout and stderr capped (head and tail); the agent also
 * spools each stream to disk, in full up to MAX_FULL_OUTPUT_BYTES, and uploads it in `command:output` chunks
 * before it sends the result. The result describes what was spooled, so the server can tell a complete copy from
 * an incomplete one.
 */
export const OutputStream = z.enum(['stdout', 'stderr']);
export type OutputStream = z.infer<typeof OutputStream>;
/** The endpoint's hard limit per stream: past it the agent keeps counting but stores nothing more. */
export const MAX_FULL_OUTPUT_BYTES = 8 * 1024 * 1024;
/** The largest `command:output` chunk; every chunk but a stream's last is exactly this size. */
export const OUTPUT_CHUNK_BYTES = 256 * 1024;
const MAX_CHUNK_SEQ = MAX_FULL_OUTPUT_BYTES / OUTPUT_CHUNK_BYTES - 1;

export const FullOutputStream = z
  .object({
    /** Bytes spooled (and uploaded): at most MAX_FULL_OUTPUT_BYTES. */
    bytes: z.number().int().min(0).max(MAX_FULL_OUTPUT_BYTES),
    /** Bytes the command wrote to the stream. */
    totalBytes: z.number().int().min(0),
    /** SHA-256 (hex) of the spooled bytes. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    /** The endpoint limit cut the stream: totalBytes - bytes were never stored. */
    cut: z.boolean(),
  })
  .strict();
export type FullOutputStream = z.infer<typeof FullOutputStream>;
export const FullOutput = z.object({ stdout: FullOutputStream, stderr: FullOutputStream }).strict();
export type FullOutput = z.infer<typeof FullOutput>;

export const CommandOutputChunk = z
  .object({
    v: Version,
    commandId: CommandId,
    stream: OutputStream,
    /** Chunk number within the stream, from 0; its bytes start at seq * OUTPUT_CHUNK_BYTES. Idempotent by (commandId, stream, seq). */
    seq: z.number().int().min(0).max(MAX_CHUNK_SEQ),
    /** Sent as binary (a Buffer in Node). */
    data: z
      .custom<Uint8Array>((d) => d instanceof Uint8Array, 'binary data')
      .refine((d) => d.byteLength >= 1 && d.byteLength <= OUTPUT_CHUNK_BYTES, `1 to ${OUTPUT_CHUNK_BYTES} bytes`),
  })
  .strict();
export type CommandOutputChunk = z.infer<typeof CommandOutputChunk>;

/** Why the gateway refused a `command:output` chunk. Another device's command answers exactly as an unknown one. */
export const OutputRefusal = {
  InvalidFrame: 'invalid frame',
  UnknownCommand: 'unknown command',
  /** The result is in: the output can no longer change. */
  Finished: 'command finished',
  /** The database did not take it: send the same chunk again. */
  RetryLater: 'not stored; send it again later',
} as const;

/**
 * The `/agents` catalog: every event either side may send, its payload and its acknowledgement. The gateway and
 * the agent take their Socket.IO typings (and the gateway its list of accepted events) from here.
 */
export const AgentEvents = {
  'command:dispatch': { direction: Direction.ToClient, payload: CommandDispatch },
  'protocol:error': { direction: Direction.ToClient, payload: ProtocolError },
  'command:result': { direction: Direction.ToServer, payload: CommandResult, ack: CommandResultAck },
  'command:output': { direction: Direction.ToServer, payload: CommandOutputChunk, ack: CommandResultAck },
  // The remote terminal (common/terminal-protocol.ts).
  ...AgentTerminalEvents,
} as const satisfies EventCatalog;
export type ServerToAgentEvents = EventsOf<typeof AgentEvents, typeof Direction.ToClient>;
export type AgentToServerEvents = EventsOf<typeof AgentEvents, typeof Direction.ToServer>;
/** What an agent may send: anything else is dropped and counted. */
export const AGENT_TO_SERVER_EVENTS = eventNames(AgentEvents, Direction.ToServer);

// Output shapes of the read-only commands; the server parses them before anything reaches the model.
export const SystemInfo = z.object({
  hostname: z.string().max(255),
  os: z.object({ platform: z.string(), release: z.string(), distro: z.string().optional() }),
  uptimeSeconds: z.number().nonnegative(),
  cpu: z.object({ model: z.string(), cores: z.number().int(), loadAverage: z.array(z.number()).max(3) }),
  memory: z.object({ totalBytes: z.number(), availableBytes: z.number() }),
  disks: z.array(z.object({ mount: z.string(), totalBytes: z.number(), availableBytes: z.number() })).max(64),
});
export type SystemInfo = z.infer<typeof SystemInfo>;

export const ProcessInfo = z.object({
  pid: z.number().int(),
  name: z.string().max(256),
  user: z.string().max(64).optional(),
  cpuPercent: z.number(),
  memoryBytes: z.number(),
  command: z.string().max(1024),
});
export const ProcessList = z.object({ total: z.number().int(), processes: z.array(ProcessInfo).max(500) });
export type ProcessList = z.infer<typeof ProcessList>;

const ServiceInfo = z.object({
  name: z.string().max(200),
  displayName: z.string().max(300).optional(),
  status: z.string().max(40),
  startType: z.string().max(40).optional(),
});
const Json = z.record(z.string(), z.unknown());

/** What each command returns. The server parses it before anything reaches the model. */
export const CommandOutput = {
  system_info: SystemInfo,
  list_processes: ProcessList,
  get_metrics: z.object({
    cpuPercent: z.number(),
    memoryUsedPercent: z.number(),
    loadAverage: z.array(z.number()).max(3),
    disks: z.array(z.object({ mount: z.string(), usedPercent: z.number() })).max(64),
  }),
  list_services: z.object({ total: z.number().int(), services: z.array(ServiceInfo).max(2000) }),
  manage_service: z.object({ service: z.string(), action: z.string(), status: z.string(), previousStatus: z.string().optional() }),
  get_event_logs: z.object({
    log: z.string(),
    entries: z
      .array(z.object({ time: z.string(), level: z.string(), source: z.string().max(200), id: z.number().optional(), message: z.string().max(4000) }))
      .max(500),
  }),
  list_software: z.object({
    total: z.number().int(),
    packages: z.array(z.object({ name: z.string().max(300), version: z.string().max(100), publisher: z.string().max(200).optional() })).max(5000),
  }),
  kill_process: z.object({ pid: z.number().int(), name: z.string(), killed: z.boolean() }),
  run_script: z.object({
    exitCode: z.number().int().nullable(),
    timedOut: z.boolean(),
    stdout: z.string(),
    stderr: z.string(),
    truncated: z.boolean(),
    durationMs: z.number(),
    /** What the agent spooled and uploaded (absent from agents before full output, and from simulated ones). */
    fullOutput: FullOutput.optional(),
  }),
  install_updates: z.object({
    installed: z.array(z.object({ id: z.string(), title: z.string() })).max(500),
    rebootRequired: z.boolean(),
    fullOutput: FullOutput.optional(),
  }),
  restart: z.object({ scheduled: z.boolean(), offlineSeconds: z.number().optional() }),
  shutdown: z.object({ scheduled: z.boolean() }),
  uninstall_software: z.object({ name: z.string(), removed: z.boolean(), fullOutput: FullOutput.optional() }),
  inventory: Json,
  network_discovery: z.object({
    cidr: z.string(),
    scanned: z.number().int(),
    hosts: z.array(z.object({ address: z.string(), openPorts: z.array(z.number().int()) })).max(1024),
  }),
} satisfies Record<CommandKind, z.ZodType>;
