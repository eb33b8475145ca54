import type { Prisma } from '@prisma/client';
import { ApplicationFailure, CompleteAsyncError, Context } from '@temporalio/activity';
import { FailureType } from '../common/failures';
import { CommandParams, type CommandKind } from '../common/protocol';
import { Channel } from '../lib/pg-events';
import type { ActivityDeps } from './deps';

export interface DispatchDeviceCommandInput {
  orgId: string;
  /** Made in the workflow: the same id on every retry, so the command exists (and runs) once. */
  commandId: string;
  deviceId: string;
  kind: CommandKind;
  params: Record<string, unknown>;
}

export interface DispatchedCommand {
  commandId: string;
  status: 'succeeded' | 'failed' | 'expired';
}

const TERMINAL = new Set(['succeeded', 'failed', 'expired']);

/**
 * Queues a command for one device and waits for its result without holding a worker slot: the activity stores
 * its task token on the `DeviceCommand` row and returns through async completion. The api node that receives the
 * agent's result (or sees the TTL pass) completes it, so the wait survives worker and api restarts.
 */
export function makeDispatchDeviceCommand({ prisma, commands }: ActivityDeps) {
  return async function dispatchDeviceCommand(input: DispatchDeviceCommandInput): Promise<DispatchedCommand> {
    const { taskToken } = Context.current().info;
    const existing = await prisma.deviceCommand.findUnique({ where: { id: input.commandId } });
    if (existing && TERMINAL.has(existing.status)) {
      return { commandId: existing.id, status: existing.status as DispatchedCommand['status'] };
    }

    const params = CommandParams[input.kind].safeParse(input.params);
    if (!params.success) throw ApplicationFailure.nonRetryable(`invalid parameters for ${input.kind}`, FailureType.InvalidInput);
    const device = await prisma.device.findFirst({ where: { id: input.deviceId, orgId: input.orgId }, include: { org: true } });
    if (!device) throw ApplicationFailure.nonRetryable('device not found in this organization', FailureType.NotFound);
    if (!existing && device.org.copilotPausedAt) {
      // Paused between the approval and now: the command is recorded as refused and never sent.
      await prisma.deviceCommand.create({
        data: { id: input.commandId, orgId: input.orgId, deviceId: input.deviceId, kind: input.kind, params: params.data as Prisma.InputJsonValue, status: 'failed', errorCode: 'PAUSED', expiresAt: new Date(), completedAt: new Date() },
      });
      return { commandId: input.commandId, status: 'failed' };
    }

    if (existing) {
      // A retry: the earlier attempt's token is dead; the result must complete this attempt.
      await prisma.deviceCommand.update({ where: { id: existing.id }, data: { taskToken: Buffer.from(taskToken) } });
    } else {
      await prisma.deviceCommand.create({
        data: {
          id: input.commandId,
          orgId: input.orgId,
          deviceId: input.deviceId,
          kind: input.kind,
          params: params.data as Prisma.InputJsonValue,
          status: 'pending',
          taskToken: Buffer.from(taskToken),
          expiresAt: new Date(Date.now() + commands.ttlSeconds * 1000),
        },
      });
    }
    const note = JSON.stringify({ commandId: input.commandId, deviceId: input.deviceId });
    await prisma.$executeRaw`SELECT pg_notify(${Channel.Commands}, ${note})`;
    throw new CompleteAsyncError();
  };
}
