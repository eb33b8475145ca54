/**
 * The agent protocol on the Socket.IO `/agents` namespace: one zod schema per event, checked on both sides.
 * Every frame carries `v`; a frame that does not parse is dropped and counted, and the connection stays up.
 */
import { z } from 'zod';

export const PROTOCOL_VERSION = 1;
/** Socket.IO `maxHttpBufferSize` for agents: the largest frame either side accepts. */
export const MAX_AGENT_FRAME_BYTES = 1_000_000;

const DeviceId = z.uuid();
const CommandId = z.string().min(1).max(200);
const Version = z.literal(PROTOCOL_VERSION);

export const CommandKind = {
  SystemInfo: 'system_info',
  ListProcesses: 'list_processes',
} as const;
export type CommandKind = (typeof CommandKind)[keyof typeof CommandKind];

export const CommandParams = {
  system_info: z.object({}).strict(),
  list_processes: z
    .object({ sortBy: z.enum(['cpu', 'memory']).default('cpu'), limit: z.number().int().min(1).max(500).default(25) })
    .strict(),
} satisfies Record<CommandKind, z.ZodType>;

export const AgentAuth = z
  .object({
    v: Version,
    deviceId: DeviceId,
    secret: z.string().min(20).max(200),
    agentVersion: z.string().max(40),
  })
  .strict();
export type AgentAuth = z.infer<typeof AgentAuth>;

export const CommandDispatch = z
  .object({
    v: Version,
    commandId: CommandId,
    kind: z.enum([CommandKind.SystemInfo, CommandKind.ListProcesses]),
    params: z.record(z.string(), z.unknown()),
    expiresAt: z.iso.datetime(),
    timeoutSeconds: z.number().int().min(1).max(3600),
  })
  .strict();
export type CommandDispatch = z.infer<typeof CommandDispatch>;

export const CommandError = z
  .object({
    code: z.string().regex(/^[A-Z_]{2,40}$/),
    message: z.string().max(2000),
  })
  .strict();

export const CommandResult = z
  .object({
    v: Version,
    commandId: CommandId,
    ok: z.boolean(),
    output: z.unknown().optional(),
    error: CommandError.optional(),
    startedAt: z.iso.datetime(),
    finishedAt: z.iso.datetime(),
  })
  .strict();
export type CommandResult = z.infer<typeof CommandResult>;

export const ProtocolError = z.object({ v: Version, reason: z.string().max(500) }).strict();
export type ProtocolError = z.infer<typeof ProtocolError>;

export const CommandResultAck = z.object({ accepted: z.boolean(), reason: z.string().optional() });
export type CommandResultAck = z.infer<typeof CommandResultAck>;

/** Socket.IO typings derived from the schemas above. */
export interface ServerToAgentEvents {
  'command:dispatch': (msg: CommandDispatch) => void;
  'protocol:error': (msg: ProtocolError) => void;
}
export interface AgentToServerEvents {
  'command:result': (msg: CommandResult, ack: (res: CommandResultAck) => void) => void;
}

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

export const CommandOutput = {
  system_info: SystemInfo,
  list_processes: ProcessList,
} satisfies Record<CommandKind, z.ZodType>;
