/**
 * `command:output`: chunks of a command's full stdout and stderr, uploaded by its agent before the result. A chunk
 * counts only from the device the command was sent to, and only while the command is unfinished (once the result
 * is in, the output can no longer change); chunks are idempotent by (commandId, stream, seq), so a chunk sent again
 * after a reconnect or a restart changes nothing.
 */
import type { PrismaClient } from '@prisma/client';
import { CommandOutputChunk, OutputRefusal, type CommandResultAck } from '../../common/protocol';
import { UNFINISHED_COMMAND } from '../../common/session';
import { audit } from '../../audit/log';
import type { Logger } from '../../lib/logger';


/** The answer for the agent, and for a frame that does not parse, why (the caller drops and counts it). */
export interface OutputFrameOutcome {
  ack: CommandResultAck;
  invalid?: string;
}

export async function storeOutputChunk(deps: { prisma: PrismaClient; logger: Logger }, device: { deviceId: string; orgId: string }, raw: unknown): Promise<OutputFrameOutcome> {
  const parsed = CommandOutputChunk.safeParse(raw);
  if (!parsed.success) return { ack: { accepted: false, reason: OutputRefusal.InvalidFrame }, invalid: parsed.error.issues[0]?.message ?? 'invalid' };
  try {
    return { ack: await store(deps.prisma, device, parsed.data) };
  } catch (err) {
    // Not stored (the database refused or is away): the agent sends the same chunk again.
    deps.logger.error({ err, deviceId: device.deviceId, commandId: parsed.data.commandId }, 'failed to store command output');
    return { ack: { accepted: false, reason: OutputRefusal.RetryLater } };
  }
}

async function store(prisma: PrismaClient, device: { deviceId: string; orgId: string }, msg: CommandOutputChunk): Promise<CommandResultAck> {
  const cmd = await prisma.deviceCommand.findUnique({ where: { id: msg.commandId }, select: { deviceId: true, orgId: true, status: true } });
  if (!cmd || cmd.deviceId !== device.deviceId) {
    // Another device's command answers exactly as an unknown one (no oracle), and is flagged.
    if (cmd) {
      await audit(prisma, { orgId: device.orgId, actorType: 'agent', actorId: device.deviceId, action: 'security.output_from_wrong_device', target: msg.commandId });
    }
    return { accepted: false, reason: OutputRefusal.UnknownCommand };
  }
  if (!UNFINISHED_COMMAND.includes(cmd.status)) return { accepted: false, reason: OutputRefusal.Finished };
  // The first copy of a chunk wins; the agent sends the same bytes again only when it did not hear the answer.
  await prisma.commandOutputChunk.createMany({
    data: [{ commandId: msg.commandId, orgId: cmd.orgId, stream: msg.stream, seq: msg.seq, data: new Uint8Array(msg.data) }],
    skipDuplicates: true,
  });
  return { accepted: true };
}
